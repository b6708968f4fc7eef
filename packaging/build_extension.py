"""Build and validate the Blender extension, one zip per platform:

    python packaging/build_extension.py [--out dist] [--platforms linux-x64 windows-x64 macos-arm64]

Needs only Python 3.11 and pip (no project environment): stages `blender_manifest.toml` and
`blender_addon/` with the one package of the project the add-on imports (`stereo_geometry`:
the geometry core and the torch-free runtime) and the shipped ONNX models, downloads the ONNX
Runtime, OpenEXR, numba and llvmlite wheels of each platform from PyPI (cached in build/wheels), and runs
Blender's own extension tool to build one zip per platform (`--split-platforms`) and validate
each. The tool is a standalone script inside the bpy wheel: taken from the installed bpy
where there is one, else read out of the downloaded wheel (cached in build/), not installed.
"""
from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PLATFORMS = {  # Blender platform -> pip platform tags of its wheels
    "linux-x64": ["manylinux_2_28_x86_64", "manylinux_2_27_x86_64", "manylinux_2_17_x86_64", "manylinux2014_x86_64"],
    "windows-x64": ["win_amd64"],
    "macos-arm64": [f"macosx_{major}_0_arm64" for major in range(11, 16)],
}
PYTHON = "3.11"  # Blender 5.0's
BPY = "5.0.1"
#: The bundled wheels' versions (tests/test_addon.py holds them equal to the project's environment).
#: numba (and its llvmlite) compile the geometry core's kernels: without them Blender's Python
#: runs the numpy forms, 5-8x slower per press (docs/benchmarks.md).
WHEELS = {"onnxruntime": "1.32.0", "OpenEXR": "3.5.3", "numba": "0.68.1", "llvmlite": "0.50.0"}
TOOL = Path("bpy", "5.0", "scripts", "addons_core", "bl_pkg", "cli", "blender_ext.py")
VENDORED = "stereo_geometry"  # the one package the add-on imports: the runtime, its imports all relative
SHIPPED_MODELS = {name: REPO / "models" / f"{name}.onnx" for name in ("fast", "quality")}


def shipped_models() -> dict[str, Path]:
    """The models/{fast,quality}.onnx that exist: the extension bundles them."""
    return {name: path for name, path in SHIPPED_MODELS.items() if path.is_file()}


def extension_tool(cache: Path = REPO / "build") -> Path:
    """Blender's extension tool (a standalone script): the installed bpy's, else the one inside
    the bpy wheel, read out of it into `cache` (the wheel downloaded there on first use)."""
    try:
        import bpy
    except ImportError:
        pass
    else:
        for folder in Path(bpy.__file__).resolve().parents:
            if (folder / TOOL).is_file():
                return folder / TOOL
    target = cache / "blender_ext.py"
    if target.is_file():
        return target
    wheel_dir = cache / "bpy-wheel"
    wheels = sorted(wheel_dir.glob(f"bpy-{BPY}-*.whl"))
    if not wheels:
        pip_download(f"bpy=={BPY}", wheel_dir, PLATFORMS["linux-x64"][:1])
        wheels = sorted(wheel_dir.glob(f"bpy-{BPY}-*.whl"))
    with zipfile.ZipFile(wheels[-1]) as wheel:
        data = wheel.read(TOOL.as_posix())
    cache.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(".partial")
    partial.write_bytes(data)
    partial.replace(target)
    return target


def pip_download(spec: str, folder: Path, tags: list[str]) -> None:
    """Download the wheel of `spec` for Python `PYTHON` and any of the pip platform `tags`."""
    cmd = [sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--only-binary", ":all:",
           "--python-version", PYTHON, "-d", str(folder), spec]
    for tag in tags:
        cmd += ["--platform", tag]
    subprocess.run(cmd, check=True)


def download_wheels(cache: Path, platforms: list[str]) -> dict[str, list[Path]]:
    """The wheels per Blender platform at the `WHEELS` versions."""
    wheels: dict[str, list[Path]] = {}
    for platform in platforms:
        folder = cache / platform
        folder.mkdir(parents=True, exist_ok=True)
        for package, pinned in WHEELS.items():
            found = [w for w in folder.glob("*.whl") if w.name.lower().startswith(f"{package.lower()}-{pinned}-")]
            if not found:
                pip_download(f"{package}=={pinned}", folder, PLATFORMS[platform])
        wheels[platform] = sorted(folder.glob("*.whl"))
    return wheels


def stage(staging: Path, wheels: dict[str, list[Path]], models: dict[str, Path]) -> None:
    if staging.exists():
        shutil.rmtree(staging)
    # blender_addon/stereo_geometry is a link to the runtime in the repository (so the add-on's
    # modules import as they do in the extension): the extension gets a copy of the runtime
    shutil.copytree(REPO / "blender_addon", staging, ignore=shutil.ignore_patterns("__pycache__", VENDORED, "headless.py"))
    shutil.copytree(REPO / VENDORED, staging / VENDORED, ignore=shutil.ignore_patterns("__pycache__"))
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


def build(out: Path, models: dict[str, Path] | None = None,
          platforms: list[str] | None = None) -> dict[str, Path]:
    """Stage, build one zip per platform (default: linux-x64) and validate each, bundling
    `models` ({"fast"|"quality": .onnx}); returns platform -> zip."""
    platforms = platforms or ["linux-x64"]
    wheels = download_wheels(REPO / "build" / "wheels", platforms)
    staging = REPO / "build" / "extension"
    stage(staging, wheels, models or {})
    out.mkdir(parents=True, exist_ok=True)
    tool = str(extension_tool())
    for old in out.glob("disocclusion_infill-*.zip"):
        old.unlink()
    subprocess.run([sys.executable, tool, "build", "--source-dir", str(staging), "--output-dir", str(out),
                    "--split-platforms"], check=True)
    zips = {}
    for platform in platforms:
        found = sorted(out.glob(f"disocclusion_infill-*-{platform.replace('-', '_')}.zip"))
        if not found:
            raise FileNotFoundError(f"Blender's tool made no zip for {platform} in {out}")
        subprocess.run([sys.executable, tool, "validate", str(found[-1])], check=True)
        zips[platform] = found[-1]
    return zips


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=REPO / "dist")
    parser.add_argument("--platforms", nargs="+", choices=sorted(PLATFORMS), default=sorted(PLATFORMS))
    args = parser.parse_args()
    for platform, path in build(args.out, shipped_models(), args.platforms).items():
        print(f"{platform}: {path}")


if __name__ == "__main__":
    main()
