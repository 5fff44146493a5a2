"""The README and docs cite only files that are in the repository (or that the build makes)."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path, PurePosixPath

import pytest

ROOT = Path(__file__).resolve().parents[2]
#: Made by the build or fetched by it (gitignored), cited on purpose.
_BUILT = ("libvgpu/build/", "libvgpu/third_party", "hami/_lib/")
_FILE_SUFFIX = re.compile(r"\.(py|md|sh|S|c|h|def|toml|mk|map|cfg|ini)$")
_TOKEN = re.compile(r"`([A-Za-z0-9_.][A-Za-z0-9_./-]*)`")
_LINK = re.compile(r"\]\(([^)#\s]+)")


def _tracked() -> list[str]:
    out = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True)
    return out.stdout.split()


def _documents() -> list[Path]:
    return sorted([*ROOT.glob("README*.md"), *(ROOT / "docs").glob("*.md")])


def _missing(doc: Path, files: list[str]) -> list[str]:
    tracked = set(files)
    folders = {str(p) for f in files for p in PurePosixPath(f).parents}
    names = {PurePosixPath(f).name for f in files}
    tops = {f.split("/")[0] for f in files} | {f.split("/")[1] for f in files
                                               if f.startswith("libvgpu/")}  # fmt: skip
    text = doc.read_text(encoding="utf-8")
    bad = []
    for link in _LINK.findall(text):
        if "://" not in link and not (doc.parent / link).exists():
            bad.append(link)
    for token in _TOKEN.findall(text):
        path = token.rstrip("/")
        if path.startswith(_BUILT) or (path.endswith((".h", ".json", ".yaml")) and "/" not in path):
            continue  # build outputs, fetched headers, file names people bring
        if "/" in path:
            if path.split("/")[0] not in tops or (not _FILE_SUFFIX.search(path) and "." in path):
                continue  # an annotation, a resource name, a URL path: not a file
            if path in tracked or path in folders or f"libvgpu/{path}" in tracked | folders:
                continue
            bad.append(path)
        elif _FILE_SUFFIX.search(path) and path not in names:
            bad.append(path)
    return bad


@pytest.mark.parametrize("doc", _documents(), ids=lambda p: p.name)
def test_docs_cite_only_files_in_the_repo(doc: Path) -> None:
    assert _missing(doc, _tracked()) == []
