"""The data.pkl of each torch.save seed of pth_zip, plus pickles of other protocols."""
import collections
import pickle

from _pth import data_pkl, pth_files


def seeds():
    out = {name: data_pkl(pth) for name, pth in pth_files().items() if not name.endswith("_deflated")}
    plain = collections.OrderedDict(a=1, b=[1.5, None, True], c=(b"x", "y"))
    for protocol in (2, 4, 5):
        out[f"plain_protocol{protocol}"] = pickle.dumps(plain, protocol=protocol)
    return out
