"""The real-stereo benchmark: rectified pairs with ground-truth disparity.

Any folder laid out as ../shared/data/realstereo works: one sub-folder per scene with
`scene.json` (`left`, `right`, `disp_left`, optional `disp_right` file names, `disp_divisor`:
pixels = stored value / divisor, 0 = unknown; convention x_right = x_left - d_left).

For each scene the left view is reprojected to the right eye with the geometry core and its
ground-truth disparity (`stereo_geometry.stereo_pairs.reprojected_pair`: the holes the network
trains on; depth Z = f B / (d + doffs) from the scene's calibration where SOURCE.txt gives
it, else B = 63 mm and f = the image width, which reproduce the disparity exactly), and each
method fills the holes; scores compare with the real right image inside the holes, where the
ground truth is valid (the right disparity is known, where it is given).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from stereo_geometry.mesh import DEFAULT_HOLE_RULE, HoleRule
from stereo_geometry.readers import InputError
from stereo_geometry.stereo_pairs import StereoScene, find_scenes, load_scene, reprojected_pair

from .baselines import Method, methods_hole_rule
from .evaluate import mean_over_scenes
from .metrics import hole_and_ring_metrics


def scene_sample(scene: StereoScene, rule: HoleRule = DEFAULT_HOLE_RULE) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """The warped right view as a sample (the arrays the methods take; holes by `rule`) and
    the region scored."""
    sample, known = reprojected_pair(scene, "left", rule)
    return sample, sample["hole_mask"].astype(bool) & known


def benchmark_scenes(root: Path, methods: dict[str, Method],
                     problems: list[str] | None = None) -> dict[str, dict[str, dict[str, float]]]:
    """{scene: {method: metrics}} (scenes named by their folders) plus an 'overall' entry
    (mean over scenes). A scene that cannot be used is left out, its problem appended to
    `problems`. The holes are those of the methods' networks' rule (`methods_hole_rule`)."""
    rule = methods_hole_rule(methods)
    results: dict[str, dict[str, dict[str, float]]] = {}
    for folder in find_scenes(root):
        try:
            if folder.name == "overall":
                raise InputError(f"{folder}: a scene may not be named 'overall' (the mean over the scenes)")
            scene = load_scene(folder)
            sample, scored = scene_sample(scene, rule)
        except InputError as exc:
            if problems is not None:
                problems.append(str(exc))
            continue
        target = scene.right.astype(np.float32) / 255.0
        results[scene.name] = {}
        for name, method in methods.items():
            metrics = hole_and_ring_metrics(method(sample), target, scored, sample)
            metrics["hole_fraction"] = float(scored.mean())
            results[scene.name][name] = metrics
    if results:
        results["overall"] = mean_over_scenes(results)
    return results


def benchmark_all(methods: dict[str, Method], real: str | Path | None = None,
                  synthetic: str | Path | None = None,
                  problems: list[str] | None = None) -> tuple[dict, list[tuple[str, dict]]]:
    """Results of every method on the synthetic held-out folder and the real-stereo scenes,
    and the same as (title, table) sections for printing; scenes that cannot be used are
    named in `problems`."""
    from .evaluate import evaluate

    results, sections = {}, []
    if synthetic:
        results["synthetic"] = evaluate(synthetic, methods, progress=False)
        sections.append(("Synthetic held-out set", results["synthetic"]))
    if real:
        results["real"] = benchmark_scenes(Path(real), methods, problems)
        sections += [(f"Real stereo: {scene}", table) for scene, table in results["real"].items()]
    return results, sections
