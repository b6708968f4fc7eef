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
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Iterator

import numpy as np

_FIXED_DATE = (1980, 1, 1, 0, 0, 0)
TMP_SUFFIX = ".partial"


def temporary_name(path: Path) -> Path:
    """The temporary file beside `path` that this process writes before renaming it into
    place: NAME.PID.partial (no glob for finished files matches it), so that runs writing into
    one folder at once never share one."""
    return path.with_name(f"{path.name}.{os.getpid()}{TMP_SUFFIX}")


def temporary_files(folder: Path) -> list[Path]:
    """The temporary files (`temporary_name`) in `folder`."""
    return sorted(folder.glob(f"*{TMP_SUFFIX}"))


def stale_temporary(path: Path) -> bool:
    """Whether `path`, a temporary file (`temporary_name`), was left by a process that has
    ended: a killed run's, never a finished file and no running process's."""
    pid = path.name[:-len(TMP_SUFFIX)].rpartition(".")[2]
    if not pid.isdigit():
        return True  # an older run's name, without its pid
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


@contextmanager
def atomic_target(path: str | Path) -> Iterator[Path]:
    """The temporary path to write `path` through (`temporary_name`; its folder made if
    missing): renamed into place (after an fsync) when the block ends, removed if it raises,
    so the file is whole or absent. OSError names `path`, never the temporary file."""
    path = Path(path)
    tmp = temporary_name(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        yield tmp
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        raise OSError(exc.errno, f"cannot write {path}: {exc.strerror or exc}") from exc
    finally:
        tmp.unlink(missing_ok=True)


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Write `data` to `path` through `atomic_target`: the file is whole or absent."""
    with atomic_target(path) as tmp:
        tmp.write_bytes(data)


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
    atomic_write_bytes(path, npy_bytes(array))


def encode_image(path: str | Path, image: np.ndarray) -> bytes:
    """An (H, W, 3) RGB or (H, W) grey uint8 image encoded in the format `path`'s extension
    names (.png, .jpg, .tif, ...); ValueError for an extension OpenCV cannot write."""
    import cv2

    path = Path(path)
    pixels = image[..., ::-1] if image.ndim == 3 else image
    try:
        ok, encoded = cv2.imencode(path.suffix or ".none", np.ascontiguousarray(pixels))
    except cv2.error:
        ok = False
    if not ok:
        raise ValueError(f"{path}: cannot write images of type '{path.suffix}' (use .png, .jpg, .tif, ...)")
    return encoded.tobytes()


def npy_bytes(array: np.ndarray) -> bytes:
    """One array as the bytes of a .npy file (no pickle)."""
    import io

    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=False)
    return buffer.getvalue()


def write_image(path: str | Path, image: np.ndarray) -> None:
    """Write an image (`encode_image`) atomically."""
    atomic_write_bytes(path, encode_image(path, image))


def write_together(files: dict[Path, bytes]) -> None:
    """Write several files so that none is put in place unless all could be written (each
    through `atomic_target`, renamed only once every one is written)."""
    with ExitStack() as stack:
        for path, data in files.items():
            stack.enter_context(atomic_target(path)).write_bytes(data)


def write_sample(path: Path, arrays: dict[str, np.ndarray], meta: dict) -> None:
    """Write `arrays` and `meta` to `path` (.npz), atomically and deterministically."""
    entries = dict(arrays, meta=np.array(json.dumps(meta, sort_keys=True)))
    with atomic_target(path) as tmp:
        with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as zf:
            for name in sorted(entries):
                info = zipfile.ZipInfo(name + ".npy", date_time=_FIXED_DATE)
                info.compress_type = zipfile.ZIP_DEFLATED
                info.external_attr = 0o644 << 16
                with zf.open(info, "w", force_zip64=True) as f:
                    np.lib.format.write_array(f, np.require(entries[name], requirements="C"),
                                              allow_pickle=False)


def read_sample(path: Path) -> dict[str, np.ndarray]:
    """Every array of a sample file (`meta` left out); ValueError naming the file for one that
    cannot be read (cut short, damaged, not a sample)."""
    try:
        with np.load(path, allow_pickle=False) as data:
            return {name: data[name] for name in data.files if name != "meta"}
    except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile) as exc:
        raise ValueError(f"{path}: unreadable sample ({type(exc).__name__}: {exc})") from None


def sample_is_whole(path: Path) -> bool:
    """A cheap check of a sample file (its zip directory lists the metadata; no array is
    decoded): False for a file cut short or overwritten."""
    try:
        with zipfile.ZipFile(path) as zf:
            return "meta.npy" in zf.namelist()
    except (OSError, zipfile.BadZipFile):
        return False


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
