"""What the fixture scripts share: whole files written atomically (temp name + rename, so a killed run leaves no
half-written fixture), and the stamp that makes a script idempotent.

    want = stamp()                                   # the script's own: its source and the library versions
    out = out_dir_to_fill("make_x_fixtures", want)   # OUT_DIR from the command line, or None when up to date
    if out is None:
        return 0
    ...                                              # write the fixtures
    save_json(os.path.join(out, "stamp.json"), want)  # last: its presence means every file above is complete
"""
import hashlib
import io
import json
import os
import sys

import numpy as np


def save_bytes(path, data):
    tmp = f"{path}.tmp"
    with open(tmp, "wb") as f:
        f.write(data)
    os.replace(tmp, path)


def save_npy(path, array):
    buffer = io.BytesIO()
    np.save(buffer, np.ascontiguousarray(array, dtype=np.float32))
    save_bytes(path, buffer.getvalue())


def save_text(path, text):
    save_bytes(path, text.encode())


def save_json(path, value):
    save_text(path, json.dumps(value, indent=1) + "\n")


def out_dir_to_fill(script, want):
    """OUT_DIR (the only argument) when its fixtures must be made; None when OUT_DIR/stamp.json equals `want`.
    An outdated stamp is removed first, so an interrupted run is never taken for a complete one. Bad usage: exit 2."""
    if len(sys.argv) != 2:
        sys.stderr.write(f"usage: {script}.py OUT_DIR\n")
        sys.exit(2)
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    stamp_path = os.path.join(out, "stamp.json")
    try:
        with open(stamp_path) as f:
            if json.load(f) == want:
                print(f"{script}: {out} is up to date")
                return None
    except (OSError, ValueError):
        pass
    if os.path.exists(stamp_path):
        os.remove(stamp_path)
    return out


def photo_script_stamp(script_file, fixtures_version):
    """The stamp of a script that makes fixtures from photos with torch, torchvision, Pillow and scikit-image: the
    script's own bytes and those libraries' versions."""
    import PIL
    import skimage
    import torch
    import torchvision

    with open(os.path.abspath(script_file), "rb") as f:
        digest = hashlib.sha256(f.read()).hexdigest()
    return {"fixtures_version": fixtures_version, "script_sha256": digest, "torch": torch.__version__,
            "torchvision": torchvision.__version__, "pillow": PIL.__version__, "skimage": skimage.__version__}
