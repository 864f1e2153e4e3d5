"""state_dict / load_state_dict with torch: torchvision's names, round trips, DLPack, strictness."""
import numpy as np
import pytest
import torch
import torchvision

import resnet_cpp as rc
from conftest import images


def test_state_dict_has_torchvision_keys_in_order_and_dtypes():
    theirs = torchvision.models.resnet50().state_dict()
    ours = rc.models.resnet50().state_dict()
    assert list(ours) == list(theirs)
    for key, value in ours.items():
        assert isinstance(value, np.ndarray)
        assert value.shape == tuple(theirs[key].shape), key
        assert value.dtype == (np.int64 if key.endswith("num_batches_tracked") else np.float32), key


def test_round_trip_torch_to_ours_to_torch(resnet18_pair):
    theirs, ours = resnet18_pair
    exported = ours.state_dict()
    model = torchvision.models.resnet18()
    model.load_state_dict({k: torch.from_numpy(np.array(v)) for k, v in exported.items()}, strict=True)
    for key, value in model.state_dict().items():
        assert torch.equal(value, theirs.state_dict()[key]), key
    # And back into a new model of ours, from NumPy arrays this time.
    again = rc.models.resnet18()
    again.load_state_dict(exported)
    x = images((1, 3, 64, 64), seed=5)
    np.testing.assert_array_equal(again.eval()(x), ours(x))


def test_state_dict_arrays_share_the_models_memory():
    m = rc.models.resnet18(num_classes=4)
    m.state_dict()["fc.bias"][:] = [1, 2, 3, 4]
    np.testing.assert_array_equal(m.state_dict()["fc.bias"], np.array([1, 2, 3, 4], np.float32))


def test_load_accepts_torch_tensors_through_dlpack_and_converts_float64():
    m = rc.models.resnet20(num_classes=10)
    sd = m.state_dict()
    torch_sd = {k: torch.from_numpy(np.array(v)) for k, v in sd.items()}
    torch_sd["fc.weight"] = torch.ones(10, 64, dtype=torch.float64)  # converted to float32
    torch_sd["fc.bias"] = torch.arange(20, dtype=torch.float32)[::2]  # non-contiguous: read by its strides
    m.load_state_dict(torch_sd)
    np.testing.assert_array_equal(m.state_dict()["fc.weight"], np.ones((10, 64), np.float32))
    np.testing.assert_array_equal(m.state_dict()["fc.bias"], np.arange(0, 20, 2, dtype=np.float32))


def test_strict_load_names_every_problem_and_non_strict_reports_them():
    m = rc.models.resnet20()
    sd = dict(m.state_dict())
    del sd["conv1.weight"]
    sd["extra.weight"] = np.zeros(3, np.float32)
    sd["fc.bias"] = np.zeros(7, np.float32)
    with pytest.raises(ValueError) as e:
        m.load_state_dict(sd)
    for name in ("conv1.weight", "extra.weight", "fc.bias"):
        assert name in str(e.value)
    report = m.load_state_dict(sd, strict=False)
    assert report.missing_keys == ["conv1.weight"]
    assert report.unexpected_keys == ["extra.weight"]
    assert len(report.mismatched_keys) == 1 and report.mismatched_keys[0].startswith("fc.bias")


def test_load_refuses_what_is_not_a_tensor():
    m = rc.models.resnet20()
    with pytest.raises(ValueError, match="fc.bias"):
        m.load_state_dict({"fc.bias": "zeros"}, strict=False)
    with pytest.raises(ValueError, match="fc.bias"):
        m.load_state_dict({"fc.bias": np.zeros(10, np.complex64)}, strict=False)
    with pytest.raises(ValueError):
        m.load_state_dict([1, 2, 3])
    with pytest.raises(ValueError, match="key"):
        m.load_state_dict({7: np.zeros(3, np.float32)})


def test_weights_path_loads_a_torch_saved_pth(tmp_path, resnet18_pair):
    theirs, ours = resnet18_pair
    path = tmp_path / "resnet18.pth"
    torch.save(theirs.state_dict(), path)
    loaded = rc.models.resnet18(weights=str(path)).eval()
    assert loaded.num_classes == 1000
    x = images((1, 3, 64, 64), seed=6)
    np.testing.assert_array_equal(loaded(x), ours(x))
    with pytest.raises(ValueError, match="nope.pth"):
        rc.models.resnet18(weights=str(tmp_path / "nope.pth"))
    with pytest.raises(ValueError, match="fc.weight"):
        rc.models.resnet18(num_classes=10, weights=str(path))  # 1000 classes in the file


def test_every_zoo_name_has_a_factory():
    assert rc.models.names()[: len(rc.zoo_names())] == rc.zoo_names()
    for name in rc.models.names():
        assert callable(getattr(rc.models, name)), name
    m = rc.models.resnet32(in_channels=1, num_classes=7)
    assert (m.arch, m.in_channels, m.num_classes) == ("resnet32", 1, 7)
    with pytest.raises(ValueError, match="stem"):
        rc.models.resnet18(stem="tiny")
    with pytest.raises(ValueError, match="num_classes"):
        rc.models.resnet18(num_classes=0)
