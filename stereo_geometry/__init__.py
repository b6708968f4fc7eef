"""The project's geometry core (numpy): cameras, pixel-grid meshes, stretched-face tagging,
normals from depth and the reference z-buffer warp, with compiled kernels (numba, where
installed) that give the same results bit for bit. Shared by data generation,
training/evaluation and the Blender add-on, so all of them make the same holes. Imports numpy
and, optionally, numba: never torch, bpy or the project's other packages."""
from .camera import Intrinsics, project, stereo_pose, translation, unproject, world_to_camera
from .mesh import (DEFAULT_MAX_ANGLE_DEG, DEFAULT_MIN_GROWTH_PX, face_normals, footprint_growth_px, grid_mesh, grid_triangles, grid_uv,
                   normals_from_depth, tag_stretched_faces, view_angle_deg)
from .sample import (SAMPLE_ARRAYS, disocclusion_sample, masked_inputs, network_input,
                     normalise_depth, to_uint8, warped_inputs)
from .warp import Raster, Reprojection, rasterize, reproject

__all__ = [
    "DEFAULT_MAX_ANGLE_DEG", "DEFAULT_MIN_GROWTH_PX", "footprint_growth_px", "Intrinsics", "Raster", "Reprojection", "SAMPLE_ARRAYS",
    "disocclusion_sample", "face_normals", "grid_mesh", "grid_triangles", "grid_uv",
    "masked_inputs", "network_input", "normalise_depth", "normals_from_depth", "project", "rasterize", "reproject", "stereo_pose", "to_uint8",
    "tag_stretched_faces", "translation", "unproject", "view_angle_deg", "warped_inputs", "world_to_camera",
]
