#!/usr/bin/env bash
# The two-GPU run in one device call (issue 15, and the world-size-1 check of issue 14), well
# under 9 minutes on two H200s:
#   (a) full LTX-2 dims, random weights, 512x512x121 with a 5 s reference, 4 steps: the one-GPU
#       fast executor, then pass parallel and sequence parallel (Ulysses) on 2 GPUs from the same
#       state, the model built once per rank -> OUT_DIR/scaleout_x2.jsonl (s/step, speedup to
#       one GPU, peak VRAM per GPU, max relative difference of the final latents);
#   (b) world size 1 on CUDA with NCCL (scaleout_world1.sh) -> OUT_DIR/world1.jsonl;
#   (c) with the time left, sequence parallel with ring attention (cuDNN) -> scaleout_x2.jsonl.
# Usage, from a copy of this repository with diffusers' wheel importable:
#   bash benchmarks/gpu_x2.sh OUT_DIR
# TINY=1: the same steps at the tiny dims on CPU ranks with gloo (a smoke run of this script;
# ring is skipped: it needs a GPU). PY (default python3) is the interpreter.
set -u
out="${1:?usage: gpu_x2.sh OUT_DIR}"
mkdir -p "$out"
py="${PY:-python3}"
export PY="$py"
start=$SECONDS
budget=510 # seconds for the whole script (the device call allows 600)
left() { echo $((budget - (SECONDS - start))); }
tiny=()
[ "${TINY:-0}" = 1 ] && tiny=(--tiny)

{
  nvidia-smi --query-gpu=index,name,memory.total,driver_version --format=csv 2>&1
  "$py" -c 'import torch, diffusers; print("torch", torch.__version__, "cuda", torch.version.cuda,
"gpus", torch.cuda.device_count(), "nccl", torch.cuda.nccl.version() if torch.cuda.is_available() else None,
"diffusers", diffusers.__version__)' 2>&1
} >"$out/env.txt"
cat "$out/env.txt"

echo "== (a) passes, sequence (ulysses) on 2 GPUs beside one GPU"
timeout 300 "$py" benchmarks/gpu_bench.py "${tiny[@]}" --gpus 2 --parallel passes,sequence \
  --steps 4 --out "$out/scaleout_x2.jsonl" >"$out/log_x2.txt" 2>&1
echo "exit: $? ($((SECONDS - start)) s)"
grep -E '^\{|Error|error' "$out/log_x2.txt" | tail -8

echo "== (b) world size 1 on CUDA (NCCL)"
if [ "${TINY:-0}" = 1 ]; then export WORLD1_ARGS="--tiny --steps 3"; fi
t=$(left)
WORLD1_TIMEOUT=$((t < 150 ? t : 150)) bash benchmarks/scaleout_world1.sh "$out"
echo "($((SECONDS - start)) s)"

t=$(($(left) - 10))
if [ "${TINY:-0}" = 1 ]; then
  echo "== (c) ring attention: skipped (needs a GPU)"
elif [ "$t" -gt 60 ]; then
  echo "== (c) sequence (ring) on 2 GPUs, ${t} s left"
  timeout "$t" "$py" benchmarks/gpu_bench.py --gpus 2 --parallel sequence --attention ring \
    --steps 4 --out "$out/scaleout_x2.jsonl" >"$out/log_ring.txt" 2>&1
  echo "exit: $? ($((SECONDS - start)) s)"
  grep -E '^\{|Error|error' "$out/log_ring.txt" | tail -4
else
  echo "== (c) ring attention: skipped, ${t} s left"
fi
