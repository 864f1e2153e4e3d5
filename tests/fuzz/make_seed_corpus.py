#!/usr/bin/env python3
"""Writes the fuzz harnesses' seed corpora: OUT_DIR/<format>/<name> for every tests/fuzz/seeds/<format>.py,
whose seeds() returns {name: bytes} (a few small valid files of that format and some near-valid ones).
Generated at fuzz time, never committed. Run by /usr/bin/python3 (numpy, torch, PIL).
  make_seed_corpus.py OUT_DIR [FORMAT ...]   (default: every format)"""
import importlib.util
import pathlib
import sys

SEEDS = pathlib.Path(__file__).resolve().parent / "seeds"


def load(format_name):
    spec = importlib.util.spec_from_file_location(f"seeds_{format_name}", SEEDS / f"{format_name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.seeds()


def main():
    out = pathlib.Path(sys.argv[1])
    formats = sys.argv[2:] or sorted(p.stem for p in SEEDS.glob("*.py") if not p.stem.startswith("_"))
    sys.path.insert(0, str(SEEDS))  # the seed modules share helpers (_safetensors.py, ...)
    for name in formats:
        folder = out / name
        folder.mkdir(parents=True, exist_ok=True)
        seeds = load(name)
        for seed_name, data in seeds.items():
            (folder / seed_name).write_bytes(data)
        print(f"{name}: {len(seeds)} seeds in {folder}")


if __name__ == "__main__":
    main()
