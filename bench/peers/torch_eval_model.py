"""The PyTorch peer's model, as the bench scripts build it: torchvision's architecture (initialisation seeded with 0),
the given state_dict if any, eval mode, channels_last, `threads` intra-op threads."""
import torch
import torchvision


def eval_model(arch, weights, threads):
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    model = getattr(torchvision.models, arch)()
    if weights:
        model.load_state_dict(torch.load(weights))
    return model.eval().to(memory_format=torch.channels_last)
