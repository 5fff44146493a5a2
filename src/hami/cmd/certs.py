"""``hami certs``: the webhook's TLS, without cert-manager.

Creates (or renews before expiry) a CA and a serving certificate, stores them in two Secrets in
``--namespace`` (``<secret>`` with ``tls.crt``/``tls.key``/``ca.crt``, mounted by the scheduler;
``<secret>-ca`` with the CA key, mounted by nobody) and writes the CA bundle into every webhook's
``clientConfig.caBundle`` of the MutatingWebhookConfiguration ``--webhook-name``. Running it again
changes nothing while the certificates are good, so the chart runs it before and after every
install and upgrade. A webhook configuration that does not exist yet (before install) is skipped
with a message. The decisions live in :mod:`hami.webhook.certs`.

Kubernetes calls (the chart's RBAC for the Job lists exactly these): secrets get, create, update;
mutatingwebhookconfigurations get, patch.
"""

from __future__ import annotations

import base64
import datetime as dt
from pathlib import Path
from typing import Any

import click

from hami.cmd.options import option


def _decode(data: dict[str, str] | None) -> dict[str, bytes]:
    return {k: base64.b64decode(v) for k, v in (data or {}).items()}


def _encode(data: dict[str, bytes]) -> dict[str, str]:
    return {k: base64.b64encode(v).decode() for k, v in data.items()}


def _api_error(exc: Exception) -> str:
    status = getattr(exc, "status", None)
    code = getattr(status, "code", None)
    message = getattr(status, "message", None) or str(exc)
    return f"{code} {message}" if code else message


def _is_not_found(exc: Exception) -> bool:
    return getattr(getattr(exc, "status", None), "code", None) == 404


class _Secrets:
    """get / create / update of one namespace's Secrets."""

    def __init__(self, client: Any, namespace: str) -> None:
        self.client, self.namespace = client, namespace

    def get(self, name: str) -> Any | None:
        from lightkube import ApiError
        from lightkube.resources.core_v1 import Secret

        try:
            return self.client.get(Secret, name=name, namespace=self.namespace)
        except ApiError as exc:
            if _is_not_found(exc):
                return None
            raise

    def write(self, current: Any | None, name: str, data: dict[str, bytes], tls: bool) -> None:
        from lightkube.models.meta_v1 import ObjectMeta
        from lightkube.resources.core_v1 import Secret

        labels = {"app.kubernetes.io/managed-by": "hami-certs"}
        if current is None:
            secret = Secret(
                metadata=ObjectMeta(name=name, namespace=self.namespace, labels=labels),
                type="kubernetes.io/tls" if tls else "Opaque",
                data=_encode(data),
            )
            self.client.create(secret)
        else:
            current.data = _encode(data)
            self.client.replace(current)


def _patch_webhook(client: Any, name: str, bundle: bytes) -> str:
    """Set caBundle on every webhook of the configuration; returns what happened."""
    from lightkube import ApiError
    from lightkube.resources.admissionregistration_v1 import MutatingWebhookConfiguration
    from lightkube.types import PatchType

    try:
        mwc = client.get(MutatingWebhookConfiguration, name=name)
    except ApiError as exc:
        if _is_not_found(exc):
            return f"MutatingWebhookConfiguration {name} not found yet; caBundle not set"
        raise
    value = base64.b64encode(bundle).decode()
    webhooks = list(mwc.webhooks or [])
    if all(w.clientConfig.caBundle == value for w in webhooks):
        return f"MutatingWebhookConfiguration {name}: caBundle up to date"
    ops: list[dict[str, Any]] = []
    for i, hook in enumerate(webhooks):
        ops.append({"op": "test", "path": f"/webhooks/{i}/name", "value": hook.name})
        ops.append({"op": "add", "path": f"/webhooks/{i}/clientConfig/caBundle", "value": value})
    client.patch(MutatingWebhookConfiguration, name, ops, patch_type=PatchType.JSON)
    return f"MutatingWebhookConfiguration {name}: caBundle set on {len(webhooks)} webhook(s)"


@click.command(name="certs")
@click.option("--namespace", required=True, help="Namespace of the Secrets.")
@click.option("--secret-name", required=True, help="TLS Secret (tls.crt, tls.key, ca.crt).")
@option("--ca-secret-name", show_default="<secret-name>-ca", help="CA Secret.")
@option(
    "--webhook-name", show_default="none: patch no caBundle",
    help="MutatingWebhookConfiguration whose caBundle to set.",
)  # fmt: skip
@click.option("--host", "hosts", multiple=True, required=True, help="DNS name or IP (repeat).")
@click.option("--validity", default="87600h", show_default=True, help="CA and certificate.")
@click.option("--renew-before", default="720h", show_default=True, help="Renew this early.")
@option(
    "--kubeconfig", envvar="KUBECONFIG", type=click.Path(path_type=Path),
    show_default="in-cluster, else ~/.kube/config", help="Kubeconfig file.",
)  # fmt: skip
def command(
    namespace: str,
    secret_name: str,
    ca_secret_name: str | None,
    webhook_name: str | None,
    hosts: tuple[str, ...],
    validity: str,
    renew_before: str,
    kubeconfig: Path | None,
) -> None:
    """Create or renew the webhook's CA and serving certificate; set the webhook's caBundle."""
    from hami.webhook.certs import CertError, check_hosts, parse_duration, plan

    try:
        valid_for = parse_duration(validity)
        renew = parse_duration(renew_before)
        check_hosts(hosts)
        if renew >= valid_for:
            raise CertError("--renew-before must be shorter than --validity")
    except CertError as exc:
        raise click.BadParameter(str(exc)) from exc
    import httpx2
    import yaml
    from lightkube import ApiError, Client, ConfigError, KubeConfig

    try:
        config = KubeConfig.from_file(str(kubeconfig)) if kubeconfig else None
        client = Client(config=config, field_manager="hami-certs")
    except (ConfigError, OSError) as exc:
        raise click.ClickException(f"no Kubernetes access: {exc}") from exc
    except (yaml.YAMLError, AttributeError, KeyError, TypeError, ValueError) as exc:
        raise click.ClickException(f"{kubeconfig}: not a valid kubeconfig ({exc})") from exc
    secrets = _Secrets(client, namespace)
    ca_name = ca_secret_name or f"{secret_name}-ca"
    try:
        tls_obj, ca_obj = secrets.get(secret_name), secrets.get(ca_name)
        decided = plan(
            _decode(tls_obj.data) if tls_obj is not None else None,
            _decode(ca_obj.data) if ca_obj is not None else None,
            list(hosts),
            now=dt.datetime.now(dt.UTC),
            validity=valid_for,
            renew_before=renew,
            ca_name=f"{secret_name}-ca",
        )
        if decided.ca is not None:
            secrets.write(ca_obj, ca_name, decided.ca, tls=False)
        if decided.tls is not None:
            secrets.write(tls_obj, secret_name, decided.tls, tls=True)
        verb = "updated" if decided.changed else "unchanged"
        click.echo(f"Secret {namespace}/{secret_name}: {verb} ({decided.reason})")
        if webhook_name:
            click.echo(_patch_webhook(client, webhook_name, decided.ca_bundle))
    except CertError as exc:
        raise click.BadParameter(str(exc)) from exc
    except ApiError as exc:
        raise click.ClickException(f"Kubernetes API: {_api_error(exc)}") from exc
    except httpx2.HTTPError as exc:
        raise click.ClickException(f"Kubernetes API unreachable: {exc}") from exc
    finally:
        client.close()
