"""Data-parallel training under mpirun (issue 16): each case runs `resnet train` in 1 process and under
`mpirun --oversubscribe --allow-run-as-root -np K` (1 compute thread per rank) on a few steps of Fashion-MNIST
and compares the runs' last.safetensors (weights and batch-norm running statistics).

  mpi_train_test.py --resnet BIN --work DIR CASE [ARGS]

CASE: syncbn ARCH STEM      2 and 3 ranks (resnet18: 2) with --sync-bn == 1 process, within 1e-5 relative or
                            twice the float32 summation-order floor (1 process, 2 threads vs 1), if larger
      ddp                   2 ranks without --sync-bn == DDP: one SGD step averages the gradients of two
                            1-process runs, each on one rank's slice alone (its own BN statistics)
      bf16                  2 ranks --precision bf16 --sync-bn run; close to 1 process bf16 (bf16 rounding)
      divisible             --batch-size not divisible by the ranks: one line naming both, exit 2
      bad-data              rank 1 cannot open its data: the launch fails with rank 1's message
      kill-resume           SIGKILL of one rank mid-epoch: mpirun ends the others (< 60 s) naming the rank;
                            the last checkpoint is intact and --resume with 1 rank ends as the 2-rank run
      sigint-resume         Ctrl-C (SIGINT to mpirun's process group; mpirun turns it into SIGTERM to the
                            ranks) mid-epoch: every rank stops (< 60 s),
                            rank 0 alone says so, the last checkpoint is intact and --resume with 2 ranks
                            ends exactly as the uninterrupted run
"""
import argparse
import json
import os
import shutil
import signal
import struct
import subprocess
import sys
import time

import numpy as np

MPIRUN = ["mpirun", "--oversubscribe", "--allow-run-as-root", "-x", "OMP_NUM_THREADS=1"]
# A CIFAR-10-format dataset of random pixels and labels (written by make_data: 5 x 24 training images, 50
# test images): no exact zeros, so no ReLU input sits on its kink in every run alike.
COMMON = ["--dataset", "cifar10", "--test-subset", "50", "--no-augment", "--optimizer", "sgd", "--momentum",
          "0.9", "--schedule", "constant", "--lr", "0.002", "--workers", "0", "--quiet", "--seed", "3"]
TOLERANCE = 1e-5


def make_data(work):
    data = os.path.join(work, "cifar")
    os.makedirs(data, exist_ok=True)
    rng = np.random.default_rng(0)
    for name, n in [(f"data_batch_{i}.bin", 48) for i in range(1, 6)] + [("test_batch.bin", 50)]:
        records = np.concatenate([rng.integers(0, 10, (n, 1), dtype=np.uint8),
                                  rng.integers(0, 256, (n, 3072), dtype=np.uint8)], axis=1)
        with open(os.path.join(data, name), "wb") as f:
            f.write(records.tobytes())
    return data


def read_safetensors(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    out = {}
    kinds = {"F32": np.float32, "I64": np.int64, "BF16": np.uint16, "U8": np.uint8}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        begin, end = info["data_offsets"]
        out[name] = np.frombuffer(data[begin:end], dtype=kinds[info["dtype"]]).reshape(info["shape"])
    return out


def train(args, ranks, out, extra, check=True, timeout=600):
    cmd = [args.resnet, "train", "--out", out, "--data", args.data] + COMMON + extra
    if "--threads" not in extra:
        cmd += ["--threads", "1"]
    if ranks > 0:
        cmd = MPIRUN + ["-np", str(ranks)] + cmd
    env = dict(os.environ, OMP_NUM_THREADS="1")
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)
    if check and r.returncode != 0:
        sys.exit(f"FAIL: {' '.join(cmd)} exited {r.returncode}\n{r.stdout}\n{r.stderr}")
    return r


