"""The CPU a benchmark table ran on, as every table of bench/peers and scripts/bench_train.sh prints it: lscpu's
model name and the flags that decide which kernels the engines can use (bf16 dot products, AMX tiles, VNNI int8).

  python3 bench/peers/cpu_info.py   ->   CPU: AMD EPYC 9R14 (2 CPUs); avx512_bf16 yes, amx_bf16 no, ...
"""
import subprocess

FLAGS = ("avx512f", "avx512_bf16", "avx512_vnni", "amx_bf16", "amx_int8", "amx_tile")


def lscpu():
    """lscpu's fields as a dict ({} when lscpu is missing)."""
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return {}
    fields = {}
    for line in out.splitlines():
        key, sep, value = line.partition(":")
        if sep:
            fields.setdefault(key.strip(), value.strip())
    return fields


def cpu_line():
    f = lscpu()
    flags = set(f.get("Flags", "").split())
    have = ", ".join(f"{name} {'yes' if name in flags else 'no'}" for name in FLAGS)
    return f"CPU: {f.get('Model name', 'unknown')} ({f.get('CPU(s)', '?')} CPUs); {have}"


if __name__ == "__main__":
    print(cpu_line())
