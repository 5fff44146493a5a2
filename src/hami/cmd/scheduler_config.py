"""``hami scheduler-config``: print the kube-scheduler configuration that runs hami.

One ``KubeSchedulerConfiguration`` with the profile ``hami-scheduler`` and one extender entry whose
``managedResources`` are the resource names of every registered device backend, in cw order
(``--enable-ascend`` / ``--enable-iluvatar`` add those vendors, as for ``hami scheduler``), for
operators who run kube-scheduler without the Helm chart. kube-scheduler ignores them
(``ignoredByScheduler``) except the memory and core resources of a vendor whose devices come from
node capacity (Cambricon's ``vmemory`` / ``vcore`` are real node resources it must count). The
chart renders the same text for the same inputs (``charts/hami/templates/_helpers.tpl``,
``hami.schedulerConfig``; tested to be identical in ``tests/chart/test_scheduler_config.py``).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import click

from hami.cmd.options import option

API_VERSION = "kubescheduler.config.k8s.io/v1"
DEFAULT_URL = "https://127.0.0.1:8443"


def managed_resources(
    device_config: Path | None, *, enable_ascend: bool = False, enable_iluvatar: bool = False
) -> list[tuple[str, bool]]:
    """``(name, ignoredByScheduler)`` of every resource of the registered backends, in cw order
    (built-in defaults without a file)."""
    from hami.config.devices import load_device_config
    from hami.webhook.backends import device_backends

    found = device_backends(
        load_device_config(device_config),
        enable_ascend=enable_ascend,
        enable_iluvatar=enable_iluvatar,
    )
    out: list[tuple[str, bool]] = []
    for backend in found.values():
        counted = set()
        if backend.register_annotation is None:  # devices from node capacity
            counted = {backend.memory_resource, backend.core_resource}
        out += [(name, name not in counted) for name in backend.resource_names if name]
    return out


def build_config(
    *,
    url: str,
    resources: Sequence[str | tuple[str, bool]],
    scheduler_name: str = "hami-scheduler",
    leader_elect: bool = True,
    lease_namespace: str = "kube-system",
    lease_name: str | None = None,
    ca_file: str | None = None,
    insecure: bool = False,
    http_timeout: str = "30s",
) -> dict[str, Any]:
    """The configuration as a dict (kube-scheduler's camelCase keys). ``resources`` are names
    (ignored by kube-scheduler) or ``(name, ignoredByScheduler)``; the first of a name wins."""
    https = url.startswith("https://")
    managed: dict[str, bool] = {}
    for item in resources:
        name, ignored = (item, True) if isinstance(item, str) else item
        managed.setdefault(name, ignored)
    extender: dict[str, Any] = {
        "urlPrefix": url,
        "filterVerb": "filter",
        "bindVerb": "bind",
        "enableHTTPS": https,
        "nodeCacheCapable": True,
        "weight": 1,
        "httpTimeout": http_timeout,
        "managedResources": [
            {"name": name, "ignoredByScheduler": ignored} for name, ignored in managed.items()
        ],
    }
    if https:
        extender["tlsConfig"] = {"insecure": True} if insecure else {"caFile": ca_file}
    return {
        "apiVersion": API_VERSION,
        "kind": "KubeSchedulerConfiguration",
        "leaderElection": {
            "leaderElect": leader_elect,
            "resourceName": lease_name or scheduler_name,
            "resourceNamespace": lease_namespace,
        },
        "profiles": [{"schedulerName": scheduler_name}],
        "extenders": [extender],
    }


def render(config: dict[str, Any]) -> str:
    """YAML as Helm's ``toYaml`` writes it: sorted keys, block style, lists not indented."""
    import yaml

    text: str = yaml.safe_dump(config, sort_keys=True, default_flow_style=False, width=1 << 16)
    return text


@click.command(name="scheduler-config")
@option(
    "--device-config-file",
    type=click.Path(path_type=Path, exists=True, dir_okay=False),
    show_default="built-in names",
    help="Take the resource names from this device-config.yaml.",
)
@option(
    "--resource-name",
    "resource_overrides",
    multiple=True,
    show_default="the device config's",
    help="Managed resource names instead of the device config's (repeat).",
)
@option(
    "--extra-resource", multiple=True, show_default="none",
    help="Further resource names kube-scheduler ignores.",
)  # fmt: skip
@click.option("--enable-ascend", is_flag=True, default=False, show_default=True,
              help="Also list the Ascend NPU resources (as the scheduler's flag).")  # fmt: skip
@click.option("--enable-iluvatar", is_flag=True, default=False, show_default=True,
              help="Also list the Iluvatar resources (as the scheduler's flag).")  # fmt: skip
@click.option("--url", default=DEFAULT_URL, show_default=True, help="Extender URL prefix.")
@click.option("--scheduler-name", default="hami-scheduler", show_default=True,
              help="The kube-scheduler profile that calls the extender.")  # fmt: skip
@click.option("--leader-elect/--no-leader-elect", default=True, show_default=True,
              help="kube-scheduler's leader election.")  # fmt: skip
@click.option("--lease-namespace", default="kube-system", show_default=True,
              help="Namespace of kube-scheduler's Lease.")  # fmt: skip
@option("--lease-name", show_default="the scheduler name", help="kube-scheduler's Lease.")
@click.option(
    "--ca-file",
    default="/tls/ca.crt",
    show_default=True,
    help="CA kube-scheduler verifies an https extender with.",
)
@click.option("--insecure", is_flag=True, show_default=True,
              help="Do not verify the extender's certificate.")  # fmt: skip
@click.option("--http-timeout", default="30s", show_default=True, help="Go duration.")
def command(
    device_config_file: Path | None,
    resource_overrides: tuple[str, ...],
    extra_resource: tuple[str, ...],
    enable_ascend: bool,
    enable_iluvatar: bool,
    url: str,
    scheduler_name: str,
    leader_elect: bool,
    lease_namespace: str,
    lease_name: str | None,
    ca_file: str,
    insecure: bool,
    http_timeout: str,
) -> None:
    """Print the KubeSchedulerConfiguration (profile + extender) that runs hami."""
    from hami.config.devices import ConfigError

    if not url.startswith(("http://", "https://")):
        raise click.BadParameter(f"must be an http(s) URL, got {url!r}", param_hint="--url")
    try:
        names: list[str | tuple[str, bool]] = [*resource_overrides] or [
            *managed_resources(device_config_file, enable_ascend=enable_ascend,
                               enable_iluvatar=enable_iluvatar)
        ]  # fmt: skip
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from exc
    given = [*resource_overrides, *extra_resource]
    bad = [n for n in given if "/" not in n or " " in n]
    if bad:
        raise click.BadParameter(
            f"not a resource name (domain/name): {bad[0]!r}", param_hint="--resource-name"
        )
    config = build_config(
        url=url,
        resources=[*names, *extra_resource],
        scheduler_name=scheduler_name,
        leader_elect=leader_elect,
        lease_namespace=lease_namespace,
        lease_name=lease_name,
        ca_file=ca_file,
        insecure=insecure,
        http_timeout=http_timeout,
    )
    click.echo(render(config), nl=False)
