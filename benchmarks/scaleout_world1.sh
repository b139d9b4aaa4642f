#!/usr/bin/env bash
# World size 1 on CUDA (NCCL) gives the single-GPU result: one torchrun process runs the one-GPU
# fast executor, then pass parallel through the collective (--always-gather: the x0 estimates
# go through NCCL's all_reduce; measured on an H200: within bf16 noise, 5e-4 video / 1.2e-3
# audio max relative after 3 steps, not bit-equal; cause not investigated) and the
# sequence-parallel executor
# (one rank: diffusers' forward without the hooks; differences within bf16 noise), at small dims
# so it takes well under a minute. Lines go to OUT_DIR/world1.jsonl, the log to
# OUT_DIR/log_world1.txt. From a copy of this repository, with diffusers' wheel installed:
#   bash benchmarks/scaleout_world1.sh OUT_DIR
# PY (default python3) is the interpreter; WORLD1_ARGS replaces the dims (e.g. "--tiny --steps 3"
# for the CPU/gloo smoke run); WORLD1_TIMEOUT (default 150) limits it, in seconds.
set -u
out="${1:-.}"
mkdir -p "$out"
py="${PY:-python3}"
args="${WORLD1_ARGS:---layers 4 --width 256 --height 256 --frames 33 --ref-seconds 2 --text-tokens 256 --stg-block 1 --steps 3}"
# shellcheck disable=SC2086
timeout "${WORLD1_TIMEOUT:-150}" "$py" -m torch.distributed.run --standalone --nproc_per_node 1 \
  benchmarks/gpu_bench.py --gpus 1 --parallel passes,sequence --always-gather $args \
  --out "$out/world1.jsonl" >"$out/log_world1.txt" 2>&1
rc=$?
echo "world size 1: exit $rc"
grep -E '^\{|Error' "$out/log_world1.txt" | tail -8
exit $rc
