"""The networks the extension runs (ONNX Runtime): the bundled models (the extension's models
folder; in the repository, its models/) or a file of the artist's, loaded once per session."""
from __future__ import annotations

from pathlib import Path

from .errors import InfillError
from .stereo_geometry.infill import MODELS_DIR as MODELS
from .stereo_geometry.onnx_runner import OnnxInfill
BUNDLED_MODELS = {"QUALITY": MODELS / "quality.onnx", "FAST": MODELS / "fast.onnx"}
MODEL_CHOICES = [("QUALITY", "Quality", "The bundled quality model (the larger network)"),
                 ("FAST", "Fast", "The bundled fast model (about 2x Telea's time on a CPU)")]

_networks: dict[str, OnnxInfill] = {}


def bundled_model(choice: str) -> Path | None:
    """The bundled model of a choice ("QUALITY" or "FAST"), else the other bundled one."""
    for name in [choice] + [n for n in BUNDLED_MODELS if n != choice]:
        if BUNDLED_MODELS[name].is_file():
            return BUNDLED_MODELS[name]
    return None


def model_path(own_file: str, choice: str) -> Path:
    """The model to run: the artist's file (an absolute path) if given, else the bundled choice."""
    path = Path(own_file) if own_file else bundled_model(choice)
    if path is None or not path.is_file():
        raise InfillError(f"Model not found: {path}" if own_file else
                          "No bundled model in this build: choose a model file (.onnx from "
                          "'python -m training export')")
    return path


def network(path: Path) -> OnnxInfill:
    """The RGB infill network of an .onnx file, loaded once; InfillError naming the file for
    anything else (a depth-infill model included)."""
    key = str(path)
    if key not in _networks:
        try:
            _networks[key] = OnnxInfill(key)
        except Exception as exc:  # onnxruntime raises its own types
            raise InfillError(f"Cannot load model {path}: {exc}") from exc
    net = _networks[key]
    if net.channels != 3:
        kind = "a depth-infill model" if net.channels == 1 else f"a model of {net.channels} output channels"
        raise InfillError(f"{path} is {kind}; the eyes' colour needs an RGB infill model")
    return net
