"""torch.save zip archives: a small model's state dict, wrapped, every dtype, views, a parameter, deflated."""
from _pth import pth_files


def seeds():
    return pth_files()
