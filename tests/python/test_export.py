"""ONNX export from Python (python/src/export.cpp): the same file `resnet export` writes for the same weights and
options, byte for byte, and the library's refusals as ValueError with no file left behind. The numbers of the file
itself are checked against ONNX Runtime and OpenVINO by the ctest onnx_export_runtimes."""
import os
import subprocess

import pytest
import torch

import resnet_cpp as rc

RESNET = os.environ["RESNET_BINARY"]


@pytest.fixture(scope="module")
def pth_and_model(tmp_path_factory, resnet18_pair):
    theirs, ours = resnet18_pair
    path = str(tmp_path_factory.mktemp("export") / "resnet18.pth")
    torch.save(theirs.state_dict(), path)
    return path, rc.models.resnet18(weights=path)


def cli_export(pth, out, *flags):
    subprocess.run([RESNET, "export", "--arch", "resnet18", "--weights", pth, "--onnx", out, *flags], check=True,
                   stdout=subprocess.DEVNULL)
    with open(out, "rb") as f:
        return f.read()


def read(path):
    with open(path, "rb") as f:
        return f.read()


def test_method_writes_the_cli_file(tmp_path, pth_and_model):
    pth, model = pth_and_model
    model.export_onnx(str(tmp_path / "py.onnx"), dynamic_batch=True, fold_bn=True)
    expected = cli_export(pth, str(tmp_path / "cli.onnx"), "--dynamic-batch", "--fold-bn")
    assert read(tmp_path / "py.onnx") == expected


def test_function_with_fixed_batch_and_size_writes_the_cli_file(tmp_path, pth_and_model):
    pth, model = pth_and_model
    rc.export_onnx(model, str(tmp_path / "py.onnx"), opset=15, batch=3, size=160)
    expected = cli_export(pth, str(tmp_path / "cli.onnx"), "--opset", "15", "--batch", "3", "--size", "160")
    assert read(tmp_path / "py.onnx") == expected


@pytest.mark.parametrize("options", [{"opset": 12}, {"opset": 18}, {"batch": 0}, {"size": 0}])
def test_bad_options_raise_and_leave_no_file(tmp_path, pth_and_model, options):
    _, model = pth_and_model
    out = tmp_path / "bad.onnx"
    with pytest.raises(ValueError):
        model.export_onnx(str(out), **options)
    assert list(tmp_path.iterdir()) == []


def test_unwritable_path_raises(tmp_path, pth_and_model):
    _, model = pth_and_model
    with pytest.raises(ValueError, match="missing"):
        model.export_onnx(str(tmp_path / "missing" / "m.onnx"))