# Per tensor max |a - b| / max(1, max |b|): relative for the tensors of magnitude >= 1 (BN weights, running
# variances), absolute below (conv weights, and BN biases whose gradient sums cancel to near zero).
def worst_relative(a_path, b_path):
    a, b = read_safetensors(a_path), read_safetensors(b_path)
    assert a.keys() == b.keys(), (sorted(a.keys() ^ b.keys()))
    worst, where = 0.0, ""
    for name in a:
        x, y = a[name].astype(np.float64), b[name].astype(np.float64)
        if a[name].dtype == np.int64:
            assert np.array_equal(x, y), f"{name}: {x} vs {y}"
            continue
        rel = np.max(np.abs(x - y)) / max(np.max(np.abs(y)), 1.0)
        if rel > worst:
            worst, where = rel, name
    return worst, where


def fresh(path):
    shutil.rmtree(path, ignore_errors=True)
    return path


def case_syncbn(args):
    extra = ["--arch", args.arch, "--subset", "120", "--batch-size", "24", "--epochs", "1", "--sync-bn"]
    if args.stem:
        extra += ["--stem", args.stem]
    one = fresh(os.path.join(args.work, f"{args.arch}-1"))
    train(args, 0, one, extra)
    # The floor set by float32 summation order alone: one process with 2 compute threads instead of 1.
    threads = fresh(os.path.join(args.work, f"{args.arch}-1x2"))
    train(args, 0, threads, extra + ["--threads", "2"])
    floor, floor_where = worst_relative(f"{threads}/last.safetensors", f"{one}/last.safetensors")
    print(f"{args.arch} 1 process, 2 threads vs 1 thread (summation order): {floor:.2e} ({floor_where})")
    bound = max(TOLERANCE, 2 * floor)
    for ranks in (2, 3) if args.arch == "resnet20" else (2,):  # resnet18: 2 ranks only (time)
        many = fresh(os.path.join(args.work, f"{args.arch}-{ranks}"))
        train(args, ranks, many, extra)
        worst, where = worst_relative(f"{many}/last.safetensors", f"{one}/last.safetensors")
        print(f"{args.arch} {ranks} ranks vs 1 process: worst relative difference {worst:.2e} ({where})")
        if worst > bound:
            sys.exit(f"FAIL: {ranks} ranks differ from 1 process by {worst:.2e} in {where} (bound {bound:.1e})")
        m1 = open(f"{one}/metrics.csv").read().splitlines()[0]
        mk = open(f"{many}/metrics.csv").read().splitlines()[0]
        assert m1 == mk, (m1, mk)


# The loader's epoch order (src/data/batch_pipeline.h: splitmix64 seeds, std::mt19937_64, Fisher-Yates), to
# know which samples each rank's slice holds.
M64 = (1 << 64) - 1


def mix_seed(x):
    x = (x + 0x9E3779B97F4A7C15) & M64
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & M64
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & M64
    return x ^ (x >> 31)


class Mt19937_64:
    def __init__(self, seed):
        self.mt = [seed & M64] + [0] * 311
        for i in range(1, 312):
            self.mt[i] = (6364136223846793005 * (self.mt[i - 1] ^ (self.mt[i - 1] >> 62)) + i) & M64
        self.i = 312

    def __call__(self):
        if self.i >= 312:
            mt = self.mt
            for k in range(312):
                x = (mt[k] & 0xFFFFFFFF80000000) | (mt[(k + 1) % 312] & 0x7FFFFFFF)
                mt[k] = mt[(k + 156) % 312] ^ (x >> 1) ^ (0xB5026F5AA96619E9 if x & 1 else 0)
            self.i = 0
        y = self.mt[self.i]
        self.i += 1
        y ^= (y >> 29) & 0x5555555555555555
        y ^= (y << 17) & 0x71D67FFFEDA60000
        y ^= (y << 37) & 0xFFF7EEE000000000
        return (y ^ (y >> 43)) & M64


def epoch_order(n, seed, epoch):
    epoch_seed = mix_seed(mix_seed(seed) ^ epoch)
    rng = Mt19937_64(mix_seed(epoch_seed ^ M64))
    order = list(range(n))
    for i in range(n, 1, -1):
        j = rng() % i
        order[i - 1], order[j] = order[j], order[i - 1]
    return order


