#!/usr/bin/env bash
# World size 1 on CUDA (NCCL) gives the single-GPU result: pass parallel through the collective
# (--always-gather) and sequence parallel, under torchrun with one process, at small dims.
# On the device machine, from a copy of this repository, with diffusers' wheel installed:
#   bash benchmarks/scaleout_world1.sh OUT_DIR
set -u
out="${1:-.}"
A="--layers 4 --width 256 --height 256 --frames 33 --ref-seconds 2 --text-tokens 256 --stg-block 1 --steps 3"
for mode in "passes --always-gather" "sequence"; do
  name="${mode%% *}"
  # shellcheck disable=SC2086
  timeout 105 python3 -m torch.distributed.run --nproc_per_node 1 benchmarks/gpu_bench.py \
    --gpus 1 --parallel $mode $A --out "$out/world1.jsonl" >"$out/log_$name.txt" 2>&1
  echo "exit $name: $?"
  grep -E '^\{|Error' "$out/log_$name.txt" | tail -6
done
