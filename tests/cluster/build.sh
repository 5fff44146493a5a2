#!/usr/bin/env bash
# Build stock kube-apiserver, kube-scheduler, kube-controller-manager and kubelet from
# Kubernetes' Go modules (pinned in go.mod) into a cache outside the repository:
#   ${HAMI_KUBE_CACHE:-~/.cache/hami-kube}/<version>/{kube-apiserver,kube-scheduler,...}
# Skipped when the cache already holds all four. Prints the bin directory on stdout.
# --check: only report whether they are built (exit 3 if not), never build.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
version=$(awk '$1 == "k8s.io/kubernetes" && $2 ~ /^v/ {print $2} $1 == "require" && $2 == "k8s.io/kubernetes" {print $3}' "$here/go.mod" | head -1)
[[ -n $version ]] || { echo "build.sh: no k8s.io/kubernetes version in go.mod" >&2; exit 1; }
cache=${HAMI_KUBE_CACHE:-$HOME/.cache/hami-kube}
bin=$cache/$version
components=(kube-apiserver kube-scheduler kube-controller-manager kubelet)

have_all() {
  local c
  for c in "${components[@]}"; do [[ -x $bin/$c ]] || return 1; done
  [[ -f $bin/.stamp && $(cat "$bin/.stamp") == "$(sha256sum "$here/go.sum" | cut -c1-16)" ]]
}

if have_all; then
  echo "$bin"
  exit 0
fi
if [[ ${1:-} == --check ]]; then
  echo "Kubernetes $version binaries are not built in $bin: run 'bash tests/cluster/build.sh'" \
       "(scripts/test does it; the cold build takes ~8 min on 2 cores)" >&2
  exit 3
fi
command -v go >/dev/null || { echo "build.sh: go is not installed (needed to build Kubernetes $version)" >&2; exit 1; }

major=${version#v}; major=${major%%.*}
minor=${version#v*.}; minor=${minor%%.*}
ldflags="-s -w"
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  ldflags+=" -X $pkg.gitVersion=$version -X $pkg.gitMajor=$major -X $pkg.gitMinor=$minor"
  ldflags+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=1970-01-01T00:00:00Z"
done

tmp=$(mktemp -d "$cache/.build.XXXXXX" 2>/dev/null || { mkdir -p "$cache" && mktemp -d "$cache/.build.XXXXXX"; })
trap 'rm -rf "$tmp"' EXIT
start=$SECONDS
echo "build.sh: building Kubernetes $version into $bin (cold build takes several minutes)" >&2
(
  cd "$here"
  # One invocation, so packages shared by the four commands compile once.
  CGO_ENABLED=${CGO_ENABLED:-1} GOFLAGS="${GOFLAGS:-} -mod=readonly -trimpath -buildvcs=false" \
    go build -ldflags "$ldflags" -o "$tmp/" ./cmd/...
)
sha256sum "$here/go.sum" | cut -c1-16 > "$tmp/.stamp"
mkdir -p "$bin"
for c in "${components[@]}"; do mv -f "$tmp/$c" "$bin/$c"; done
mv -f "$tmp/.stamp" "$bin/.stamp"
echo "build.sh: built in $((SECONDS - start)) s" >&2
echo "$bin"
