"""IDX files as MNIST ships them: images [N, rows, cols] and labels [N], plain and gzipped; other ranks."""
import gzip
import struct


def idx_bytes(dims, fill=lambda i: i % 251):
    numel = 1
    for d in dims:
        numel *= d
    return bytes([0, 0, 8, len(dims)]) + b"".join(struct.pack(">I", d) for d in dims) + bytes(
        fill(i) for i in range(numel))


def seeds():
    files = {
        "images": idx_bytes([3, 4, 5]),
        "labels": idx_bytes([6], fill=lambda i: i % 10),
        "rank1": idx_bytes([1]),
        "rank4": idx_bytes([2, 1, 2, 3]),
    }
    for name in list(files):
        files[name + ".gz"] = gzip.compress(files[name], mtime=0)
    files["two_members.gz"] = gzip.compress(files["rank1"][:5], mtime=0) + gzip.compress(files["rank1"][5:], mtime=0)
    return files
