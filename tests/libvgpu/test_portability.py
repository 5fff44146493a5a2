"""The release libvgpu.so must load in any user image: glibc >= 2.17, x86-64 and aarch64 (issue 6).

`make -C libvgpu release` builds both libraries with Zig's C compiler against glibc 2.17
symbol-version stubs. These tests read each library's dynamic section, version needs and dynamic
symbol table (pyelftools) and fail on anything the loader of an old image would refuse or that
would leak into the application: a GLIBC version above 2.17, a dependency beyond libc, libdl and
libpthread (and the dynamic loader itself, needed for __tls_get_addr), a DT_RUNPATH/DT_RPATH, or an
export outside libvgpu.map.
"""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest
from elftools.elf.dynamic import DynamicSection
from elftools.elf.elffile import ELFFile
from elftools.elf.gnuversions import GNUVerNeedSection
from elftools.elf.sections import SymbolTableSection

REPO = Path(__file__).resolve().parents[2]
LIBVGPU = REPO / "libvgpu"
BUILD = LIBVGPU / "build"
DEBUG_LIBRARY = BUILD / "libvgpu.so"
MAP = LIBVGPU / "libvgpu.map"
BASELINE = (2, 17)

# arch -> (e_machine, the dynamic loader's soname)
ARCHS = {
    "x86_64": ("EM_X86_64", "ld-linux-x86-64.so.2"),
    "aarch64": ("EM_AARCH64", "ld-linux-aarch64.so.1"),
}
LIBC_FAMILY = frozenset({"libc.so.6", "libdl.so.2", "libpthread.so.0"})
_GLIBC = re.compile(r"GLIBC_(\d+(?:\.\d+)+)")


@dataclass(frozen=True)
class LibFacts:
    """What the dynamic loader and the application see of one shared library."""

    elf_class: int
    elf_type: str
    machine: str
    soname: str | None
    needed: tuple[str, ...]
    search_paths: tuple[str, ...]  # DT_RPATH and DT_RUNPATH values
    version_needs: tuple[tuple[str, str], ...]  # (file, version name)
    exports: frozenset[str]


def read_facts(path: Path) -> LibFacts:
    with path.open("rb") as f:
        elf = ELFFile(f)
        needed: list[str] = []
        paths: list[str] = []
        soname = None
        dyn = elf.get_section_by_name(".dynamic")
        assert isinstance(dyn, DynamicSection), f"{path}: no .dynamic section"
        for tag in dyn.iter_tags():
            kind = tag.entry.d_tag
            if kind == "DT_NEEDED":
                needed.append(_tag_text(tag, "needed"))
            elif kind in ("DT_RPATH", "DT_RUNPATH"):
                paths.append(_tag_text(tag, kind[3:].lower()))
            elif kind == "DT_SONAME":
                soname = _tag_text(tag, "soname")
        needs: list[tuple[str, str]] = []
        verneed = elf.get_section_by_name(".gnu.version_r")
        if isinstance(verneed, GNUVerNeedSection):
            for need, auxes in verneed.iter_versions():
                needs.extend((str(need.name), str(aux.name)) for aux in auxes)
        dynsym = elf.get_section_by_name(".dynsym")
        assert isinstance(dynsym, SymbolTableSection), f"{path}: no .dynsym section"
        exports = frozenset(
            sym.name
            for sym in dynsym.iter_symbols()
            if sym.name
            and sym["st_shndx"] != "SHN_UNDEF"
            and sym["st_info"]["bind"] in ("STB_GLOBAL", "STB_WEAK")
            and sym["st_other"]["visibility"] in ("STV_DEFAULT", "STV_PROTECTED")
        )
        return LibFacts(
            elf_class=elf.elfclass,
            elf_type=elf["e_type"],
            machine=elf["e_machine"],
            soname=soname,
            needed=tuple(needed),
            search_paths=tuple(paths),
            version_needs=tuple(needs),
            exports=exports,
        )


def _tag_text(tag: object, attr: str) -> str:
    """pyelftools sets the string of a string-valued tag as an attribute named after it."""
    return str(getattr(tag, attr))


def glibc_violations(needs: tuple[tuple[str, str], ...]) -> list[str]:
    """Version needs an old glibc cannot satisfy: GLIBC_x.y above the baseline, or unnumbered."""
    bad = []
    for file, name in needs:
        m = _GLIBC.fullmatch(name)
        if m is None or tuple(int(p) for p in m.group(1).split(".")) > BASELINE:
            bad.append(f"{name} ({file})")
    return bad


def needed_violations(needed: tuple[str, ...], arch: str) -> list[str]:
    allowed = LIBC_FAMILY | {ARCHS[arch][1]}
    return [n for n in needed if n not in allowed]


