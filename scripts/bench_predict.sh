#!/usr/bin/env bash
# `resnet predict` throughput on a folder of JPEG photos (images/s including decoding and preprocessing) beside
# bench/peers/pytorch_predict.py (PyTorch + PIL doing the same work), same model, weights, batch and threads.
# Usage: scripts/bench_predict.sh [build-dir]; THREADS (2), ROUNDS (3), IMAGES (96), BATCH (16), ARCH (resnet50)
# and OMP_WAIT_POLICY (passive) override. Both engines use GNU OpenMP and run under the same OMP_WAIT_POLICY:
# passive by default, because on a machine shared with other work spinning threads wait for descheduled peers
# (docs/CLI.md, "--threads"); OMP_WAIT_POLICY=active measures libgomp's default. The photos are scikit-image's
# four (astronaut, chelsea, coffee, rocket), cut and scaled into IMAGES ImageNet-like JPEGs of 375x500 to 640x480
# pixels (bench/out/predict/images_IMAGES, made once, with the seeded weights bench/out/predict/ARCH.pth).
#
# Both sides exclude start-up (imports, loading the weights, compiling the plan): PyTorch's script times its loop;
# `resnet predict` is timed as a whole process on all images and on the first BATCH of them, and the throughput is
# (IMAGES - BATCH) / (t_all - t_first), the cost of the images beyond the first batch. CPU ms/image (user +
# system, all threads) is measured the same way on each side; it depends far less on the machine's load.
set -euo pipefail
build=${1:-build}
THREADS=${THREADS:-2}
ROUNDS=${ROUNDS:-3}
IMAGES=${IMAGES:-96}
BATCH=${BATCH:-16}
ARCH=${ARCH:-resnet50}
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-passive}
resnet="$build/resnet"
out=bench/out/predict
dir="$out/images_$IMAGES"
first="$out/first_$BATCH"
weights="$out/$ARCH.pth"
mkdir -p "$out"

if [[ ! -f "$weights" || ! -d "$dir" ]]; then
  /usr/bin/python3 - "$dir" "$IMAGES" "$ARCH" "$weights" <<'PY'
import os, sys
import numpy as np, skimage.data, torch, torchvision
from PIL import Image
folder, count, arch, weights = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
os.makedirs(folder, exist_ok=True)
photos = [Image.fromarray(getattr(skimage.data, n)()) for n in ["astronaut", "chelsea", "coffee", "rocket"]]
rng = np.random.RandomState(0)
for i in range(count):
    photo = photos[i % len(photos)]
    w, h = photo.size
    cw, ch = int(w * rng.uniform(0.6, 1.0)), int(h * rng.uniform(0.6, 1.0))
    x, y = rng.randint(0, w - cw + 1), rng.randint(0, h - ch + 1)
    size = [(500, 375), (640, 480), (375, 500), (600, 400)][i % 4]
    image = photo.crop((x, y, x + cw, y + ch)).resize(size, Image.BICUBIC)
    image.save(os.path.join(folder, f"photo_{i:04d}.jpg"), quality=90)
torch.manual_seed(0)
torch.save(getattr(torchvision.models, arch)().state_dict(), weights)
PY
fi
rm -rf "$first" && mkdir -p "$first"
ls "$dir" | sort | head -n "$BATCH" | while read -r f; do ln -s "$(realpath "$dir/$f")" "$first/$f"; done

median() { sort -g | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
# "<wall seconds> <CPU seconds (user + system of the child, all threads)>" of one run of the command.
timed() {
  /usr/bin/python3 -c 'import resource, subprocess, sys, time
t = time.perf_counter()
subprocess.run(sys.argv[1:], check=True, stdout=subprocess.DEVNULL)
u = resource.getrusage(resource.RUSAGE_CHILDREN)
print(time.perf_counter() - t, u.ru_utime + u.ru_stime)' "$@"
}
field() { /usr/bin/python3 -c 'import json, sys; print(json.load(sys.stdin)[sys.argv[1]])' "$1"; }
predict=("$resnet" predict --arch "$ARCH" --weights "$weights" --threads "$THREADS" --batch "$BATCH" --json)

echo "$(lscpu | grep 'Model name' | sed 's/  */ /g'); threads $THREADS, batch $BATCH, $IMAGES JPEGs," \
  "OMP_WAIT_POLICY=$OMP_WAIT_POLICY, $ROUNDS rounds (median)"
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"
ours=() torch=() ours_cpu=() torch_cpu=()
for ((r = 0; r < ROUNDS; r++)); do
  read -r all all_cpu < <(timed "${predict[@]}" "$dir")
  read -r one one_cpu < <(timed "${predict[@]}" "$first")
  ours+=("$(echo "($IMAGES - $BATCH) / ($all - $one)" | bc -l)")
  ours_cpu+=("$(echo "1000 * ($all_cpu - $one_cpu) / ($IMAGES - $BATCH)" | bc -l)")
  json=$(/usr/bin/python3 bench/peers/pytorch_predict.py --arch "$ARCH" --weights "$weights" --threads "$THREADS" \
    --batch "$BATCH" "$dir")
  torch+=("$(echo "$json" | field images_per_sec)")
  torch_cpu+=("$(echo "$json" | field cpu_seconds | awk -v n="$IMAGES" '{print 1000 * $1 / n}')")
done
o=$(printf '%s\n' "${ours[@]}" | median) t=$(printf '%s\n' "${torch[@]}" | median)
oc=$(printf '%s\n' "${ours_cpu[@]}" | median) tc=$(printf '%s\n' "${torch_cpu[@]}" | median)
printf '%-15s %9s %22s   %s\n' "" "images/s" "CPU ms/image" "rounds (images/s)"
printf '%-15s %9.2f %22.1f   %s\n' "resnet predict" "$o" "$oc" "$(printf '%.2f ' "${ours[@]}")"
printf '%-15s %9.2f %22.1f   %s\n' "pytorch + PIL" "$t" "$tc" "$(printf '%.2f ' "${torch[@]}")"
awk -v a="$o" -v b="$t" -v ac="$oc" -v bc="$tc" 'BEGIN {printf "%-15s %8.2fx %21.2fx\n", "ratio", a / b, bc / ac}'
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
