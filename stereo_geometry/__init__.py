"""The project's runtime, at the bottom of its imports: the geometry core (cameras,
pixel-grid meshes, stretched-face tagging, normals from depth, the z-buffer warp, with
compiled kernels that give the numpy reference's results bit for bit) and what turns an image
and its depth into the other eye (`sample`: the network input; `infill`; `sequence`;
`onnx_runner`; `readers`, `exr`, `writer`: files). Shared by data generation, training and the
Blender add-on (which vendors this one folder), so all of them make the same holes. Imports
numpy, and where a function needs them numba, ONNX Runtime, OpenEXR, Pillow, OpenCV or tqdm:
never torch, bpy or the project's other packages; its own imports are relative."""
from .camera import Intrinsics, project, stereo_pose, translation, unproject, world_to_camera
from .mesh import (DEFAULT_HOLE_RULE, HOLE_RULES, HoleRule, face_normals, footprint_growth_px, grid_mesh, grid_triangles, grid_uv,
                   hole_rule, normals_from_depth, tag_stretched_faces, view_angle_deg)
from .sample import (SAMPLE_ARRAYS, disocclusion_sample, masked_inputs, network_input,
                     normalise_depth, to_uint8, warped_inputs)
from .warp import Raster, Reprojection, rasterize, reproject

__all__ = [
    "DEFAULT_HOLE_RULE", "HOLE_RULES", "HoleRule", "footprint_growth_px", "Intrinsics", "Raster", "Reprojection", "SAMPLE_ARRAYS",
    "disocclusion_sample", "face_normals", "grid_mesh", "grid_triangles", "grid_uv", "hole_rule",
    "masked_inputs", "network_input", "normalise_depth", "normals_from_depth", "project", "rasterize", "reproject", "stereo_pose", "to_uint8",
    "tag_stretched_faces", "translation", "unproject", "view_angle_deg", "warped_inputs", "world_to_camera",
]
