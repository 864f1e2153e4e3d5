#!/usr/bin/python3
"""How far PyTorch's own bf16 autocast gradients are from its f32 gradients at initialisation: the reference level
for tests/unit/test_mixed_precision.cpp (Bf16Model.*). torchvision resnet18, 10 classes, a batch of 8 images
3x64x64 uniform in [-1, 1), labels 0..7; prints the relative L2 error of the logits and of each gradient.
Usage: /usr/bin/python3 tests/oracle/autocast_gradient_noise.py"""
import torch
import torchvision


def forward_backward(model, x, labels, autocast):
    model.zero_grad()
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
        logits = model(x)
    torch.nn.functional.cross_entropy(logits.float(), labels).backward()
    return logits.float(), {n: p.grad.clone() for n, p in model.named_parameters()}


def relative_l2(a, b):
    return ((a - b).norm() / b.norm()).item()


def main():
    torch.manual_seed(3)
    torch.set_num_threads(1)
    model = torchvision.models.resnet18(num_classes=10)
    x = torch.rand(8, 3, 64, 64) * 2 - 1
    labels = torch.arange(8) % 10
    logits32, grads32 = forward_backward(model, x, labels, False)
    logits16, grads16 = forward_backward(model, x, labels, True)
    print(f"logits {relative_l2(logits16, logits32):.4f}")
    every32 = torch.cat([g.flatten() for g in grads32.values()])
    every16 = torch.cat([grads16[n].flatten() for n in grads32])
    print(f"all gradients {relative_l2(every16, every32):.4f}")
    for name, g in grads32.items():
        print(f"{name} {relative_l2(grads16[name], g):.4f}")


if __name__ == "__main__":
    main()
