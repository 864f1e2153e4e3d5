"""Bad input raises ValueError with the library's message; nothing crashes."""
import numpy as np
import pytest
import torch

import resnet_cpp as rc
from conftest import images


@pytest.fixture(scope="module")
def model():
    return rc.models.resnet20().eval()


@pytest.mark.parametrize(
    "x, message",
    [
        (np.zeros((3, 32, 32), np.float32), r"expected a float32 NCHW batch \[N, 3, H, W\], got shape \[3,32,32\]"),
        (np.zeros((1, 1, 32, 32), np.float32), r"got shape \[1,1,32,32\]"),
        (np.zeros((1, 3, 32, 32), np.float64), "expected float32, got float64"),
        (np.zeros((1, 3, 32, 32), np.int32), "expected float32, got int32"),
        (np.zeros((0, 3, 32, 32), np.float32), "empty batch"),
        ("an image", "expected a NumPy array or a DLPack tensor, got str"),
    ],
)
def test_bad_inputs_raise_value_error(model, x, message):
    with pytest.raises(ValueError, match=message):
        model(x)
    with pytest.raises(ValueError, match=message):
        model.compile(batch=1)(x)


def test_float64_is_refused_not_converted(model):
    # A silent conversion would hide a copy and a precision change: the caller converts (x.astype(np.float32)).
    with pytest.raises(ValueError, match="astype"):
        model(np.zeros((1, 3, 32, 32)))


def test_non_contiguous_inputs_are_read_by_their_strides(model):
    x = images((2, 3, 32, 32), seed=7)
    expected = model(x)
    strided = np.ascontiguousarray(x.transpose(0, 2, 3, 1)).transpose(0, 3, 1, 2)  # an NHWC buffer seen as NCHW
    assert not strided.flags.c_contiguous
    np.testing.assert_array_equal(model(strided), expected)
    np.testing.assert_array_equal(model(torch.from_numpy(x).permute(0, 2, 3, 1).contiguous().permute(0, 3, 1, 2)),
                                  expected)
    sliced = images((4, 3, 32, 32), seed=7)[::2]
    np.testing.assert_array_equal(model(sliced), model(np.ascontiguousarray(sliced)))
    # A compiled plan reads a C-contiguous batch in place and copies any other once, in its logical order.
    fast = model.compile(batch=2)
    np.testing.assert_array_equal(fast(strided), fast(x))
    np.testing.assert_array_equal(fast(sliced), fast(np.ascontiguousarray(sliced)))


def test_plan_refuses_another_shape_and_names_both(model):
    fast = model.compile(batch=2)
    with pytest.raises(ValueError, match=r"compiled for \[2,3,32,32\] \(NCHW\), x is \[1,3,32,32\]"):
        fast(np.zeros((1, 3, 32, 32), np.float32))


def test_bad_compile_options_raise_value_error(model):
    with pytest.raises(ValueError, match="dtype"):
        model.compile(dtype="f16")
    with pytest.raises(ValueError, match="calibration"):
        model.compile(dtype="int8")
    with pytest.raises(ValueError, match="batch"):
        model.compile(batch=0)


def test_unknown_stage_lists_the_names(model):
    with pytest.raises(ValueError, match="layer1"):
        model.features(np.zeros((1, 3, 32, 32), np.float32), ["layer9"])


def test_int8_plan_from_calibration_images_is_close_to_f32(model):
    x = images((4, 3, 32, 32), seed=8)
    f32 = model.compile(batch=4)(x)
    int8 = model.compile(dtype="int8", batch=4, calibration=x)(x)
    assert int8.shape == f32.shape
    assert np.abs(int8 - f32).max() < 0.2 * np.abs(f32).max() + 1e-3


def test_bf16_plan_is_close_to_f32(model):
    x = images((2, 3, 32, 32), seed=9)
    np.testing.assert_allclose(model.compile("bf16", batch=2)(x), model(x), atol=5e-2 * np.abs(model(x)).max())
