"""Disocclusion Infill: the stereo pair of a rendered view, as the camera's Stereoscopy settings
say, from one render: the other eye reprojected, its disocclusions filled by the project's
Gated-UNet (through ONNX Runtime)."""
from __future__ import annotations


def _classes():
    from . import compositor, operators, panels, settings

    return (settings.DisocclusionSettings,) + operators.CLASSES + panels.CLASSES + compositor.CLASSES


def register() -> None:
    import bpy

    from . import compositor, kernels, settings

    for cls in _classes():
        bpy.utils.register_class(cls)
    bpy.types.Scene.disocclusion_infill = bpy.props.PointerProperty(type=settings.DisocclusionSettings)
    for handlers, function in compositor.HANDLERS:
        if function not in handlers:
            handlers.append(function)
    kernels.start_kernels_warm_up()


def unregister() -> None:
    import bpy

    from . import compositor

    for handlers, function in compositor.HANDLERS:
        if function in handlers:
            handlers.remove(function)
    del bpy.types.Scene.disocclusion_infill
    for cls in reversed(_classes()):
        bpy.utils.unregister_class(cls)
