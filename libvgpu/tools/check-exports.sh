#!/bin/sh
# Check that libvgpu.map, the hook list (src/hooks.def) and, if given, the built library's dynamic
# symbol table name exactly the same exported functions.
# Usage: tools/check-exports.sh CC [LIB]   (CC is accepted for compatibility; unused)
set -eu
here=$(cd "$(dirname "$0")/.." && pwd)
lib=${2:-}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT INT TERM
# expected: hooked names from the X-macro list plus the two non-hook exports
sed -n -e 's/^VGPU_CU(\([A-Za-z0-9_]*\),.*/\1/p' -e 's/^VGPU_NVML(\([A-Za-z0-9_]*\)).*/\1/p' \
    "$here/src/hooks.def" > "$tmp/list"
printf 'dlsym\nhami_vgpu_set_test_hooks\n' >> "$tmp/list"
sort -u "$tmp/list" > "$tmp/expected"
sed -n 's/^[[:space:]]*\([A-Za-z_][A-Za-z0-9_]*\);[[:space:]]*$/\1/p' "$here/libvgpu.map" | sort -u > "$tmp/map"
if ! cmp -s "$tmp/expected" "$tmp/map"; then
    echo "check-exports: libvgpu.map does not match src/hooks.def (< hooks.def, > map):" >&2
    diff "$tmp/expected" "$tmp/map" >&2 || true
    exit 1
fi
if [ -n "$lib" ]; then
    nm -D --defined-only "$lib" | awk '$2 == "T" || $2 == "W" || $2 == "i" {print $3}' | sort -u > "$tmp/lib"
    if ! cmp -s "$tmp/expected" "$tmp/lib"; then
        echo "check-exports: $lib exports differ from src/hooks.def (< hooks.def, > library):" >&2
        diff "$tmp/expected" "$tmp/lib" >&2 || true
        exit 1
    fi
fi
echo "check-exports: $(wc -l < "$tmp/expected") exports consistent"
