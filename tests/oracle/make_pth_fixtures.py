#!/usr/bin/python3
"""Writes the weight-file fixtures of tests/parsers/ into DIR: .pth files written by torch.save (good, wrapped,
every dtype, strided views, malicious, legacy), hand-assembled broken .pth archives, a safetensors file in the exact
layout of the reference library, and .npy files written by numpy.

Usage: /usr/bin/python3 tests/oracle/make_pth_fixtures.py DIR
Writes into DIR.tmp.<pid> and renames it to DIR, so concurrent test processes never see half a directory.

Tensor values follow a formula the C++ tests recompute: the k-th float tensor of a state dict holds
value[i] = 100 * k + 0.25 * i (row-major), and num_batches_tracked holds 7.
"""
import collections
import io
import json
import os
import pickle
import shutil
import struct
import sys
import zipfile

import numpy as np
import torch


def formula_state_dict():
    torch.manual_seed(0)
    model = torch.nn.Sequential(collections.OrderedDict(
        conv=torch.nn.Conv2d(2, 3, 3), bn=torch.nn.BatchNorm2d(3), fc=torch.nn.Linear(4, 2)))
    sd = model.state_dict()
    k = 0
    for name, t in sd.items():
        if t.dtype == torch.float32:
            t.copy_((100 * k + 0.25 * torch.arange(t.numel(), dtype=torch.float32)).reshape(t.shape))
            k += 1
        else:
            t.fill_(7)
    return model, sd


class Evil:
    """Unpickling this runs `command` in a naive loader."""

    def __init__(self, function, command):
        self.function, self.command = function, command

    def __reduce__(self):
        return (self.function, (self.command,))


# --- hand-assembled archives: torch's own pickle layout, with values torch.save would never write ------------------

class FakeStorage:
    def __init__(self, storage_type, key, numel):
        self.storage_type, self.key, self.numel = storage_type, key, numel


class FakeTensor:
    def __init__(self, storage, offset, size, stride):
        self.args = (storage, offset, tuple(size), tuple(stride), False, collections.OrderedDict())

    def __reduce__(self):
        return (torch._utils._rebuild_tensor_v2, self.args)


class TorchLikePickler(pickle.Pickler):
    tag = 'storage'

    def persistent_id(self, obj):
        if isinstance(obj, FakeStorage):
            return (self.tag, obj.storage_type, obj.key, 'cpu', obj.numel)
        return None


def torch_like_pickle(obj, tag='storage'):
    buffer = io.BytesIO()
    pickler = TorchLikePickler(buffer, protocol=2)
    pickler.tag = tag
    pickler.dump(obj)
    return buffer.getvalue()


def write_archive(path, entries, folder='archive'):
    with zipfile.ZipFile(path, 'w', zipfile.ZIP_STORED) as z:
        for name, data in entries.items():
            z.writestr(f'{folder}/{name}', data)


def archive_entries(path):
    """The entries of a torch.save archive, without their folder."""
    with zipfile.ZipFile(path) as z:
        return {n.split('/', 1)[1]: z.read(n) for n in z.namelist()}


