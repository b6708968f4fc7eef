"""Build and validate the Blender extension zip:

    python packaging/build_extension.py [--out dist]

Stages `blender_manifest.toml` and `blender_addon/` with the one package of the project the
add-on imports (`stereo_geometry`: the geometry core and the torch-free runtime), downloads
the ONNX Runtime and OpenEXR wheels for the platforms below from PyPI (cached in
build/wheels), and runs Blender's own extension tool (shipped in the bpy wheel) to build and
validate the zip. Other platforms: add them to PLATFORMS (Blender platform -> pip platform
tags); their wheels exist on PyPI but are not tested here.
"""
from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PLATFORMS = {"linux-x64": ["manylinux_2_28_x86_64", "manylinux_2_27_x86_64", "manylinux_2_17_x86_64",
                           "manylinux2014_x86_64"]}
PYTHON = "3.11"  # Blender 5.0's
VENDORED = {  # repo path -> path inside the extension: the runtime, whose imports are all relative
    "stereo_geometry": "stereo_geometry",
}
SHIPPED_MODELS = {name: REPO / "models" / f"{name}.onnx" for name in ("fast", "quality")}


def shipped_models() -> dict[str, Path]:
    """The models/{fast,quality}.onnx that exist: the extension bundles them."""
    return {name: path for name, path in SHIPPED_MODELS.items() if path.is_file()}


def extension_tool() -> Path:
    """Blender's extension tool inside the installed bpy wheel (no Blender binary needed)."""
    import bpy

    relative = Path("5.0", "scripts", "addons_core", "bl_pkg", "cli", "blender_ext.py")
    for folder in Path(bpy.__file__).resolve().parents:
        if (folder / relative).is_file():
            return folder / relative
    raise FileNotFoundError(f"{relative} not found above {bpy.__file__}")


def download_wheels(cache: Path) -> dict[str, list[Path]]:
    """The wheels per Blender platform: onnxruntime and OpenEXR at this environment's versions."""
    wheels: dict[str, list[Path]] = {}
    for platform, tags in PLATFORMS.items():
        folder = cache / platform
        folder.mkdir(parents=True, exist_ok=True)
        for package in ("onnxruntime", "OpenEXR"):
            spec = f"{package}=={version(package)}"
            found = [w for w in folder.glob("*.whl") if w.name.lower().startswith(package.lower() + "-" + version(package))]
            if not found:
                cmd = [sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--only-binary", ":all:",
                       "--python-version", PYTHON, "-d", str(folder), spec]
                for tag in tags:
                    cmd += ["--platform", tag]
                subprocess.run(cmd, check=True)
        wheels[platform] = sorted(folder.glob("*.whl"))
    return wheels


def stage(staging: Path, wheels: dict[str, list[Path]], models: dict[str, Path]) -> None:
    if staging.exists():
        shutil.rmtree(staging)
    shutil.copytree(REPO / "blender_addon", staging, ignore=shutil.ignore_patterns("__pycache__"))
    for source, target in VENDORED.items():
        src, dst = REPO / source, staging / target
        dst.parent.mkdir(parents=True, exist_ok=True)
        if src.is_dir():
            shutil.copytree(src, dst, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(src, dst)
    if models:
        (staging / "models").mkdir()
        for name, path in models.items():
            shutil.copy2(path, staging / "models" / f"{name}.onnx")
    (staging / "wheels").mkdir()
    names = []
    for files in wheels.values():
        for wheel in files:
            shutil.copy2(wheel, staging / "wheels" / wheel.name)
            names.append(f"./wheels/{wheel.name}")
    manifest = (REPO / "blender_manifest.toml").read_text()
    extra = (f'platforms = [{", ".join(repr(p).replace(chr(39), chr(34)) for p in wheels)}]\n'
             f'wheels = [\n' + "".join(f'  "{n}",\n' for n in names) + "]\n")
    manifest = manifest.replace("\n[permissions]", "\n" + extra + "\n[permissions]", 1)
    (staging / "blender_manifest.toml").write_text(manifest)


def build(out: Path, models: dict[str, Path] | None = None) -> Path:
    """Stage, build and validate, bundling `models` ({"fast"|"quality": .onnx}); returns the
    zip's path."""
    wheels = download_wheels(REPO / "build" / "wheels")
    staging = REPO / "build" / "extension"
    stage(staging, wheels, models or {})
    out.mkdir(parents=True, exist_ok=True)
    tool = str(extension_tool())
    subprocess.run([sys.executable, tool, "build", "--source-dir", str(staging), "--output-dir", str(out)],
                   check=True)
    zips = sorted(out.glob("disocclusion_infill-*.zip"), key=lambda p: p.stat().st_mtime)
    subprocess.run([sys.executable, tool, "validate", str(zips[-1])], check=True)
    return zips[-1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=REPO / "dist")
    args = parser.parse_args()
    print(build(args.out, shipped_models()))


if __name__ == "__main__":
    main()
