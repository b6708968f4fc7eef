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


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write `data` to a temporary file beside `path`, then rename it into place."""
    tmp = path.with_name(path.name + TMP_SUFFIX)
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def write_sample(path: Path, arrays: dict[str, np.ndarray], meta: dict) -> None:
    """Write `arrays` and `meta` to `path` (.npz), atomically and deterministically."""
    tmp = path.with_name(path.name + TMP_SUFFIX)
    entries = dict(arrays, meta=np.array(json.dumps(meta, sort_keys=True)))
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


def read_meta(path: Path) -> dict:
    """The metadata of a sample file, without loading its arrays."""
    with np.load(path, allow_pickle=False) as data:
        return json.loads(data["meta"].item())


def write_jsonl(path: Path, records: list[dict]) -> None:
    """Write records as JSON lines, atomically."""
    atomic_write_bytes(path, "".join(json.dumps(r, sort_keys=True) + "\n" for r in records).encode())
