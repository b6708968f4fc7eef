"""Training, evaluation and export of the disocclusion infill network (PyTorch).

`config`, `infill` and `onnx_runner` are the runtime the CLI's ONNX path and the Blender
add-on use: they import numpy and ONNX Runtime, never torch or bpy. Nothing here imports bpy.
"""
