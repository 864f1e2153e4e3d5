"""Shared fixtures of the Python package's tests (tests/python/, run by ctest `python_tests` with Debian's python3 and
PYTHONPATH=<build>/python). The oracle is Debian's torch 1.13 + torchvision 0.14, as for the C++ parity tests."""
import os
import sys

import numpy as np
import pytest
import torch

import resnet_cpp as rc

ORACLE_DIR = os.path.join(os.path.dirname(__file__), "..", "oracle")
sys.path.insert(0, ORACLE_DIR)

# torch sets the process's OpenMP count (shared libgomp) when it is imported; run both on the machine's cores.
THREADS = os.cpu_count() or 1
torch.set_num_threads(THREADS)
rc.set_num_threads(THREADS)


@torch.no_grad()
def randomize_batchnorms(model, seed):
    """Running statistics and affine parameters away from 0/1, so that eval-mode batch norm is not the identity."""
    g = torch.Generator().manual_seed(seed)
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            c = m.num_features
            m.running_mean.copy_(0.1 * torch.randn(c, generator=g))
            m.running_var.copy_(0.5 + torch.rand(c, generator=g))
            m.weight.copy_(0.5 + torch.rand(c, generator=g))
            m.bias.copy_(0.1 * torch.randn(c, generator=g))
    return model


def images(shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


@pytest.fixture(scope="session")
def resnet18_pair():
    """torchvision's resnet18 (random weights, randomized BN) and ours with the same weights, both in eval mode."""
    torch.manual_seed(18)
    theirs = randomize_batchnorms(__import__("torchvision").models.resnet18(), 18).eval()
    ours = rc.models.resnet18()
    ours.load_state_dict(theirs.state_dict())
    return theirs, ours.eval()
