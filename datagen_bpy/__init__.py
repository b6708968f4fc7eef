"""Training data for disocclusion infill, made with headless Blender (`bpy`).

Importing this package does not import bpy: only `renderer`, `procedural` and `pipeline` do.
Run `python -m datagen_bpy --help`.
"""
