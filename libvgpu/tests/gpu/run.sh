#!/usr/bin/env bash
# GPU check for a lent machine with PyTorch (never run in CI). Builds libvgpu if needed, then measures:
#   - memory cap as PyTorch sees it and enforces it (4 GiB cap: 3 GiB fits, 5 GiB raises OOM) with the
#     default allocator, expandable_segments:True and backend:cudaMallocAsync;
#   - compute cap accuracy at 25/50/75 % on a matmul loop (throughput share vs no hook);
#   - overhead of an uncapped small training loop vs no hook.
# Writes $OUT/libvgpu-gpu-check.json (OUT defaults to ./build/gpu-check). A few minutes in total.
# The machine may be offline: carry libvgpu/third_party (headers) or libvgpu/build with the tree.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../../.." && pwd)
OUT=${OUT:-$repo/build/gpu-check}
mkdir -p "$OUT"
lib="$repo/libvgpu/build/libvgpu.so"
if [ ! -f "$lib" ] || [ "${REBUILD:-0}" = 1 ]; then
    make -C "$repo/libvgpu" lib >&2
fi
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader >&2 || true
exec python3 "$here/gpu_check.py" --lib "$lib" --out "$OUT/libvgpu-gpu-check.json" "$@"
