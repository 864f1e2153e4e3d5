"""CIFAR binary files: records of label byte(s) + a 32x32 RGB image in planes; CIFAR-10 (1 label byte) and
CIFAR-100 (coarse, fine)."""


def record(labels, seed):
    return bytes(labels) + bytes((seed * 7 + i) % 256 for i in range(3 * 32 * 32))


def seeds():
    return {
        "cifar10_one": record([3], 1),
        "cifar10_three": record([0], 2) + record([9], 3) + record([5], 4),
        "cifar100_one": record([4, 77], 5),
        "cifar100_two": record([0, 0], 6) + record([19, 99], 7),
    }