def write_cifar(folder, records, test):
    os.makedirs(folder, exist_ok=True)
    for i, part in enumerate(np.array_split(records, 5)):
        with open(os.path.join(folder, f"data_batch_{i + 1}.bin"), "wb") as f:
            f.write(part.tobytes())
    shutil.copy(test, os.path.join(folder, "test_batch.bin"))


def case_ddp(args):
    # One SGD step (first momentum step: the buffer is the gradient; no weight decay) of global batch 24: the
    # 2-rank weights must be the mean of the weights of two 1-process steps on each slice alone (the update is
    # linear in the gradient), and rank 0's BN running statistics those of slice 0 (DDP keeps per-rank BN).
    extra = ["--arch", args.arch, "--epochs", "1", "--max-steps-per-epoch", "1", "--wd", "0"]
    if args.stem:
        extra += ["--stem", args.stem]
    ddp = fresh(os.path.join(args.work, "ddp-2"))
    train(args, 2, ddp, extra + ["--subset", "24", "--batch-size", "24"])
    records = np.concatenate([np.fromfile(os.path.join(args.data, f"data_batch_{i}.bin"), np.uint8)
                              for i in range(1, 6)]).reshape(-1, 3073)
    order = epoch_order(24, 3, 0)
    slices = []
    saved_data = args.data
    for r in range(2):
        folder = fresh(os.path.join(args.work, f"ddp-slice{r}-data"))
        write_cifar(folder, records[order[12 * r:12 * (r + 1)]], os.path.join(saved_data, "test_batch.bin"))
        args.data = folder
        out = fresh(os.path.join(args.work, f"ddp-slice{r}"))
        train(args, 0, out, extra + ["--batch-size", "12"])
        slices.append(read_safetensors(f"{out}/last.safetensors"))
    args.data = saved_data
    got = read_safetensors(f"{ddp}/last.safetensors")
    worst, where = 0.0, ""
    for name, value in got.items():
        if value.dtype == np.int64:
            continue
        if "running_" in name:
            want = slices[0][name].astype(np.float64)
        else:
            want = (slices[0][name].astype(np.float64) + slices[1][name]) / 2
        rel = np.max(np.abs(value - want)) / max(np.max(np.abs(want)), 1.0)
        if rel > worst:
            worst, where = rel, name
    print(f"2 ranks (DDP) vs the mean of 1-process steps on each slice: {worst:.2e} ({where})")
    if worst > TOLERANCE:
        sys.exit(f"FAIL: DDP differs from the per-slice reference by {worst:.2e} in {where}")
    # The other BN semantics must not pass: with --sync-bn the statistics are the whole batch's.
    sync = fresh(os.path.join(args.work, "ddp-2-sync"))
    train(args, 2, sync, extra + ["--subset", "24", "--batch-size", "24", "--sync-bn"])
    off, _ = worst_relative(f"{sync}/last.safetensors", f"{ddp}/last.safetensors")
    print(f"--sync-bn differs from DDP by {off:.2e} (must be far above the tolerance)")
    assert off > 100 * TOLERANCE


def case_bf16(args):
    extra = ["--arch", "resnet20", "--subset", "120", "--batch-size", "24", "--epochs", "1", "--sync-bn",
             "--precision", "bf16"]
    one = fresh(os.path.join(args.work, "bf16-1"))
    two = fresh(os.path.join(args.work, "bf16-2"))
    train(args, 0, one, extra)
    train(args, 2, two, extra)
    worst, where = worst_relative(f"{two}/last.safetensors", f"{one}/last.safetensors")
    print(f"bf16 2 ranks vs 1 process: worst relative difference {worst:.2e} ({where})")
    if worst > 1e-2:
        sys.exit(f"FAIL: bf16 2 ranks differ by {worst:.2e} in {where}")


def case_divisible(args):
    out = fresh(os.path.join(args.work, "divisible"))
    r = train(args, 2, out, ["--arch", "resnet20", "--subset", "120", "--batch-size", "25", "--epochs", "1"],
              check=False)
    if r.returncode == 0 or "--batch-size 25 (the global batch) is not divisible by the 2 ranks" not in r.stderr:
        sys.exit(f"FAIL: expected the divisibility error, got exit {r.returncode}\n{r.stderr}")
    assert not os.path.exists(f"{out}/state.safetensors")


