"""Logits of resnet_cpp equal torchvision's for the same weights (loaded through load_state_dict)."""
import numpy as np
import pytest
import torch
import torchvision

import resnet_cpp as rc
from conftest import images, randomize_batchnorms
from make_grad_fixtures import CifarResNet  # the CIFAR oracle (option A shortcuts), tests/oracle/


def assert_close(ours, theirs, what):
    err = np.abs(ours - theirs).max()
    scale = max(1.0, np.abs(theirs).max())
    assert err <= 1e-4 * scale, f"{what}: max |ours - torch| = {err:.3g} (logit scale {scale:.3g})"


# 64x64 images keep the run short; every stage still runs (layer4 at 2x2).
@pytest.mark.parametrize("arch", ["resnet18", "resnet50", "resnext50_32x4d"])
def test_logits_equal_torchvision(arch):
    torch.manual_seed(1)
    theirs = randomize_batchnorms(torchvision.models.__dict__[arch](num_classes=100), 1).eval()
    ours = getattr(rc.models, arch)(num_classes=100)
    ours.load_state_dict(theirs.state_dict())
    ours.eval()
    x = images((2, 3, 64, 64))
    with torch.no_grad():
        expected = theirs(torch.from_numpy(x)).numpy()
    assert_close(ours(x), expected, f"{arch} model")
    assert_close(ours.compile(batch=2, size=64)(x), expected, f"{arch} compiled plan")


def test_cifar_resnet20_with_zero_pad_shortcuts_equals_torch():
    torch.manual_seed(20)
    theirs = randomize_batchnorms(CifarResNet(3), 20).eval()
    ours = rc.models.resnet20(num_classes=10)
    ours.load_state_dict(theirs.state_dict())
    ours.eval()
    x = images((3, 3, 32, 32), seed=2)
    with torch.no_grad():
        expected = theirs(torch.from_numpy(x)).numpy()
    assert_close(ours(x), expected, "resnet20 model")
    assert_close(ours.compile(batch=3)(x), expected, "resnet20 compiled plan")


def test_train_mode_uses_batch_statistics_as_torch(resnet18_pair):
    theirs, _ = resnet18_pair
    ours = rc.models.resnet18()
    ours.load_state_dict(theirs.state_dict())
    x = images((2, 3, 64, 64), seed=3)
    assert ours.training
    with torch.no_grad():
        model = torchvision.models.resnet18()
        model.load_state_dict(theirs.state_dict())
        expected = model.train()(torch.from_numpy(x)).numpy()
    assert_close(ours(x), expected, "resnet18 train-mode forward")


def test_features_equal_torchvision_stages(resnet18_pair):
    theirs, ours = resnet18_pair
    x = images((1, 3, 64, 64), seed=4)
    feats = ours.features(x, ["layer2", "layer4"])
    assert list(feats) == ["layer2", "layer4"]
    with torch.no_grad():
        t = torch.from_numpy(x)
        t = theirs.maxpool(theirs.relu(theirs.bn1(theirs.conv1(t))))
        layer2 = theirs.layer2(theirs.layer1(t))
        layer4 = theirs.layer4(theirs.layer3(layer2))
    assert_close(feats["layer2"], layer2.numpy(), "layer2")
    assert_close(feats["layer4"], layer4.numpy(), "layer4")
    assert list(ours.features(x)) == ["stem", "layer1", "layer2", "layer3", "layer4"]


def test_torch_tensors_go_in_through_dlpack(resnet18_pair):
    theirs, ours = resnet18_pair
    t = torch.from_numpy(images((2, 3, 64, 64), seed=12))
    assert not hasattr(t, "__array_interface__")  # so not NumPy's protocol: __dlpack__
    expected = ours(t.numpy())
    np.testing.assert_array_equal(ours(t), expected)
    np.testing.assert_array_equal(ours.compile(batch=2, size=64)(t), ours.compile(batch=2, size=64)(t.numpy()))
    with torch.no_grad():
        assert_close(ours(t), theirs(t).numpy(), "resnet18 on a torch tensor")
