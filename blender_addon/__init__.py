"""Disocclusion Infill: turn a rendered view into the other eye of a stereo pair, filling the
disocclusions with the project's Gated-UNet (through ONNX Runtime)."""
from __future__ import annotations

import bpy

from . import compositor, core, operators


def register() -> None:
    for cls in operators.CLASSES + compositor.CLASSES:
        bpy.utils.register_class(cls)
    bpy.types.Scene.disocclusion_infill = bpy.props.PointerProperty(type=operators.DisocclusionSettings)
    for handlers, function in compositor.HANDLERS:
        if function not in handlers:
            handlers.append(function)
    core.start_kernels_warm_up()


def unregister() -> None:
    for handlers, function in compositor.HANDLERS:
        if function in handlers:
            handlers.remove(function)
    del bpy.types.Scene.disocclusion_infill
    for cls in reversed(operators.CLASSES + compositor.CLASSES):
        bpy.utils.unregister_class(cls)