def case_bad_data(args):
    out = fresh(os.path.join(args.work, "bad-data"))
    missing = os.path.join(args.work, "no-such-folder")
    base = [args.resnet, "train", "--out", out] + COMMON + ["--arch", "resnet20", "--subset", "120",
                                                            "--batch-size", "24", "--epochs", "1"]
    cmd = MPIRUN + ["-np", "1"] + base + ["--data", args.data, ":", "-np", "1"] + base + ["--data", missing]
    start = time.time()
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    print(r.stderr.strip())
    if r.returncode == 0 or "rank 1 of 2" not in r.stderr or missing not in r.stderr:
        sys.exit(f"FAIL: expected rank 1's error naming {missing}, got exit {r.returncode}\n{r.stderr}")
    print(f"failed in {time.time() - start:.1f} s")


def rank_pids(mpirun_pid):
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == mpirun_pid:
            with open(f"/proc/{entry}/comm") as f:
                if f.read().strip() == "resnet":
                    pids.append(int(entry))
    return sorted(pids)


def two_ranks_into_the_second_epoch(args, out, extra, new_session=False):
    """Launches a 2-rank run into `out` and returns (mpirun's Popen, the two ranks' pids) once the first epoch's
    checkpoint is written and the second epoch has begun."""
    cmd = MPIRUN + ["-np", "2", args.resnet, "train", "--out", out, "--data", args.data, "--threads", "1"] + \
        COMMON + extra
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=new_session)
    deadline = time.time() + 300
    while not os.path.exists(f"{out}/state.safetensors") and time.time() < deadline:
        time.sleep(0.05)
    time.sleep(0.3)  # into the next epoch
    pids = rank_pids(proc.pid)
    if len(pids) != 2:
        proc.kill()
        sys.exit(f"FAIL: expected 2 ranks under mpirun, found {pids}")
    return proc, pids


def expect_kept_checkpoint(out, epochs, event):
    """The interrupted run in `out` committed fewer than `epochs` epochs and its checkpoint reads whole."""
    done = len(open(f"{out}/metrics.csv").read().splitlines()) - 1
    if done >= epochs:
        sys.exit(f"FAIL: the run finished before {event}; the test needs a slower run")
    read_safetensors(f"{out}/state.safetensors")
    print(f"checkpoint of epoch {done} intact")


def expect_exact_resume(args, out, whole, after):
    """`--resume` of the interrupted run in `out` with 2 ranks ends bitwise as the uninterrupted 2-rank run."""
    train(args, 2, out, ["--resume"])
    exact, where = worst_relative(f"{out}/last.safetensors", f"{whole}/last.safetensors")
    print(f"resumed with 2 ranks after {after} vs 2 ranks throughout: {exact:.2e} ({where})")
    if exact != 0.0:
        sys.exit(f"FAIL: resuming with 2 ranks after {after} is not exact: {exact:.2e} in {where}")


def case_kill_resume(args):
    extra = ["--arch", "resnet20", "--batch-size", "24", "--epochs", "3", "--sync-bn"]
    whole = fresh(os.path.join(args.work, "kill-whole"))
    train(args, 2, whole, extra)
    single = fresh(os.path.join(args.work, "kill-single"))
    train(args, 0, single, extra)
    out = fresh(os.path.join(args.work, "kill"))
    proc, pids = two_ranks_into_the_second_epoch(args, out, extra)
    os.kill(pids[1], signal.SIGKILL)
    killed = time.time()
    try:
        _, err = proc.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
        sys.exit("FAIL: the other rank did not exit within 60 s of the SIGKILL")
    print(f"mpirun exited {proc.returncode} {time.time() - killed:.1f} s after the SIGKILL")
    print(err.strip()[-400:])
    if proc.returncode == 0 or "rank 1" not in err or "exited on signal 9" not in err:
        sys.exit(f"FAIL: expected a non-zero exit naming the killed rank 1\n{err}")
    expect_kept_checkpoint(out, epochs=3, event="the SIGKILL")
    again = fresh(os.path.join(args.work, "kill-again"))
    shutil.copytree(out, again)
    expect_exact_resume(args, again, whole, after="the SIGKILL")
    # 1 process continues as 2 ranks would, up to summation order: at most the difference of a whole
    # 1-process run from the 2-rank run (float32 summation order over every epoch, not just the resumed ones).
    train(args, 0, out, ["--resume"])
    worst, where = worst_relative(f"{out}/last.safetensors", f"{whole}/last.safetensors")
    floor, _ = worst_relative(f"{single}/last.safetensors", f"{whole}/last.safetensors")
    print(f"resumed with 1 process vs 2 ranks throughout: {worst:.2e} ({where}); whole runs 1 vs 2: {floor:.2e}")
    if worst > max(TOLERANCE, floor):
        sys.exit(f"FAIL: the resumed run differs by {worst:.2e} in {where}")


