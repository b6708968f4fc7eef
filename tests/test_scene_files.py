"""Scene folders of 3D files (glTF) rendered lit for both eyes from random cameras."""
import numpy as np
import pytest

from stereo_geometry import SAMPLE_ARRAYS, Intrinsics
from training.metrics import psnr

pytestmark = pytest.mark.blender
B = 0.063


@pytest.fixture(scope="module")
def scene_folder(tmp_path_factory):
    """A folder with one .glb: a ground and boxes of several sizes standing on it."""
    import bpy

    bpy.ops.wm.read_factory_settings(use_empty=True)
    bpy.ops.mesh.primitive_plane_add(size=5.0)
    for x, y, size in ((0, 0, 1.0), (1.5, -1.5, 0.6), (-1.2, 1.2, 1.4), (0.4, 2, 0.3)):
        bpy.ops.mesh.primitive_cube_add(size=size, location=(x, y, size / 2))
    folder = tmp_path_factory.mktemp("scenes") / "boxes"
    folder.mkdir()
    bpy.ops.export_scene.gltf(filepath=str(folder / "boxes.glb"), export_format="GLB")
    return folder


@pytest.fixture(scope="module")
def renderer(scene_folder):  # after the folder is written: a renderer starts from Blender's factory settings
    from datagen_bpy.renderer import Renderer

    return Renderer(128, 96)


K = Intrinsics(160.0, 160.0, 63.5, 47.5, 128, 96)


def test_a_folder_is_imported_once_and_seen_from_cameras_outside_its_objects(renderer, scene_folder):
    import bpy

    from datagen_bpy.scene_files import camera_pose, layout_of, load_scene, looks_at_content
    from stereo_geometry.blender_camera import blender_matrix_world
    import mathutils

    load_scene(renderer, scene_folder)
    meshes = {o.name for o in bpy.data.objects if o.type == "MESH"}
    load_scene(renderer, scene_folder)
    assert len(meshes) == 5 and {o.name for o in bpy.data.objects if o.type == "MESH"} == meshes
    pose = camera_pose(renderer.scene, layout_of(scene_folder), K, np.random.default_rng(0))
    inside_the_big_box = mathutils.Matrix.Translation((-1.2, 1.2, 0.7))  # looking down -z, into the box's floor
    assert not looks_at_content(renderer.scene, inside_the_big_box, K, 0.3)
    assert looks_at_content(renderer.scene, mathutils.Matrix(blender_matrix_world(pose).tolist()), K, 0.3)


def test_both_eyes_are_rendered_and_the_warped_source_matches_the_other_eye_outside_its_holes(renderer, scene_folder):
    from datagen_bpy.scene_files import scene_sample

    sample = scene_sample(renderer, scene_folder, K, B, np.random.default_rng(1))
    assert set(SAMPLE_ARRAYS) <= set(sample) and {"source_image", "source_depth"} <= set(sample)
    hole = sample["hole_mask"].astype(bool)
    assert 0 < hole.mean() < 0.2
    known = ~hole
    warped, truth, source = (sample[k] / 255.0 for k in ("image_generated_left", "org_left_image", "source_image"))
    print(psnr(warped, truth, known), psnr(source, truth, known))
    assert psnr(warped, truth, known) > 27
    assert psnr(source, truth, known) < psnr(warped, truth, known) - 3  # the eyes differ: the warp moved the view