def write_broken_archives(d):
    good = archive_entries(f'{d}/ordered_dict.pth')
    pkl = good['data.pkl']

    def variant(name, changes):
        """The good archive with entries replaced (or removed, for None)."""
        entries = dict(good)
        for key, value in changes.items():
            if value is None:
                del entries[key]
            else:
                entries[key] = value
        write_archive(f'{d}/{name}', entries)

    variant('byteorder_little.pth', {'byteorder': b'little'})  # PyTorch >= 2.1 writes this entry
    variant('byteorder_big.pth', {'byteorder': b'big'})
    variant('no_data_pkl.pth', {'data.pkl': None})
    variant('missing_storage.pth', {'data/0': None})
    variant('short_storage.pth', {'data/0': good['data/0'][:10]})
    # Byte 34 starts BINUNICODE '0.weight'-like key; cut inside its length/text.
    assert pkl[34:35] == b'X'
    variant('truncated_pickle.pth', {'data.pkl': pkl[:40]})
    variant('unknown_opcode.pth', {'data.pkl': b'\x80\x02\xff.'})
    variant('huge_memo.pth', {'data.pkl': b'\x80\x02j\xff\xff\xff\xff.'})
    variant('stack_underflow.pth', {'data.pkl': b'\x80\x02R.'})
    variant('no_stop.pth', {'data.pkl': b'\x80\x02}q\x00'})
    variant('empty_pickle.pth', {'data.pkl': b''})
    variant('newobj.pth', {'data.pkl': b'\x80\x02}q\x00)\x81.'})
    variant('huge_string.pth', {'data.pkl': b'\x80\x02X\xff\xff\xff\x7fabc.'})

    storage = FakeStorage(torch.FloatStorage, '0', 6)
    data = struct.pack('<6f', *range(6))
    write_archive(f'{d}/view_out_of_range.pth', {
        'data.pkl': torch_like_pickle(collections.OrderedDict(t=FakeTensor(storage, 4, [3], [1]))), 'data/0': data})
    write_archive(f'{d}/negative_stride.pth', {
        'data.pkl': torch_like_pickle(collections.OrderedDict(t=FakeTensor(storage, 5, [3], [-1]))), 'data/0': data})
    write_archive(f'{d}/huge_dims.pth', {
        'data.pkl': torch_like_pickle(collections.OrderedDict(
            t=FakeTensor(storage, 0, [2**62, 2**62], [1, 1]))), 'data/0': data})
    write_archive(f'{d}/huge_broadcast.pth', {
        'data.pkl': torch_like_pickle(collections.OrderedDict(t=FakeTensor(storage, 0, [2**40], [0]))), 'data/0': data})
    # Eight views of 2^28 floats (1 GiB each, within the one-view limit) repeating one 4-byte storage: 8 GiB.
    one = FakeStorage(torch.FloatStorage, '0', 1)
    write_archive(f'{d}/many_broadcasts.pth', {
        'data.pkl': torch_like_pickle(collections.OrderedDict(
            (f't{i}', FakeTensor(one, 0, [2**28], [0])) for i in range(8))), 'data/0': struct.pack('<f', 1.5)})
    # A deflated storage of 2^22 floats (16 MiB of zeros but the first, 16 KiB compressed) whose only view is its
    # first element: only that prefix is inflated.
    big = FakeStorage(torch.FloatStorage, '0', 2**22)
    with zipfile.ZipFile(f'{d}/deflated_prefix.pth', 'w', zipfile.ZIP_DEFLATED) as z:
        z.writestr('archive/data.pkl', torch_like_pickle(collections.OrderedDict(t=FakeTensor(big, 0, [1], [1]))))
        z.writestr('archive/data/0', struct.pack('<f', 2.5) + bytes(4 * (2**22 - 1)))
    write_archive(f'{d}/storage_numel_lies.pth', {
        'data.pkl': torch_like_pickle(collections.OrderedDict(
            t=FakeTensor(FakeStorage(torch.FloatStorage, '0', 2**61), 0, [6], [1]))), 'data/0': data})
    write_archive(f'{d}/not_a_tensor.pth', {'data.pkl': torch_like_pickle(collections.OrderedDict(a=3))})
    write_archive(f'{d}/bad_persistent_id.pth', {
        'data.pkl': torch_like_pickle(collections.OrderedDict(t=FakeTensor(storage, 0, [6], [1])), tag='module'),
        'data/0': data})
    write_archive(f'{d}/odd_folder.pth', good, folder='some/deep/folder')

    # A byte of a storage flipped after the archive was written: the zip CRC no longer matches.
    shutil.copy(f'{d}/ordered_dict.pth', f'{d}/crc_mismatch.pth')
    with zipfile.ZipFile(f'{d}/crc_mismatch.pth') as z:
        info = next(i for i in z.infolist() if i.filename.endswith('/data/0'))
    with open(f'{d}/crc_mismatch.pth', 'r+b') as f:
        f.seek(info.header_offset + 26)
        name_len, extra_len = struct.unpack('<HH', f.read(4))
        f.seek(info.header_offset + 30 + name_len + extra_len)
        byte = f.read(1)
        f.seek(-1, 1)
        f.write(bytes([byte[0] ^ 0xff]))


# --- safetensors in the reference library's exact layout --------------------------------------------------------

def write_reference_safetensors(path, tensors, metadata):
    """safetensors.torch.save_file: tensors sorted by (alignment desc, name), compact JSON with __metadata__ first,
    header padded with spaces to a multiple of 8."""
    order = sorted(tensors.items(), key=lambda kv: (-kv[1].element_size(), kv[0]))
    names = {torch.float32: 'F32', torch.bfloat16: 'BF16', torch.int64: 'I64', torch.int8: 'I8', torch.uint8: 'U8',
             torch.float16: 'F16', torch.float64: 'F64', torch.int32: 'I32'}
    header, offset, blobs = {'__metadata__': metadata}, 0, []
    for name, t in order:
        blob = t.contiguous().reshape(-1).view(torch.uint8).numpy().tobytes()
        header[name] = {'dtype': names[t.dtype], 'shape': list(t.shape), 'data_offsets': [offset, offset + len(blob)]}
        offset += len(blob)
        blobs.append(blob)
    text = json.dumps(header, separators=(',', ':')).encode()
    text += b' ' * ((8 - len(text) % 8) % 8)
    with open(path, 'wb') as f:
        f.write(struct.pack('<Q', len(text)) + text + b''.join(blobs))