def running(pid):
    """Whether process pid runs (a zombie, exited and not yet reaped, does not)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def case_sigint_resume(args):
    # Open MPI starts each rank in its own process group: Ctrl-C reaches mpirun alone, which sends SIGTERM to
    # the ranks about a second later (measured with Open MPI 4.1.4), then SIGKILL. Four epochs left after the
    # SIGINT (~0.7 s each on 2 cores) keep the run going well past that second.
    extra = ["--arch", "resnet20", "--batch-size", "24", "--epochs", "5", "--sync-bn"]
    whole = fresh(os.path.join(args.work, "sigint-whole"))
    train(args, 2, whole, extra)
    out = fresh(os.path.join(args.work, "sigint"))
    # Its own session, as a terminal's foreground job: Ctrl-C signals that process group (mpirun; not the ranks).
    proc, pids = two_ranks_into_the_second_epoch(args, out, extra, new_session=True)
    os.killpg(proc.pid, signal.SIGINT)
    interrupted = time.time()
    try:
        _, err = proc.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        sys.exit("FAIL: the launch did not end within 60 s of the SIGINT")
    print(f"mpirun exited {proc.returncode} {time.time() - interrupted:.1f} s after the SIGINT")
    print(err.strip()[-400:])
    # mpirun may end before its ranks have (they end by themselves, at the next step's reduction).
    while any(running(pid) for pid in pids) and time.time() < interrupted + 60:
        time.sleep(0.1)
    alive = [pid for pid in pids if running(pid)]
    if alive:
        sys.exit(f"FAIL: ranks {alive} still run 60 s after the SIGINT")
    print(f"every rank ended {time.time() - interrupted:.1f} s after the SIGINT")
    # Rank 0 alone says what is kept: at most one such line. mpirun, stopping on the signal, may close its
    # output before it forwards that line (seen once in ~5 runs): the line is not required, the checkpoint is.
    stop_lines = err.count("stopped by SIG")
    if proc.returncode == 0 or stop_lines > 1 or (stop_lines == 1 and "is kept" not in err):
        sys.exit(f"FAIL: expected a non-zero exit and at most rank 0's one line saying what is kept\n{err}")
    expect_kept_checkpoint(out, epochs=5, event="the SIGINT reached the ranks")
    expect_exact_resume(args, out, whole, after="the SIGINT")


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--resnet", required=True)
    p.add_argument("--work", required=True)
    p.add_argument("case")
    p.add_argument("arch", nargs="?", default="resnet20")
    p.add_argument("stem", nargs="?", default="")
    args = p.parse_args()
    os.makedirs(args.work, exist_ok=True)
    args.data = make_data(args.work)
    {"syncbn": case_syncbn, "ddp": case_ddp, "bf16": case_bf16, "divisible": case_divisible, "bad-data": case_bad_data,
     "kill-resume": case_kill_resume, "sigint-resume": case_sigint_resume}[args.case](args)
    # Passed: its run folders go (resnet18's checkpoints are ~0.6 GB a case); a failed case keeps them to look at.
    shutil.rmtree(args.work, ignore_errors=True)
    print("OK")


if __name__ == "__main__":
    main()