def map_exports(text: str) -> frozenset[str]:
    """Names in the `global:` part of a version script."""
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    m = re.search(r"global:(.*?)(?:local:|\})", text, flags=re.S)
    assert m is not None, "version script has no global: section"
    return frozenset(n.strip() for n in m.group(1).split(";") if n.strip())


@pytest.fixture(scope="session")
def release() -> dict[str, LibFacts]:
    proc = subprocess.run(
        ["make", "-C", str(LIBVGPU), "release", "-j2"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, f"make release:\n{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}"
    return {arch: read_facts(BUILD / arch / "libvgpu.so") for arch in ARCHS}


ARCH_IDS = list(ARCHS)


@pytest.mark.parametrize("arch", ARCH_IDS, ids=ARCH_IDS)
def test_release_is_a_shared_library_for_its_arch(release: dict[str, LibFacts], arch: str) -> None:
    facts = release[arch]
    assert (facts.elf_class, facts.elf_type, facts.machine) == (64, "ET_DYN", ARCHS[arch][0])
    assert facts.soname == "libvgpu.so"


@pytest.mark.parametrize("arch", ARCH_IDS, ids=ARCH_IDS)
def test_release_needs_nothing_above_glibc_2_17(release: dict[str, LibFacts], arch: str) -> None:
    facts = release[arch]
    assert facts.version_needs, "no version needs at all: not linked against glibc?"
    assert glibc_violations(facts.version_needs) == []


@pytest.mark.parametrize("arch", ARCH_IDS, ids=ARCH_IDS)
def test_release_depends_only_on_the_libc_family(release: dict[str, LibFacts], arch: str) -> None:
    facts = release[arch]
    assert "libc.so.6" in facts.needed
    assert needed_violations(facts.needed, arch) == []
    assert facts.search_paths == ()  # no DT_RPATH / DT_RUNPATH


@pytest.mark.parametrize("arch", ARCH_IDS, ids=ARCH_IDS)
def test_release_exports_exactly_the_version_script(
    release: dict[str, LibFacts], kit_build: None, arch: str
) -> None:
    expected = map_exports(MAP.read_text())
    assert release[arch].exports == expected
    assert read_facts(DEBUG_LIBRARY).exports == expected  # the same set as the debug build


# Synthetic inputs proving each check can fail.
GLIBC_CASES = [
    ("ok-2.2.5", ("libc.so.6", "GLIBC_2.2.5"), False),
    ("ok-2.17", ("libc.so.6", "GLIBC_2.17"), False),
    ("ok-2.3", ("ld-linux-x86-64.so.2", "GLIBC_2.3"), False),
    ("bad-2.18", ("libc.so.6", "GLIBC_2.18"), True),
    ("bad-2.34", ("libc.so.6", "GLIBC_2.34"), True),
    ("bad-private", ("libc.so.6", "GLIBC_PRIVATE"), True),
    ("bad-gcc", ("libgcc_s.so.1", "GCC_3.0"), True),
]


@pytest.mark.parametrize(
    ("need", "bad"), [c[1:] for c in GLIBC_CASES], ids=[c[0] for c in GLIBC_CASES]
)
def test_glibc_check_flags_new_versions(need: tuple[str, str], bad: bool) -> None:
    assert bool(glibc_violations((need,))) is bad


NEEDED_CASES = [
    ("x86-libc", "x86_64", "libc.so.6", False),
    ("x86-loader", "x86_64", "ld-linux-x86-64.so.2", False),
    ("x86-arm-loader", "x86_64", "ld-linux-aarch64.so.1", True),
    ("arm-pthread", "aarch64", "libpthread.so.0", False),
    ("arm-loader", "aarch64", "ld-linux-aarch64.so.1", False),
    ("stdcxx", "x86_64", "libstdc++.so.6", True),
    ("gcc_s", "aarch64", "libgcc_s.so.1", True),
    ("libm", "x86_64", "libm.so.6", True),
]


@pytest.mark.parametrize(
    ("arch", "name", "bad"), [c[1:] for c in NEEDED_CASES], ids=[c[0] for c in NEEDED_CASES]
)
def test_needed_check_flags_unexpected_libraries(arch: str, name: str, bad: bool) -> None:
    assert bool(needed_violations(("libc.so.6", name), arch)) is bad


def test_map_parser_reads_only_the_global_names() -> None:
    text = "/* c; */ {\n  global:\n    dlsym;\n    cuMemAlloc_v2;\n  local:\n    *;\n};\n"
    assert map_exports(text) == {"dlsym", "cuMemAlloc_v2"}
    assert "cuGetProcAddress" in map_exports(MAP.read_text())
