"""rc.predict on a photograph (scikit-image's chelsea): the library's ImageClassifier, compared with torchvision's
evaluation transform on PIL and the same weights."""
import numpy as np
import pytest
import skimage.data
import torch
import torchvision.transforms as T
from PIL import Image
from torchvision.models._meta import _IMAGENET_CATEGORIES

import resnet_cpp as rc


@pytest.fixture(scope="module")
def chelsea(tmp_path_factory):
    path = tmp_path_factory.mktemp("photos") / "chelsea.png"
    Image.fromarray(skimage.data.chelsea()).save(path)
    return path


def test_predict_gives_torchvisions_top5_with_class_names(chelsea, resnet18_pair):
    theirs, ours = resnet18_pair
    [result] = rc.predict(ours, [str(chelsea)], top_k=5)
    assert result["file"] == str(chelsea) and result["error"] is None
    transform = T.Compose([T.Resize(256), T.CenterCrop(224), T.ToTensor(),
                           T.Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])])
    with torch.no_grad():
        probs = torch.softmax(theirs(transform(Image.open(chelsea).convert("RGB"))[None]), 1)[0].numpy()
    assert len(result["top"]) == 5
    for score in result["top"]:
        assert score["label"] == _IMAGENET_CATEGORIES[score["class"]]
        assert abs(score["prob"] - probs[score["class"]]) < 1e-3, score
    ranked = [s["prob"] for s in result["top"]]
    assert ranked == sorted(ranked, reverse=True)
    assert result["top"][0]["prob"] >= np.sort(probs)[-1] - 1e-3


def test_predict_reports_an_unreadable_file_and_classifies_the_others(chelsea, tmp_path):
    bad = tmp_path / "not_an_image.png"
    bad.write_bytes(b"not a PNG")
    m = rc.models.resnet18(num_classes=3).eval()
    results = rc.predict(m, [str(bad), str(chelsea)], top_k=2, labels=["a", "b", "c"])
    assert results[0]["top"] == [] and str(bad) in results[0]["error"]
    assert results[1]["error"] is None and {s["label"] for s in results[1]["top"]} <= {"a", "b", "c"}
    with pytest.raises(ValueError, match="labels"):
        rc.predict(m, [str(chelsea)], labels=["only one"])
