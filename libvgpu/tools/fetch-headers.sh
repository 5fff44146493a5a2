#!/bin/sh
# Fetch NVIDIA's CUDA 13 driver-API and NVML headers from pinned PyPI wheels into
# libvgpu/third_party/ (gitignored). The headers are never committed: they carry NVIDIA's licence.
# Usage: tools/fetch-headers.sh [DEST]   (DEST defaults to ../third_party relative to this script)
set -eu
CUDA_RT_VERSION="13.5.37"   # nvidia-cuda-runtime (CUDA 13 wheel, headers in nvidia/cu13/include)
NVML_DEV_VERSION="13.5.37"  # nvidia-nvml-dev (nvml.h)

here=$(cd "$(dirname "$0")" && pwd)
dest=${1:-"$here/../third_party"}
PIP=${PIP:-}
if [ -z "$PIP" ]; then
    for cand in "python3 -m pip" "pip3" "pip"; do
        if $cand --version >/dev/null 2>&1; then PIP=$cand; break; fi
    done
fi
[ -n "$PIP" ] || { echo "fetch-headers: no pip found (set PIP=...)" >&2; exit 1; }
PYTHON=${PYTHON:-python3}
# extract WHEEL PATTERN DIR: the members matching PATTERN, flattened into DIR (unzip -j, or Python)
extract() {
    if command -v unzip >/dev/null 2>&1; then
        unzip -q -o -j "$1" "$2" -d "$3"
    else
        "$PYTHON" - "$1" "$2" "$3" <<'PY'
import fnmatch, os, sys, zipfile
wheel, pattern, dest = sys.argv[1:]
with zipfile.ZipFile(wheel) as z:
    for name in z.namelist():
        if fnmatch.fnmatch(name, pattern) and not name.endswith("/"):
            with open(os.path.join(dest, os.path.basename(name)), "wb") as out:
                out.write(z.read(name))
PY
    fi
}

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT INT TERM
$PIP download --quiet --no-deps --only-binary=:all: --dest "$tmp" \
    "nvidia-cuda-runtime==$CUDA_RT_VERSION" "nvidia-nvml-dev==$NVML_DEV_VERSION"

mkdir -p "$dest/cuda/include" "$dest/nvml/include"
for whl in "$tmp"/nvidia_cuda_runtime-*.whl; do
    extract "$whl" 'nvidia/cu13/include/*.h' "$dest/cuda/include"
done
for whl in "$tmp"/nvidia_nvml_dev-*.whl; do
    extract "$whl" '*/nvml.h' "$dest/nvml/include"
done
test -f "$dest/cuda/include/cuda.h" && test -f "$dest/nvml/include/nvml.h"
echo "$CUDA_RT_VERSION $NVML_DEV_VERSION" > "$dest/VERSIONS"
echo "fetch-headers: cuda.h and nvml.h in $dest"
