"""``hami top`` (also ``kubectl hami top``): GPU allocation per node and GPU, and who holds it.

Allocation comes from the API (node register and pod allocation annotations); ``--usage`` adds
live used memory and utilization from the nodes' ``hami monitor`` (``/metrics`` on NodePort
31992 of each node's InternalIP, or the ``--metrics-url`` given).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import sys
import time
from pathlib import Path
from typing import Any

import click

from hami.cmd.options import option

_CLEAR = "\x1b[H\x1b[2J"


@click.command(name="top")
@option(
    "--kubeconfig", envvar="KUBECONFIG", type=click.Path(path_type=Path),
    show_default="in-cluster, else ~/.kube/config", help="Kubeconfig file.",
)  # fmt: skip
@option("--node", "nodes", multiple=True, show_default="all nodes",
        help="Only these nodes (repeatable).")  # fmt: skip
@click.option("--usage", is_flag=True, show_default=True,
              help="Add live usage from the nodes' hami monitor.")  # fmt: skip
@option(
    "--metrics-url", "metrics_urls", multiple=True,
    show_default="http://<node IP>:<--monitor-port>/metrics",
    help="Monitor /metrics URL(s) to read instead of each node's.",
)  # fmt: skip
@click.option("--monitor-port", type=int, default=31992, show_default=True,
              help="The monitors' metrics port (the chart's NodePort).")  # fmt: skip
@click.option(
    "-o", "--output", type=click.Choice(["table", "json"]), default="table", show_default=True,
    help="Output format.",
)  # fmt: skip
@click.option("-w", "--watch", is_flag=True, show_default=True,
              help="Refresh until interrupted.")  # fmt: skip
@click.option("--interval", type=float, default=2.0, show_default=True, help="Seconds (--watch).")
def command(
    kubeconfig: Path | None,
    nodes: tuple[str, ...],
    usage: bool,
    metrics_urls: tuple[str, ...],
    monitor_port: int,
    output: str,
    watch: bool,
    interval: float,
) -> None:
    """Show GPUs per node: slots, memory and cores allocated vs capacity, and the pods on each."""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s: %(message)s")
    for name in ("httpx", "httpcore"):
        logging.getLogger(name).setLevel(logging.WARNING)
    usage = usage or bool(metrics_urls)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_main(kubeconfig, set(nodes), usage, metrics_urls, monitor_port, output,
                          watch, interval))  # fmt: skip


async def _main(
    kubeconfig: Path | None,
    only: set[str],
    usage: bool,
    metrics_urls: tuple[str, ...],
    monitor_port: int,
    output: str,
    watch: bool,
    interval: float,
) -> None:
    from hami.k8s import errors
    from hami.k8s.lightkube import KubeConfigError, LightkubeClient
    from hami.k8s.port import Kind

    try:
        client = LightkubeClient.from_kubeconfig(kubeconfig, timeout_s=15)
    except KubeConfigError as exc:
        raise click.ClickException(str(exc)) from None
    try:
        while True:
            try:
                node_objs = (await client.list_objects(Kind.NODES)).items
                pod_objs = (await client.list_objects(Kind.PODS)).items
            except (errors.ApiError, OSError) as exc:
                raise click.ClickException(f"listing nodes and pods failed: {exc}") from exc
            if only:
                node_objs = [n for n in node_objs if n.get("metadata", {}).get("name") in only]
            text = await _render(node_objs, pod_objs, usage, metrics_urls, monitor_port, output)
            if watch and output == "table" and sys.stdout.isatty():
                text = (
                    _CLEAR + f"hami top  {time.strftime('%H:%M:%S')}  every {interval:g}s\n" + text
                )
            click.echo(text, nl=False)
            if not watch:
                return
            await asyncio.sleep(interval)
    finally:
        await client.close()


def _node_address(node: dict[str, Any]) -> str | None:
    for addr in (node.get("status") or {}).get("addresses") or []:
        if addr.get("type") == "InternalIP":
            return str(addr.get("address"))
    return None


async def _fetch(urls: list[tuple[str, str]]) -> list[str]:
    import httpx

    texts = []
    async with httpx.AsyncClient(timeout=5) as http:
        for who, url in urls:
            try:
                r = await http.get(url)
                r.raise_for_status()
                texts.append(r.text)
            except httpx.HTTPError as exc:
                click.echo(f"Warning: {who}: monitor {url} unreachable: {exc}", err=True)
    return texts


async def _render(
    node_objs: list[dict[str, Any]],
    pod_objs: list[dict[str, Any]],
    usage: bool,
    metrics_urls: tuple[str, ...],
    monitor_port: int,
    output: str,
) -> str:
    from hami.monitor import top

    views = top.build(node_objs, pod_objs)
    if usage:
        if metrics_urls:
            urls = [(u, u) for u in metrics_urls]
        else:
            urls = []
            shown = {v.name for v in views}
            for n in node_objs:
                name = str(n.get("metadata", {}).get("name", ""))
                addr = _node_address(n)
                if name in shown and addr:
                    urls.append((f"node {name}", f"http://{addr}:{monitor_port}/metrics"))
        texts = await _fetch(urls)
        try:
            parsed = top.parse_metrics(texts)
        except (ValueError, KeyError) as exc:
            raise click.ClickException(f"monitor metrics unreadable: {exc}") from exc
        top.apply_usage(views, parsed)
    if output == "json":
        return json.dumps(top.to_json(views, usage=usage), indent=2, sort_keys=True) + "\n"
    return top.render(views, usage=usage)
