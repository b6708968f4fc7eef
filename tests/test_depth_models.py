"""Monocular depth adapters without their networks: pre- and post-processing, and the errors
that say what to install or pass."""
import numpy as np
import pytest

from datagen_bpy.depth_models import (DepthModelError, check_depth_model, da3_input,
                                      intrinsics_from_points, resize_depth_and_intrinsics)
from stereo_geometry import Intrinsics, unproject


def test_da3_input_is_normalised_and_patch_aligned():
    x = da3_input(np.full((375, 450, 3), 255, np.uint8), process_res=504)
    assert x.shape[:3] == (1, 1, 3) and x.shape[3] % 14 == 0 and x.shape[4] % 14 == 0
    assert max(x.shape[3:]) == 504
    np.testing.assert_allclose(x[0, 0, :, 0, 0], (1 - np.array([0.485, 0.456, 0.406])) / np.array([0.229, 0.224, 0.225]), rtol=1e-5)


def test_model_outputs_are_brought_back_to_the_image_size():
    K_model = np.array([[140.0, 0, 69.5], [0, 140.0, 52.0], [0, 0, 1]])
    estimate = resize_depth_and_intrinsics(np.full((105, 140), 2.0), K_model, 480, 640)
    assert estimate.depth.shape == (480, 640) and np.allclose(estimate.depth, 2.0)
    assert estimate.K.width == 640 and abs(estimate.K.fx - 640.0) < 1e-9
    assert abs(estimate.K.cx - ((69.5 + 0.5) * 640 / 140 - 0.5)) < 1e-9


def test_intrinsics_are_recovered_from_per_pixel_points():
    K = Intrinsics(321.0, 321.0, 79.5, 59.5, 160, 120)
    depth = np.random.default_rng(0).uniform(1, 5, (120, 160))
    fitted = intrinsics_from_points(unproject(depth, K))
    assert abs(fitted.fx - 321.0) < 1e-6 and abs(fitted.fy - 321.0) < 1e-6


def test_missing_packages_or_weights_say_what_to_install_or_pass(tmp_path):
    try:
        import depth_anything_3.cfg  # noqa: F401

        da3_messages = {None: "no Depth Anything 3 weights (no --depth-model-path given)",
                        tmp_path: f"no Depth Anything 3 weights at {tmp_path}"}
    except ImportError:
        da3_messages = {None: "--depth-model da3 needs the optional extra", tmp_path: "needs the optional extra"}
    for weights, message in da3_messages.items():
        with pytest.raises(DepthModelError) as error:
            check_depth_model("da3", weights)
        assert message in str(error.value)
    with pytest.raises(DepthModelError) as error:
        check_depth_model("unik3d", None)
    assert "--depth-model unik3d needs the UniK3D package" in str(error.value)
    with pytest.raises(DepthModelError, match="unknown depth model 'midas'"):
        check_depth_model("midas", None)
