"""Writing samples: one deterministic compressed `.npz` per sample, written atomically.

A sample file holds the arrays of `stereo_geometry.SAMPLE_ARRAYS` plus `meta`, a 0-d unicode
array with the sample's JSON metadata (name, source, seed, baseline, swap, intrinsics...).
`np.load(path)` reads it (no pickle). Zip entries carry a fixed date, so the same arrays give
the same bytes.
"""
from __future__ import annotations

import json
import os
import zipfile
from pathlib import Path

import numpy as np

_FIXED_DATE = (1980, 1, 1, 0, 0, 0)
TMP_SUFFIX = ".partial"


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Write `data` to a temporary file beside `path` (its folder made if missing), then
    rename it into place: the file is whole or absent. OSError names the path; nothing
    partial is left."""
    path = Path(path)
    tmp = path.with_name(path.name + TMP_SUFFIX)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise OSError(exc.errno, f"cannot write {path}: {exc.strerror or exc}") from exc


def writable_folder(folder: Path) -> str | None:
    """Make `folder` if missing; what is wrong with writing into it, or None."""
    if folder.exists() and not folder.is_dir():
        return "is a file, not a folder"
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        return f"cannot create it ({exc.strerror})"
    if not os.access(folder, os.W_OK | os.X_OK):
        return "is not writable"
    return None


def write_text(path: str | Path, text: str) -> None:
    """Write a text file atomically (see `atomic_write_bytes`)."""
    atomic_write_bytes(path, text.encode())


def write_npy(path: str | Path, array: np.ndarray) -> None:
    """Write one array as .npy atomically (no pickle)."""
    import io

    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=False)
    atomic_write_bytes(path, buffer.getvalue())


def write_image(path: str | Path, image: np.ndarray) -> None:
    """Write an (H, W, 3) RGB or (H, W) grey uint8 image atomically, in the format its
    extension names (.png, .jpg, .tif, ...); ValueError for an extension OpenCV cannot write."""
    import cv2

    path = Path(path)
    pixels = image[..., ::-1] if image.ndim == 3 else image
    try:
        ok, encoded = cv2.imencode(path.suffix or ".none", np.ascontiguousarray(pixels))
    except cv2.error:
        ok = False
    if not ok:
        raise ValueError(f"{path}: cannot write images of type '{path.suffix}' (use .png, .jpg, .tif, ...)")
    atomic_write_bytes(path, encoded.tobytes())


def write_sample(path: Path, arrays: dict[str, np.ndarray], meta: dict) -> None:
    """Write `arrays` and `meta` to `path` (.npz), atomically and deterministically."""
    tmp = path.with_name(path.name + TMP_SUFFIX)
    entries = dict(arrays, meta=np.array(json.dumps(meta, sort_keys=True)))
    try:
        with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as zf:
            for name in sorted(entries):
                info = zipfile.ZipInfo(name + ".npy", date_time=_FIXED_DATE)
                info.compress_type = zipfile.ZIP_DEFLATED
                info.external_attr = 0o644 << 16
                with zf.open(info, "w", force_zip64=True) as f:
                    np.lib.format.write_array(f, np.require(entries[name], requirements="C"),
                                              allow_pickle=False)
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)  # a full disk or a kill: never a partial file
        raise


def read_meta(path: Path) -> dict:
    """The metadata of a sample file, without loading its arrays."""
    with np.load(path, allow_pickle=False) as data:
        return json.loads(data["meta"].item())


def write_jsonl(path: Path, records: list[dict]) -> None:
    """Write records as JSON lines, atomically."""
    atomic_write_bytes(path, "".join(json.dumps(r, sort_keys=True) + "\n" for r in records).encode())


def read_manifests(root: Path) -> list[dict]:
    """Records of every `manifest*.jsonl` in a data folder (shards included), sorted by name."""
    records = {}
    for manifest in sorted(Path(root).glob("manifest*.jsonl")):
        lines = [line for line in manifest.read_text().splitlines() if line.strip()]
        for i, line in enumerate(lines):
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                if i == len(lines) - 1:
                    continue  # cut short by a killed data-generation job; its sample is on disk
                raise ValueError(f"{manifest}: line {i + 1} is not JSON") from None
            records[record["name"]] = record
    return sorted(records.values(), key=lambda r: r["name"])