def main(out):
    tmp = f'{out}.tmp.{os.getpid()}'
    shutil.rmtree(tmp, ignore_errors=True)
    os.makedirs(tmp)
    d = tmp
    model, sd = formula_state_dict()

    torch.save(sd, f'{d}/ordered_dict.pth')  # folder "ordered_dict/"
    buffer = io.BytesIO()
    torch.save(sd, buffer)  # folder "archive/"
    open(f'{d}/archive_folder.pth', 'wb').write(buffer.getvalue())
    torch.save({'epoch': 3, 'arch': 'tiny', 'state_dict': sd}, f'{d}/wrapped_state_dict.pth')
    torch.save({'model': sd, 'epoch': 3}, f'{d}/wrapped_model.pth')
    torch.save(sd, f'{d}/protocol4.pth', pickle_protocol=4)
    torch.save(sd, f'{d}/legacy.pth', _use_new_zipfile_serialization=False)
    torch.save(model, f'{d}/full_model.pth')
    torch.save([1, 2], f'{d}/top_level_list.pth')
    torch.save(collections.OrderedDict(w=torch.nn.Parameter(torch.arange(4.0))), f'{d}/parameter.pth')

    values = [1.5, -2.0, 0.25, 3.0, 65504.0, -0.0]
    torch.save(collections.OrderedDict(
        f32=torch.tensor(values, dtype=torch.float32), bf16=torch.tensor(values, dtype=torch.bfloat16),
        f16=torch.tensor(values, dtype=torch.float16), f64=torch.tensor(values, dtype=torch.float64),
        i64=torch.tensor([1, -2, 3, 2**40, -2**40, 0], dtype=torch.int64),
        i32=torch.tensor([1, -2, 3, 2**30, -2**30, 0], dtype=torch.int32),
        i16=torch.tensor([1, -2, 3, 300, -300, 0], dtype=torch.int16),
        i8=torch.tensor([1, -2, 3, 100, -100, 0], dtype=torch.int8),
        u8=torch.tensor([1, 2, 3, 200, 255, 0], dtype=torch.uint8),
        bool=torch.tensor([True, False, True, True, False, False])), f'{d}/dtypes.pth')

    base = torch.arange(24, dtype=torch.float32).reshape(4, 6)
    torch.save(collections.OrderedDict(
        slice=base[:, 1:3], transposed=base.t(), row=base[2], whole=base, expanded=torch.arange(3.0).expand(2, 3),
        scalar=torch.tensor(5.0), empty=torch.zeros(0, 3)), f'{d}/views.pth')

    marker = f'{os.path.abspath(out)}.pwned'
    torch.save(collections.OrderedDict(x=Evil(os.system, f'touch {marker}')), f'{d}/malicious.pth')
    torch.save(collections.OrderedDict(x=Evil(eval, f'open({marker!r}, "w")')), f'{d}/malicious_eval.pth',
               pickle_protocol=4)
    write_broken_archives(d)

    write_reference_safetensors(f'{d}/reference.safetensors', {
        'conv.weight': torch.arange(12, dtype=torch.float32).reshape(3, 1, 2, 2) * 0.5,
        'bn.num_batches_tracked': torch.tensor(7),
        'half': torch.tensor([1.5, -2.0], dtype=torch.bfloat16),
        'codes': torch.tensor([-1, 2, -3], dtype=torch.int8),
        'empty': torch.zeros(0, 4)}, {'format': 'pt'})

    a = (np.arange(6, dtype=np.float32).reshape(2, 3) * 0.5)
    np.save(f'{d}/numpy_2d.npy', a)
    np.save(f'{d}/numpy_1d.npy', np.arange(5, dtype=np.float32))
    np.save(f'{d}/numpy_scalar.npy', np.float32(2.5))
    np.save(f'{d}/numpy_f8.npy', a.astype(np.float64))
    np.save(f'{d}/numpy_fortran.npy', np.asfortranarray(a))
    np.save(f'{d}/numpy_big_endian.npy', a.astype('>f4'))
    np.save(f'{d}/numpy_int.npy', np.arange(6, dtype=np.int64))
    with open(f'{d}/numpy_v2.npy', 'wb') as f:
        np.lib.format.write_array(f, a, version=(2, 0))
    with open(f'{d}/numpy_v3.npy', 'wb') as f:
        np.lib.format.write_array(f, a, version=(3, 0))

    try:
        os.rename(tmp, out)
    except OSError:  # another process got there first
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == '__main__':
    main(sys.argv[1])
