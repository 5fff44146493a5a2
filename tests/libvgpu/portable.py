"""``python -m tests.libvgpu.portable LIB``: exit 0 when LIB is a release libvgpu.so for this
machine's architecture that loads on glibc >= 2.17 (scripts/test checks the wheel's copy)."""

from __future__ import annotations

import platform
import sys
from pathlib import Path

from tests.libvgpu.test_portability import glibc_violations, needed_violations, read_facts

MACHINES = {"x86_64": ("x86_64", "EM_X86_64"), "aarch64": ("aarch64", "EM_AARCH64")}


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m tests.libvgpu.portable LIB", file=sys.stderr)
        return 2
    path = Path(argv[0])
    if not path.is_file():
        print(f"{path}: no such file", file=sys.stderr)
        return 1
    arch, machine = MACHINES.get(platform.machine(), (platform.machine(), "?"))
    facts = read_facts(path)
    problems = [*glibc_violations(facts.version_needs), *needed_violations(facts.needed, arch)]
    if facts.machine != machine:
        problems.append(f"built for {facts.machine}, not {machine}")
    for problem in problems:
        print(f"{path}: {problem}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
