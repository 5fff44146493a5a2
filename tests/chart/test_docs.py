"""The documented commands are the ones the tests run: README's quick start (English and Chinese)
and every `helm install|template|upgrade` line in docs/ render with real Helm as written, the
`kubectl` lines match what the chart renders, and the example pod validates and schedules."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path
from typing import Any

import helm_python
import kubernetes_validate
import pytest
import yaml
from click.testing import CliRunner

from hami.cli import main
from tests.chart.helmsdk import CHART, find, render

ROOT = CHART.parents[1]
READMES = [ROOT / "README.md", ROOT / "README_zh.md"]
DOCS = [ROOT / "docs" / "install.md", ROOT / "docs" / "migrate-from-hami.md", *READMES]


def _blocks(path: Path, lang: str, section: str | None = None) -> list[str]:
    text = path.read_text()
    if section is not None:
        start = text.index(section)
        end = text.find("\n## ", start + 1)
        text = text[start : end if end != -1 else len(text)]
    return re.findall(rf"```{lang}\n(.*?)```", text, re.S)


def _commands(block: str) -> list[list[str]]:
    joined = block.replace("\\\n", " ")
    out = []
    for line in joined.splitlines():
        words = shlex.split(line, comments=True)
        if words:
            out.append(words)
    return out


def _quick_start(path: Path) -> tuple[list[list[str]], dict[str, Any]]:
    heading = "## Quick start" if path.name == "README.md" else "## 快速开始"
    (bash,) = _blocks(path, "bash", heading)
    (pod,) = _blocks(path, "yaml", heading)
    return _commands(bash), yaml.safe_load(pod)


def _helm(words: list[str]) -> tuple[str, str, dict[str, Any]]:
    """release, namespace, values of a `helm install|template|upgrade` line."""
    assert words[0] == "helm" and words[1] in ("install", "template", "upgrade"), words
    rest, positional, ns, values = words[2:], [], "default", {}
    i = 0
    while i < len(rest):
        w = rest[i]
        if w in ("-n", "--namespace"):
            ns, i = rest[i + 1], i + 2
        elif w == "--set":
            values = _merge(values, helm_python.parse_set_string(rest[i + 1]))
            i += 2
        elif w == "-f":
            i += 2  # a user's own values file
        elif w in ("--create-namespace", "--reuse-values"):
            i += 1
        elif w.startswith(">") or w == ">":
            break
        else:
            assert not w.startswith("-"), f"undocumented helm flag in the test: {w}"
            positional.append(w)
            i += 1
    release, chart = positional
    assert (ROOT / chart).resolve() == CHART, chart
    return release, ns, values


def _merge(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    out = dict(a)
    for k, v in b.items():
        out[k] = _merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def test_both_readmes_give_the_same_commands_and_pod() -> None:
    en, zh = (_quick_start(p) for p in READMES)
    assert en == zh


def test_readme_keeps_its_first_two_command_lines() -> None:
    first = _blocks(ROOT / "README.md", "bash")[0].splitlines()[:2]
    assert first[0].startswith("pip install . && hami simulate")
    assert first[1].startswith("pip install -e '.[dev]' && bash scripts/test")


@pytest.mark.parametrize("path", READMES, ids=lambda p: p.name)
def test_quick_start_commands_match_the_chart(path: Path) -> None:
    commands, _ = _quick_start(path)
    label = next(c for c in commands if c[:3] == ["kubectl", "label", "nodes"])
    helm = next(c for c in commands if c[0] == "helm")
    get = next(c for c in commands if c[:3] == ["kubectl", "get", "pods"])
    release, ns, values = _helm(helm)
    objs = render(values, name=release, namespace=ns)
    dep = find(objs, "Deployment", f"{release}-scheduler")
    ds = find(objs, "DaemonSet", f"{release}-device-plugin")
    key, value = label[-1].split("=")
    assert ds["spec"]["template"]["spec"]["nodeSelector"] == {key: value}
    assert get[get.index("-n") + 1] == ns == dep["metadata"]["namespace"]
    k, v = get[get.index("-l") + 1].split("=")
    for obj in (dep, ds):
        assert obj["spec"]["template"]["metadata"]["labels"][k] == v


@pytest.mark.parametrize("path", READMES, ids=lambda p: p.name)
def test_quick_start_pod_validates_and_schedules(path: Path, tmp_path: Path) -> None:
    _, pod = _quick_start(path)
    kubernetes_validate.validate(pod, "1.32.0", strict=True)
    limits = pod["spec"]["containers"][0]["resources"]["limits"]
    assert {"nvidia.com/gpu", "nvidia.com/gpumem", "nvidia.com/gpucores"} <= set(limits)
    pods = tmp_path / "pods.yaml"
    pods.write_text(yaml.safe_dump(pod))
    result = CliRunner().invoke(main, ["simulate", "--pods", str(pods), "--output", "json"])
    assert result.exit_code == 0, result.output
    (placed,) = json.loads(result.output)["pods"]
    assert placed["status"] == "scheduled"
    assert placed["containers"][0][0]["usedmem"] == 3000
    assert placed["containers"][0][0]["usedcores"] == 30


def _helm_lines() -> list[tuple[str, list[str]]]:
    found = []
    for path in DOCS:
        for block in _blocks(path, "bash"):
            for words in _commands(block):
                if words[:2] in (["helm", "install"], ["helm", "template"], ["helm", "upgrade"]):
                    found.append((f"{path.name}: {' '.join(words)}", words))
    return found


HELM_LINES = _helm_lines()


def test_docs_have_helm_lines() -> None:
    assert len(HELM_LINES) >= 5


@pytest.mark.parametrize("words", [w for _, w in HELM_LINES], ids=[i for i, _ in HELM_LINES])
def test_every_documented_helm_line_renders(words: list[str]) -> None:
    release, ns, values = _helm(words)
    objs = render(values, name=release, namespace=ns)
    ds = find(objs, "DaemonSet", f"{release}-device-plugin")
    assert ds["metadata"]["namespace"] == ns
    if "nvidiaNodeSelector" in json.dumps(values):
        wanted = values["devicePlugin"]["nvidiaNodeSelector"]
        assert ds["spec"]["template"]["spec"]["nodeSelector"] == {
            k: v for k, v in wanted.items() if v is not None
        }


def test_documented_hami_certs_line_parses() -> None:
    (block,) = [b for b in _blocks(ROOT / "docs" / "install.md", "bash") if "hami certs" in b]
    (words,) = _commands(block)
    cmd = main.get_command(None, "certs")  # type: ignore[arg-type]
    assert cmd is not None
    ctx = cmd.make_context("certs", words[2:])
    assert ctx.params["secret_name"] == "hami-scheduler-tls"
    job = find(render(), "Job", "hami-certs")
    args = job["spec"]["template"]["spec"]["containers"][0]["args"]
    assert {a for a in words[2:]} <= set(args)
