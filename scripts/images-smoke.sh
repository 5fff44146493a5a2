#!/usr/bin/env bash
# Build both images for real without a registry and run them under a real OCI runtime:
#   a Debian bookworm base made by debootstrap (python3 + venv) -> buildah image,
#   `make images`' Dockerfiles built by buildah on that base,
#   `hami --help` (control plane, as its non-root user) and `hami device-plugin --print-config`
#   (device plugin, with /opt/hami/libvgpu.so) run by runc.
# Needs root, network (Debian mirror, PyPI), and: apt-get install buildah debootstrap runc.
# Measured on the shared 2-core dev machine (vfs storage): apt-get install 13 s, debootstrap 83 s
# (cached in $HAMI_BASE_ROOTFS afterwards), libvgpu release 31 s, the two builds 60-80 s each,
# the runc checks 12-15 s each: about 3 min with the base cached, 4.5 min without.
set -euo pipefail
cd "$(dirname "$0")/.."

SD=(--storage-driver "${STORAGE_DRIVER:-vfs}")
ROOTFS=${HAMI_BASE_ROOTFS:-/var/tmp/hami-base-rootfs}
BASE=localhost/hami-base:bookworm
TAG=$(python3 -c "import tomllib;print(tomllib.load(open('pyproject.toml','rb'))['project']['version'])")
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
# RUN steps see the host's pip configuration and CA bundle (TLS-intercepting proxies, mirrors).
VOLS=()
for f in /etc/pip.conf /etc/ssl/certs/ca-certificates.crt; do
  [[ -f $f ]] && VOLS+=(-v "$f:$f:ro")
done
step() { printf '== %s\n' "$*"; SECONDS=0; }
took() { printf '   %ss\n' "$SECONDS"; }

if [[ ! -x $ROOTFS/usr/bin/python3 ]]; then
  step "debootstrap bookworm -> $ROOTFS"
  debootstrap --variant=minbase --include=python3,python3-venv,ca-certificates bookworm "$ROOTFS" "$MIRROR" >/dev/null
  took
fi
if ! buildah "${SD[@]}" inspect --type image "$BASE" >/dev/null 2>&1; then
  step "base image $BASE"
  ctr=$(buildah "${SD[@]}" from scratch)
  mnt=$(buildah "${SD[@]}" mount "$ctr")
  cp -a "$ROOTFS/." "$mnt/"
  rm -rf "$mnt"/var/cache/apt/archives/*.deb "$mnt"/var/lib/apt/lists/*
  buildah "${SD[@]}" umount "$ctr" >/dev/null
  buildah "${SD[@]}" commit -q "$ctr" "$BASE" >/dev/null
  buildah "${SD[@]}" rm "$ctr" >/dev/null
  took
fi

step "libvgpu release build"
make -s -C libvgpu release-x86_64 >/dev/null
took
for image in control-plane device-plugin; do
  name=hami/hami; [[ $image == device-plugin ]] && name=hami/hami-device-plugin
  step "buildah build $name:$TAG"
  buildah "${SD[@]}" build -q --isolation chroot "${VOLS[@]}" -f "images/Dockerfile.$image" \
    --build-arg "BASE_IMAGE=$BASE" -t "localhost/$name:$TAG" . >/dev/null
  took
done

run() {  # run IMAGE CMD... under runc
  local ctr rc=0
  ctr=$(buildah "${SD[@]}" from "$1"); shift
  buildah "${SD[@]}" run --isolation oci --runtime "$(command -v runc)" "$ctr" -- "$@" || rc=$?
  buildah "${SD[@]}" rm "$ctr" >/dev/null
  return $rc
}
step "runc: hami --help (control plane)"
run "localhost/hami/hami:$TAG" hami --help | grep -q 'scheduler-config'
[[ $(run "localhost/hami/hami:$TAG" id -u) == 65532 ]]
took
step "runc: hami device-plugin --print-config (device plugin)"
run "localhost/hami/hami-device-plugin:$TAG" hami device-plugin --node-name n1 --fake-gpus 1 --print-config | grep -q '"node_name": "n1"'
run "localhost/hami/hami-device-plugin:$TAG" test -s /opt/hami/libvgpu.so
took
echo "images OK"
