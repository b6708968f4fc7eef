"""Disocclusion Infill: turn a rendered view into the other eye of a stereo pair, filling the
disocclusions with the project's Gated-UNet (through ONNX Runtime)."""
from __future__ import annotations

import threading

import bpy

from . import compositor, operators
from .stereo_geometry.warp import warm_up

#: The thread that compiles the geometry kernels (numba) after the extension is enabled: the
#: first time after installing this takes about 10 s, which the first press would otherwise wait.
KERNELS_THREAD = "disocclusion-infill kernels"


def register() -> None:
    for cls in operators.CLASSES + compositor.CLASSES:
        bpy.utils.register_class(cls)
    bpy.types.Scene.disocclusion_infill = bpy.props.PointerProperty(type=operators.DisocclusionSettings)
    for handlers, function in compositor.HANDLERS:
        if function not in handlers:
            handlers.append(function)
    threading.Thread(target=warm_up, name=KERNELS_THREAD, daemon=True).start()


def unregister() -> None:
    for handlers, function in compositor.HANDLERS:
        if function in handlers:
            handlers.remove(function)
    del bpy.types.Scene.disocclusion_infill
    for cls in reversed(operators.CLASSES + compositor.CLASSES):
        bpy.utils.unregister_class(cls)
