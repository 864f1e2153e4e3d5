#!/usr/bin/env python3
"""Files whose headers claim far more than they hold, for the `limits_*` tests (tests/limits/expect_status.sh runs
`resnet` on each under `ulimit -v`, so an attempt to allocate what a header claims fails the test):
  huge.npy                  1 KB, claims [1000000, 1, 1000, 1000] float32 (4 * 10^12 bytes)
  idx/, idx_gz/             1 KB train-images-idx3-ubyte(.gz) claiming [1000000, 1000, 1000] (10^12 bytes)
  huge.png                  a PNG header claiming 100000 x 100000 RGB
  storage_claims.pth        a pickle naming a storage of 2^40 floats backed by 24 bytes
  broadcasts.pth            eight 1 GiB stride-0 views of one 4-byte storage (8 GiB from a 1 KB file)
  deflate_prefix.pth        a 1.2 MB file inflating to 1.25 GiB whose only tensor is its first element (loads)
  resnet18.pth              torchvision's resnet18 (random init): the weights `resnet predict` needs to reach an image
Run by /usr/bin/python3 (torch for the last file):  make_limit_fixtures.py OUT_DIR"""
import collections
import gzip
import os
import struct
import sys
import zipfile
import zlib

import torch
import torchvision

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'oracle'))
from make_pth_fixtures import FakeStorage, FakeTensor, torch_like_pickle  # noqa: E402  the .pth oracle's own


# --- .pth files assembled by hand: torch's pickle layout with values torch.save never writes ---------------------

def state_dict_pickle(tensors):
    return torch_like_pickle(collections.OrderedDict(tensors))


def write_pth(path, tensors, storages, compression=zipfile.ZIP_STORED):
    with zipfile.ZipFile(path, 'w', compression) as z:
        z.writestr('archive/data.pkl', state_dict_pickle(tensors))
        for key, data in storages.items():
            z.writestr(f'archive/data/{key}', data)


def write_deflate_prefix(path, size):
    """One storage of `size` bytes (a 1.0 float, then zeros), deflated, streamed so this script stays small."""
    storage = FakeStorage(torch.FloatStorage, '0', size // 4)
    with zipfile.ZipFile(path, 'w', zipfile.ZIP_DEFLATED) as z:
        z.writestr('archive/data.pkl', state_dict_pickle({'first': FakeTensor(storage, 0, [1], [1])}))
        with z.open('archive/data/0', 'w', force_zip64=True) as f:
            f.write(struct.pack('<f', 1.0))
            chunk = bytes(1 << 24)
            left = size - 4
            while left > 0:
                f.write(chunk[:min(left, len(chunk))])
                left -= len(chunk)


# --- the other formats -------------------------------------------------------------------------------------------

def npy_header(shape):
    header = f"{{'descr': '<f4', 'fortran_order': False, 'shape': {shape}, }}"
    header += ' ' * (63 - (10 + len(header)) % 64) + '\n'
    return b'\x93NUMPY\x01\x00' + struct.pack('<H', len(header)) + header.encode()


def idx_header(dims):
    return bytes([0, 0, 8, len(dims)]) + b''.join(struct.pack('>I', d) for d in dims)


def png_chunk(kind, data):
    return struct.pack('>I', len(data)) + kind + data + struct.pack('>I', zlib.crc32(kind + data))


def main(out):
    os.makedirs(out, exist_ok=True)
    with open(f'{out}/huge.npy', 'wb') as f:
        f.write(npy_header((1000000, 1, 1000, 1000)).ljust(1024, b'\0'))

    images = idx_header([1000000, 1000, 1000]).ljust(1024, b'\0')
    labels = idx_header([1000000]).ljust(1024, b'\0')
    for folder, suffix, encode in (('idx', '', bytes), ('idx_gz', '.gz', lambda b: gzip.compress(b, mtime=0))):
        os.makedirs(f'{out}/{folder}', exist_ok=True)
        for split in ('train', 't10k'):
            for name, data in ((f'{split}-images-idx3-ubyte', images), (f'{split}-labels-idx1-ubyte', labels)):
                with open(f'{out}/{folder}/{name}{suffix}', 'wb') as f:
                    f.write(encode(data))

    ihdr = struct.pack('>II', 100000, 100000) + bytes([8, 2, 0, 0, 0])
    with open(f'{out}/huge.png', 'wb') as f:
        f.write(b'\x89PNG\r\n\x1a\n' + png_chunk(b'IHDR', ihdr) + png_chunk(b'IDAT', zlib.compress(bytes(1000))) +
                png_chunk(b'IEND', b''))

    small = struct.pack('<6f', *range(6))
    write_pth(f'{out}/storage_claims.pth',
              {'t': FakeTensor(FakeStorage(torch.FloatStorage, '0', 2**40), 0, [2**20, 2**20], [2**20, 1])},
              {'0': small})
    one = FakeStorage(torch.FloatStorage, '0', 1)
    write_pth(f'{out}/broadcasts.pth', {f't{i}': FakeTensor(one, 0, [2**28], [0]) for i in range(8)},
              {'0': struct.pack('<f', 1.5)})
    write_deflate_prefix(f'{out}/deflate_prefix.pth', 1280 << 20)

    torch.manual_seed(0)
    torch.save(torchvision.models.resnet18().state_dict(), f'{out}/resnet18.pth')


if __name__ == '__main__':
    main(sys.argv[1])
