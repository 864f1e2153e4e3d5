"""The package's shape: type stubs for every factory beside the module, py.typed, the U-Nets."""
import pathlib

import numpy as np

import resnet_cpp as rc
from conftest import images

PACKAGE = pathlib.Path(rc.__file__).parent


def test_stubs_and_py_typed_ship_with_the_module():
    assert (PACKAGE / "py.typed").exists()
    models_stub = (PACKAGE / "_core" / "models.pyi").read_text()
    for name in rc.models.names():
        assert f"def {name}(*, num_classes: int | None = None" in models_stub, name
    core_stub = (PACKAGE / "_core" / "__init__.pyi").read_text()
    for api in ("def __call__(self, x", "def state_dict(self)", "def load_state_dict(self", "def compile(self",
                "def features(self", "def predict(model: Model", "class Plan"):
        assert api in core_stub, api


def test_unet_model_and_its_plan_give_the_same_logits_in_nchw():
    m = rc.models.unet_resnet18(num_classes=3).eval()
    assert next(iter(m.state_dict())).startswith("encoder.")
    x = images((1, 3, 64, 64), seed=11)
    logits = m(x)
    assert logits.shape == (1, 3, 64, 64)
    np.testing.assert_allclose(m.compile(size=64)(x), logits, atol=1e-4 * max(1.0, np.abs(logits).max()))
