"""Small torch.save files for the .pth harnesses: {name: bytes of the .pth (zip)}."""
import collections
import io
import zipfile

import torch


def torch_save_bytes(obj):
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    return buffer.getvalue()


def deflated(pth):
    """The same archive with every entry deflated (torch.save stores them; other zip writers may not)."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(pth)) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for name in src.namelist():
            dst.writestr(name, src.read(name))
    return out.getvalue()


def pth_files():
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Conv2d(2, 3, 3), torch.nn.BatchNorm2d(3), torch.nn.Flatten(),
                                torch.nn.Linear(3, 2))
    base = torch.arange(12, dtype=torch.float32).reshape(3, 4)
    files = {
        "model": torch_save_bytes(model.state_dict()),
        "wrapped": torch_save_bytes({"state_dict": model.state_dict(), "epoch": 3}),
        "dtypes": torch_save_bytes(collections.OrderedDict(
            f16=torch.ones(3, dtype=torch.float16), bf16=torch.ones(2, dtype=torch.bfloat16),
            f64=torch.ones(2, dtype=torch.float64), i64=torch.arange(3), i32=torch.arange(2, dtype=torch.int32),
            i8=torch.arange(2, dtype=torch.int8), u8=torch.arange(2, dtype=torch.uint8),
            b=torch.tensor([True, False]), i16=torch.arange(2, dtype=torch.int16))),
        "views": torch_save_bytes(collections.OrderedDict(
            whole=base, row=base[1], column=base[:, 2], transposed=base.t(), expanded=torch.arange(3.).expand(2, 3),
            scalar=torch.tensor(5.), empty=torch.zeros(0, 3))),
        "parameter": torch_save_bytes(collections.OrderedDict(w=torch.nn.Parameter(torch.ones(2, 2)))),
    }
    files["model_deflated"] = deflated(files["model"])
    return files


def data_pkl(pth):
    with zipfile.ZipFile(io.BytesIO(pth)) as z:
        return z.read(next(n for n in z.namelist() if n.endswith("data.pkl")))
