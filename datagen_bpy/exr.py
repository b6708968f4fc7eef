"""Reading OpenEXR files (Blender's multi-part multilayer renders and single-part depth maps)."""
from __future__ import annotations

import numpy as np


def read_exr_channels(path: str) -> dict[str, np.ndarray]:
    """Every channel of every part of an EXR file, by full channel name; row 0 is the top.
    Channels Blender stores packed (an RGBA pass is one (H, W, 4) channel) stay packed."""
    import OpenEXR

    with OpenEXR.File(str(path)) as exr:
        return {name: np.asarray(channel.pixels) for part in exr.parts
                for name, channel in part.channels.items()}


def read_multilayer_exr(path: str) -> dict[str, np.ndarray]:
    """Passes of a Blender multilayer EXR by pass name ('Combined', 'Depth', an AOV's name),
    with the view layer prefix and single-channel suffixes ('.Z', '.X', '.V') removed."""
    passes = {}
    for name, pixels in read_exr_channels(path).items():
        parts = name.split(".")
        if len(parts) > 1:
            parts = parts[1:]  # view layer
        if len(parts) > 1 and pixels.ndim == 2:
            parts = parts[:-1]  # channel suffix of a one-channel pass
        passes[".".join(parts)] = pixels.astype(np.float32)
    return passes
