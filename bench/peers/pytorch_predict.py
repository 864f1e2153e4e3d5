#!/usr/bin/python3
"""The PyTorch + PIL peer of `resnet predict`: the same work on the same images with the same threads.

Run with Debian's python (/usr/bin/python3: torch, torchvision, Pillow). For every .jpg/.jpeg/.png under DIR (sorted):
PIL's Image.open(p).convert("RGB"), torchvision's ImageNet evaluation transform (Resize(256), CenterCrop(224),
ToTensor, Normalize), batches of --batch images through the eval-mode model (channels_last, torch.no_grad), softmax
and top-5. Prints one JSON object: images, seconds (wall, decode + preprocessing + model, after loading the model),
images_per_sec, and cpu_seconds: the process's CPU time (user + system, all threads, DataLoader workers included)
over the same loop, which the machine's load does not inflate the way it inflates wall time.
  bench/peers/pytorch_predict.py --arch resnet50 --weights W.pth --threads 2 --batch 16 DIR
--workers N decodes in N DataLoader worker processes instead of on the main thread (default 0: torch's threads
only, the same thread count as `resnet predict --threads`).
"""
import argparse
import json
import os
import resource
import time

import torch
import torchvision

from torch_eval_model import eval_model
import torchvision.transforms as T
from PIL import Image

EXTENSIONS = (".jpg", ".jpeg", ".png")
TRANSFORM = T.Compose([T.Resize(256), T.CenterCrop(224), T.ToTensor(),
                       T.Normalize(mean=[0.485, 0.456, 0.406], std=[0.229, 0.224, 0.225])])


def find_images(root):
    files = []
    for folder, dirs, names in sorted(os.walk(root)):
        dirs.sort()
        files += [os.path.join(folder, n) for n in sorted(names) if n.lower().endswith(EXTENSIONS)]
    return files


class Images(torch.utils.data.Dataset):
    def __init__(self, files):
        self.files = files

    def __len__(self):
        return len(self.files)

    def __getitem__(self, i):
        return TRANSFORM(Image.open(self.files[i]).convert("RGB"))


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--arch", default="resnet50")
    p.add_argument("--weights", help="torchvision state_dict (.pth); default: seeded init")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--workers", type=int, default=0)
    p.add_argument("dir")
    args = p.parse_args()

    model = eval_model(args.arch, args.weights, args.threads)
    files = find_images(args.dir)
    loader = torch.utils.data.DataLoader(Images(files), batch_size=args.batch, num_workers=args.workers)

    def cpu_seconds():
        usage = [resource.getrusage(who) for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)]
        return sum(u.ru_utime + u.ru_stime for u in usage)

    started, cpu_started = time.perf_counter(), cpu_seconds()
    results = []
    with torch.no_grad():
        for x in loader:
            logits = model(x.contiguous(memory_format=torch.channels_last))
            probs, classes = torch.softmax(logits, dim=1).topk(5, dim=1)
            results += list(zip(classes.tolist(), probs.tolist()))
    seconds, cpu = time.perf_counter() - started, cpu_seconds() - cpu_started
    assert len(results) == len(files)
    print(json.dumps({"engine": "pytorch+pil", "arch": args.arch, "threads": args.threads, "batch": args.batch,
                      "workers": args.workers, "images": len(files), "seconds": round(seconds, 3),
                      "cpu_seconds": round(cpu, 3),
                      "images_per_sec": round(len(files) / seconds, 2)}))


if __name__ == "__main__":
    main()
