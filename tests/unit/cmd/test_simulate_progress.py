"""``hami simulate`` progress on stderr: only on a terminal, only for runs longer than ~2 s."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import pytest

from hami.cmd import simulate as cmd
from hami.cmd.simulate import Progress


class _Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_progress_waits_then_shows_rate_and_eta_at_most_every_quarter_second() -> None:
    clock, out = _Clock(), io.StringIO()
    progress = Progress(100, out, started=clock.now, clock=clock)
    shown = []
    for i, _ in enumerate(progress.count(range(100))):
        shown.append(out.getvalue())
        if i < 48:
            clock.now += 0.125  # 8 pods per second, then the clock stands still
    lines = out.getvalue().split("\r")[1:]
    assert shown[15] == ""  # 1.875 s into the run: nothing yet
    assert lines[0] == "simulate: 16/100 pods placed, 8 pods/s, ETA 10s\x1b[K"
    # one line per 0.25 s at most: pods 16, 18, ... 48; none while the clock stands still
    assert [ln.split("/")[0] for ln in lines] == [f"simulate: {i}" for i in range(16, 49, 2)]
    progress.clear()
    assert out.getvalue().endswith("\r\x1b[K") and not progress.shown


def test_a_short_run_writes_nothing() -> None:
    clock, out = _Clock(), io.StringIO()
    progress = Progress(3, out, started=clock.now, clock=clock)
    assert list(progress.count("abc")) == ["a", "b", "c"]
    progress.clear()
    assert out.getvalue() == ""


def _inputs(tmp: Path, pods: int) -> tuple[str, str]:
    reg = "GPU-1,10,16000,100,NVIDIA-Tesla T4,0,true,0,hami-core:"
    nodes = tmp / "nodes.yaml"
    nodes.write_text(
        f"apiVersion: v1\nkind: Node\nmetadata:\n  name: n1\n  annotations:\n"
        f"    hami.io/node-nvidia-register: '{reg}'\n"
    )
    pod = (
        "apiVersion: v1\nkind: Pod\nmetadata: {{name: p{i}}}\nspec:\n  containers:\n"
        "  - name: c\n    resources: {{limits: {{nvidia.com/gpu: 1, nvidia.com/gpumem: 100}}}}\n"
    )
    (tmp / "pods.yaml").write_text("---\n".join(pod.format(i=i) for i in range(pods)))
    return str(nodes), str(tmp / "pods.yaml")


def test_on_a_pty_progress_shows_and_is_cleared(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    nodes, pods = _inputs(tmp_path, 30)
    monkeypatch.setattr(cmd, "PROGRESS_AFTER_S", 0.0)
    monkeypatch.setattr(cmd, "PROGRESS_EVERY_S", 0.0)
    master, slave = os.openpty()
    with os.fdopen(slave, "w") as tty:
        monkeypatch.setattr(sys, "stderr", tty)
        with pytest.raises(SystemExit) as done:
            cmd.command.main(["--nodes", nodes, "--pods", pods, "--output", "json"])
    assert done.value.code == 0
    written = os.read(master, 1 << 20).decode()
    os.close(master)
    assert "simulate: 0/30 pods placed\x1b[K" in written
    assert "simulate: 29/30 pods placed, " in written
    assert written.endswith("\r\x1b[K")  # cleared at the end
    assert '"scheduled": 10' in capsys.readouterr().out  # stdout: the JSON only


def test_without_a_terminal_nothing_but_the_answer(tmp_path: Path) -> None:
    nodes, pods = _inputs(tmp_path, 30)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    code = ("import hami.cmd.simulate as s; s.PROGRESS_AFTER_S = 0.0; s.PROGRESS_EVERY_S = 0.0;"
            "from hami.cli import main; main()")  # fmt: skip
    done = subprocess.run([sys.executable, "-c", code, "simulate", "--nodes", nodes, "--pods",
                           pods, "--output", "json"], capture_output=True, text=True, env=env,
                          check=True)  # fmt: skip
    assert done.stderr == ""
    assert done.stdout.startswith("{")
