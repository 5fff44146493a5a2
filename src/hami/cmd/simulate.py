"""``hami simulate``: schedule pods onto a cluster described in YAML, offline, no GPU needed.

Reads v1 Node objects (devices through every enabled vendor's inventory, e.g. the
``hami.io/node-nvidia-register`` annotation; one node may carry several vendors) and v1 Pod
manifests, passes each pod through the admission mutation and the scheduler's Filter in file
order, and prints where each pod lands (or why it stays Pending) plus per-device usage. A
cluster with devices of several vendors gets a VENDOR column and a usage table per vendor.
Without ``--nodes``/``--pods`` it runs the bundled example in :mod:`hami.examples`.
Bad input files print one ``Error:`` line naming the file and object and exit with code 2;
suspicious input prints ``Warning:`` lines on stderr (JSON on stdout stays clean). YAML is parsed
with libyaml's C loader when PyYAML has it. The clock is fixed, so the output is deterministic.
On a terminal, a run longer than :data:`PROGRESS_AFTER_S` shows its progress on stderr (pods
placed of the total, rate, ETA; one line rewritten at most every :data:`PROGRESS_EVERY_S`,
cleared at the end); when stderr is not a terminal nothing is written.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from importlib.resources import files
from pathlib import Path
from typing import Any, TextIO, TypeVar

import click
import yaml

from hami.api.types import PodSingleDevice
from hami.cmd.options import option
from hami.config.devices import ConfigError, load_device_config
from hami.device.registry import DeviceRegistry
from hami.engine.policy import GPU_POLICIES
from hami.engine.simulation import (
    InputError,
    SimulationResult,
    lint_nodes,
    lint_pods,
    load_nodes,
    load_pods,
    simulate,
)

EXIT_BAD_INPUT = 2
_Loader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
#: Seconds into a run before progress shows (shorter runs print nothing extra).
PROGRESS_AFTER_S = 2.0
#: Least seconds between two progress updates.
PROGRESS_EVERY_S = 0.25

_T = TypeVar("_T")


class Progress:
    """``simulate: 1200/20000 pods placed, 850 pods/s, ETA 20s`` on one terminal line.

    :meth:`count` passes the pods through to the scheduler one at a time (it pulls them in
    order, placing each before it takes the next), so pulling pod ``i`` means ``i`` are placed.
    Nothing is written before ``after_s`` seconds from ``started`` nor more often than every
    ``every_s``; :meth:`clear` erases the line if one was written."""

    def __init__(
        self,
        total: int,
        stream: TextIO,
        *,
        started: float,
        clock: Callable[[], float] = time.monotonic,
        after_s: float = PROGRESS_AFTER_S,
        every_s: float = PROGRESS_EVERY_S,
    ) -> None:
        self.total = total
        self._stream = stream
        self._clock = clock
        self._show_from = started + after_s
        self._every = every_s
        self._begin = clock()
        self._last: float | None = None
        self.shown = False

    def count(self, items: Iterable[_T]) -> Iterator[_T]:
        self._begin = self._clock()
        for done, item in enumerate(items):
            self._update(done)
            yield item

    def _update(self, done: int) -> None:
        now = self._clock()
        if now < self._show_from or (self._last is not None and now - self._last < self._every):
            return
        self._last = now
        spent = now - self._begin
        line = f"simulate: {done}/{self.total} pods placed"
        if done and spent > 0:
            rate = done / spent
            line += f", {rate:.0f} pods/s, ETA {(self.total - done) / rate:.0f}s"
        self._stream.write(f"\r{line}\x1b[K")
        self._stream.flush()
        self.shown = True

    def clear(self) -> None:
        if self.shown:
            self._stream.write("\r\x1b[K")
            self._stream.flush()
            self.shown = False


def check_gpu_policy(_ctx: click.Context | None, _param: click.Parameter | None, value: str) -> str:
    """A GPU policy or comma chain of known names (as ``hami scheduler`` requires)."""
    parts = [p.strip() for p in value.split(",") if p.strip()]
    bad = [p for p in parts if p not in GPU_POLICIES]
    if not parts or bad:
        raise click.BadParameter(
            f"unknown GPU policy {', '.join(bad) or repr(value)}; "
            f"allowed: {', '.join(sorted(GPU_POLICIES))} or a comma chain of them"
        )
    return ",".join(parts)


def _read_docs(path: Path | None, bundled: str) -> tuple[list[Any], str]:
    if path is None:
        text = files("hami").joinpath("examples", bundled).read_text(encoding="utf-8")
        source = f"<bundled {bundled}>"
    else:
        source = str(path)
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise InputError(
                f"{source}: cannot read: {getattr(exc, 'strerror', None) or exc}"
            ) from exc
    try:
        return list(yaml.load_all(text, Loader=_Loader)), source
    except yaml.YAMLError as exc:
        where = getattr(exc, "problem_mark", None)
        line = f" (line {where.line + 1})" if where is not None else ""
        problem = getattr(exc, "problem", None) or "parse error"
        raise InputError(f"{source}: invalid YAML{line}: {problem}") from exc


def _devices_text(containers: PodSingleDevice) -> str:
    parts = []
    for c in containers:
        if c:
            parts.append(", ".join(f"{d.uuid} {d.usedmem}MiB {d.usedcores}%" for d in c))
    return " | ".join(parts) or "-"


def _pct(used: int, total: int) -> str:
    return f"{100 * used / total:.0f}%" if total else "-"


def _usage_text(u: dict[str, Any]) -> str:
    mem, cores, slots = u["memory"], u["cores"], u["slots"]
    return (
        f"memory {mem['used']}/{mem['total']} MiB ({_pct(mem['used'], mem['total'])}); "
        f"cores {cores['used']}/{cores['total']} ({_pct(cores['used'], cores['total'])}); "
        f"slots {slots['used']}/{slots['total']}"
    )


def render_table(res: SimulationResult) -> str:
    """Human-readable report: pods, devices, cluster totals.

    A one-vendor cluster prints one GPUS table and one TOTAL line. A mixed cluster prints a
    DEVICES table with a VENDOR column (vendors in cw order) and one TOTAL line per vendor.
    """
    lines = ["PODS", f"{'NAMESPACE/NAME':<32} {'NODE':<14} DEVICES (uuid MiB cores) / REASON"]
    for p in res.pods:
        where = p.node or "-"
        if p.node:
            what = _devices_text(p.containers)
        else:
            what = f"Pending: {p.reason}" if p.status == "pending" else f"{p.reason}"
        lines.append(f"{p.namespace + '/' + p.name:<32} {where:<14} {what}")
    mixed = res.mixed
    vendor_col = f"{'VENDOR':<12} " if mixed else ""
    lines += [
        "",
        "DEVICES" if mixed else "GPUS",
        f"{vendor_col}{'NODE':<14} {'UUID':<42} {'TYPE':<28} {'MEMORY MiB':>15} {'CORES':>9} "
        f"{'SLOTS':>6}",
    ]
    rows = sorted(res.gpus, key=lambda ng: ng[1].vendor) if mixed else res.gpus
    for node, g in rows:
        vendor = f"{g.vendor:<12} " if mixed else ""
        lines.append(
            f"{vendor}{node:<14} {g.uuid:<42} {g.type:<28} {f'{g.usedmem}/{g.totalmem}':>15} "
            f"{f'{g.usedcores}/{g.totalcore}':>9} {f'{g.used}/{g.count}':>6}"
        )
    t = res.totals()
    pods = (
        f"TOTAL: {t['scheduled']}/{t['pods']} pods scheduled ({t['pending']} pending, "
        f"{t['denied']} denied, {t['unmanaged']} unmanaged)"
    )
    if not mixed:
        lines += ["", f"{pods}; {t['gpus']} GPUs; {_usage_text(t)}"]
        return "\n".join(lines)
    lines += ["", pods]
    for cw, u in t["vendors"].items():
        lines.append(f"  {cw}: {u['gpus']} devices; {_usage_text(u)}")
    return "\n".join(lines)


@click.command(name="simulate")
@option(
    "--nodes",
    "nodes_path",
    type=click.Path(path_type=Path, dir_okay=False),
    show_default="bundled example",
    help="YAML of v1 Node objects (kind: List or a stream).",
)
@option(
    "--pods",
    "pods_path",
    type=click.Path(path_type=Path, dir_okay=False),
    show_default="bundled example",
    help="YAML of v1 Pod manifests, scheduled in file order.",
)
@click.option(
    "--node-policy",
    type=click.Choice(["binpack", "spread"]),
    default="binpack",
    show_default=True,
    help="Node scheduler policy.",
)
@click.option(
    "--gpu-policy",
    default="spread",
    show_default=True,
    callback=check_gpu_policy,
    help="GPU policy: binpack, spread, topology-aware, numa, mutex or a comma chain.",
)
@option(
    "--device-config-file",
    "--config",
    "config_path",
    hidden_aliases=("--config",),
    type=click.Path(path_type=Path, dir_okay=False),
    show_default="built-in defaults",
    help="HAMi device-config.yaml (or its ConfigMap manifest).",
)
@click.option(
    "--strict-config",
    is_flag=True,
    default=False,
    show_default=True,
    help="Refuse unknown device-config keys and out-of-range values instead of warning.",
)
@click.option(
    "--enable-ascend",
    is_flag=True,
    default=False,
    show_default=True,
    help="Schedule Huawei Ascend NPUs too (as the scheduler's --enable-ascend).",
)
@click.option(
    "--enable-iluvatar",
    is_flag=True,
    default=False,
    show_default=True,
    help="Schedule Iluvatar GPUs too (as the scheduler's --enable-iluvatar).",
)
@click.option(
    "--example",
    type=click.Choice(["nvidia", "mixed"]),
    default="nvidia",
    show_default=True,
    help="Bundled example used where --nodes/--pods are not given; mixed = NVIDIA, Ascend, "
    "Hygon, Cambricon and Iluvatar nodes (turns on --enable-ascend and --enable-iluvatar).",
)
@click.option(
    "--output",
    type=click.Choice(["table", "json"]),
    default="table",
    show_default=True,
    help="table for people, json for scripts (deterministic).",
)
def command(
    nodes_path: Path | None,
    pods_path: Path | None,
    node_policy: str,
    gpu_policy: str,
    config_path: Path | None,
    strict_config: bool,
    enable_ascend: bool,
    enable_iluvatar: bool,
    example: str,
    output: str,
) -> None:
    """Schedule pods onto a cluster described in YAML, offline (no cluster, no GPU)."""
    started = time.monotonic()
    try:
        mixed = example == "mixed"
        cfg = load_device_config(config_path, strict=strict_config)
        registry = DeviceRegistry.from_config(
            cfg, enable_ascend=enable_ascend or mixed, enable_iluvatar=enable_iluvatar or mixed
        )
        prefix = "mixed-" if mixed else ""
        node_docs, node_src = _read_docs(nodes_path, f"{prefix}nodes.yaml")
        pod_docs, pod_src = _read_docs(pods_path, f"{prefix}pods.yaml")
        nodes = load_nodes(node_docs, node_src, registry)
        pods = load_pods(pod_docs, pod_src)
    except (InputError, ConfigError) as exc:
        click.echo(f"Error: {exc}", err=True)
        raise SystemExit(EXIT_BAD_INPUT) from None
    warnings = [*lint_nodes(nodes, node_src), *lint_pods(pods, registry, pod_src)]
    for warning in warnings:
        click.echo(f"Warning: {warning}", err=True)
    stderr = sys.stderr
    progress = None
    if stderr.isatty():
        progress = Progress(len(pods), stderr, started=started, after_s=PROGRESS_AFTER_S,
                            every_s=PROGRESS_EVERY_S)  # fmt: skip
    try:
        placed = progress.count(pods) if progress is not None else pods
        res = simulate(nodes, placed, registry, node_policy=node_policy, gpu_policy=gpu_policy,
                       warnings=warnings)  # fmt: skip
    finally:
        if progress is not None:
            progress.clear()
    if output == "json":
        click.echo(json.dumps(res.to_json(), indent=2))
    else:
        click.echo(render_table(res))
