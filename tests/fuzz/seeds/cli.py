"""Command lines for fuzz_cli.cpp: the arguments after `resnet`, one per line; every subcommand with typical
flags, and some near-misses (a missing value, an unknown flag, a number out of range)."""

COMMANDS = [
    "list",
    "list\n--json",
    "summary\n--arch\nresnet50\n--input\n3x224x224",
    "print\n--arch\nresnet18",
    "infer\n--arch\nresnet18\n--weights\nw.safetensors\n--input\nx.npy\n--topk\n5",
    "convert\nin.pth\nout.safetensors",
    "bench\n--arch\nresnet50\n--batch\n8\n--iters\n10",
    "train\n--arch\nresnet20\n--dataset\ncifar10\n--data\nd\n--epochs\n2\n--out\nruns/a\n--lr\n0.1",
    "train\n--resume\nruns/a",
    "train\n--task\nsegmentation\n--arch\nunet-resnet18\n--dataset\nfashion-mnist-scenes\n--encoder-depth\n3",
    "eval\n--arch\nresnet20\n--weights\nw.safetensors\n--dataset\ncifar10\n--data\nd",
    "quantize\n--arch\nresnet18\n--weights\nw.pth\n--out\nq.int8.safetensors\n--method\npercentile",
    "plot\nruns/a\nruns/b\n--out\nc.png",
    "predict\n--arch\nresnet18\n--weights\nw.pth\nimg.jpg\n--topk\n3",
    "explain\n--arch\nresnet18\n--weights\nw.pth\nimg.jpg",
    "dataset\nexport\n--dataset\nmnist\n--data\nd\n--out\no",
    "features\n--arch\nresnet50\n--input\nx.npy\n--out\nf",
    "segment\n--arch\nunet-resnet18\n--weights\nw.safetensors\nimg.png",
    "--help",
    "train\n--epochs",
    "infer\n--arch\nresnet18\n--topk\n-1",
    "bench\n--arch\nresnet50\n--batch\n99999999999999999999",
    "summary\n--nonexistent-flag",
]


def seeds():
    return {f"cmd{i:02d}": c.encode() for i, c in enumerate(COMMANDS)}
