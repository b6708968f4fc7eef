"""Reading OpenEXR files (Blender's multi-part multilayer renders and single-part depth maps)."""
from __future__ import annotations

import numpy as np

SINGLE_CHANNEL_SUFFIXES = {"R", "G", "B", "A", "X", "Y", "Z", "V"}


def read_exr_channels(path: str, view: str | None = None) -> dict[str, np.ndarray]:
    """Every channel of every part of an EXR file, by full channel name; row 0 is the top.
    Channels Blender stores packed (an RGBA pass is one (H, W, 4) channel) stay packed. With
    `view`, the parts of a multi-view file that belong to that view ("left") and those of no
    view."""
    import OpenEXR

    with OpenEXR.File(str(path)) as exr:
        return {name: np.asarray(channel.pixels) for part in exr.parts
                if view is None or part.header.get("view", view) == view
                for name, channel in part.channels.items()}


def read_multilayer_exr(path: str, layer: str | None = None, view: str | None = None) -> dict[str, np.ndarray]:
    """Passes of a Blender multilayer EXR by pass name ('Combined', 'Depth', an AOV's name),
    without the view layer prefix of renders ('ViewLayer.Depth.Z') or the single-channel
    suffix ('.Z', '.X', '.V'); File Output node files ('Image', 'Depth.V') read the same way.
    With `layer`, only that view layer's passes of a render with several (so colour and depth
    never come from different layers); with `view`, only that view's (a multi-view render)."""
    passes = {}
    for name, pixels in read_exr_channels(path, view).items():
        parts = name.split(".")
        if pixels.ndim == 2 and len(parts) > 1 and parts[-1] in SINGLE_CHANNEL_SUFFIXES:
            parts = parts[:-1]
        if len(parts) > 1:
            if layer is not None and parts[0] != layer:
                continue
            parts = parts[1:]  # view layer
        passes[".".join(parts)] = pixels.astype(np.float32)
    return passes
