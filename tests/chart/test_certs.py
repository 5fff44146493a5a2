"""``hami certs``: the pure decisions (hami.webhook.certs), the command against the apiserver
stand-in (fresh, idempotent, renewal, caBundle), and a running scheduler picking up a renewed
certificate over real TLS, with the Secret materialised the way kubelet does (atomic ..data
symlink swap)."""

from __future__ import annotations

import base64
import datetime as dt
import os
import socket
import ssl
import time
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from cryptography import x509

from hami.cli import main
from hami.webhook import certs
from tests.support.apiserver import ApiServerThread
from tests.support.kubescheduler.config import TLSConfig

NOW = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
HOSTS = ["hami-scheduler.kube-system.svc", "127.0.0.1"]
TEN_YEARS = dt.timedelta(days=3650)
MONTH = dt.timedelta(days=30)
NS, SECRET, WEBHOOK = "kube-system", "hami-scheduler-tls", "hami-webhook"


def _plan(tls: Any = None, ca: Any = None, **kw: Any) -> certs.Plan:
    args: dict[str, Any] = {"now": NOW, "validity": TEN_YEARS, "renew_before": MONTH, **kw}
    hosts = args.pop("hosts", HOSTS)
    return certs.plan(tls, ca, hosts, **args)


def _verifies(bundle: bytes, cert_pem: bytes) -> bool:
    cert = x509.load_pem_x509_certificate(cert_pem)
    for ca in x509.load_pem_x509_certificates(bundle):
        try:
            cert.verify_directly_issued_by(ca)
            return True
        except Exception:
            continue
    return False


# -- pure decisions ---------------------------------------------------------------------------


def test_fresh_then_idempotent() -> None:
    first = _plan()
    assert first.tls is not None and first.ca is not None and first.reason == "no CA yet"
    assert _verifies(first.ca_bundle, first.tls[certs.TLS_CRT])
    cert = x509.load_pem_x509_certificate(first.tls[certs.TLS_CRT])
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == [HOSTS[0]]
    assert [str(ip) for ip in san.get_values_for_type(x509.IPAddress)] == ["127.0.0.1"]
    again = _plan(first.tls, first.ca, now=NOW + dt.timedelta(days=100))
    assert not again.changed and again.reason == "up to date"
    assert again.ca_bundle == first.ca_bundle


def test_expiring_serving_certificate_is_renewed_from_the_same_ca() -> None:
    first = _plan(validity=TEN_YEARS)
    assert first.tls is not None and first.ca is not None
    ca = certs.KeyPair(first.ca[certs.CA_CRT], first.ca[certs.CA_KEY])
    short = certs.make_serving(ca, HOSTS, NOW, dt.timedelta(days=10))
    tls = {**first.tls, certs.TLS_CRT: short.cert_pem, certs.TLS_KEY: short.key_pem}
    renewed = _plan(tls, first.ca)
    assert renewed.reason == "serving certificate expires soon"
    assert renewed.ca is None and renewed.tls is not None  # CA kept
    assert renewed.tls[certs.TLS_CRT] != short.cert_pem
    assert _verifies(first.ca_bundle, renewed.tls[certs.TLS_CRT])


def test_expiring_ca_is_replaced_and_the_old_one_stays_in_the_bundle() -> None:
    first = _plan(validity=dt.timedelta(days=40), renew_before=dt.timedelta(days=1))
    assert first.tls is not None and first.ca is not None
    later = _plan(first.tls, first.ca, now=NOW + dt.timedelta(days=20))
    assert later.reason == "CA expires soon" and later.ca is not None and later.tls is not None
    bundle = x509.load_pem_x509_certificates(later.ca_bundle)
    assert len(bundle) == 2
    assert _verifies(later.ca_bundle, first.tls[certs.TLS_CRT])  # old serving cert still trusted
    assert _verifies(later.ca_bundle, later.tls[certs.TLS_CRT])


def test_changed_hosts_or_broken_data_regenerate() -> None:
    first = _plan()
    assert first.tls is not None
    moved = _plan(first.tls, first.ca, hosts=["other.kube-system.svc", "127.0.0.1"])
    assert moved.reason == "hosts changed" and moved.ca is None
    broken = _plan({**first.tls, certs.TLS_KEY: b"garbage"}, first.ca)
    assert broken.reason == "serving certificate unreadable" and broken.tls is not None
    other = _plan()  # a serving cert from another CA
    assert other.tls is not None
    foreign = _plan(other.tls, first.ca)
    assert foreign.reason == "serving certificate not signed by the CA"
    assert _plan({}, {certs.CA_CRT: b"x"}).reason == "CA unreadable or key mismatch"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"hosts": ["bad host"]}, "not a host name"),
        ({"hosts": []}, "at least one --host"),
        ({"renew_before": TEN_YEARS}, "shorter than --validity"),
    ],
)
def test_bad_input(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(certs.CertError, match=message):
        _plan(**kwargs)


def test_durations() -> None:
    assert certs.parse_duration("87600h") == dt.timedelta(days=3650)
    assert certs.parse_duration("1h30m") == dt.timedelta(minutes=90)
    assert certs.parse_duration("365d") == dt.timedelta(days=365)
    for bad in ("", "10 years", "5", "h"):
        with pytest.raises(certs.CertError):
            certs.parse_duration(bad)


# -- the command against the apiserver stand-in ----------------------------------------------


def webhook_config() -> dict[str, Any]:
    hook = {
        "name": "vgpu.hami.io",
        "admissionReviewVersions": ["v1"],
        "sideEffects": "None",
        "clientConfig": {
            "service": {"name": "hami-scheduler", "namespace": NS, "path": "/webhook"}
        },
        "rules": [
            {
                "operations": ["CREATE"],
                "apiGroups": [""],
                "apiVersions": ["v1"],
                "resources": ["pods"],
            }
        ],
    }
    return {
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "MutatingWebhookConfiguration",
        "metadata": {"name": WEBHOOK},
        "webhooks": [hook, {**hook, "name": "second.hami.io"}],
    }


def run_certs(api: ApiServerThread, *extra: str, code: int = 0) -> str:
    args = [
        "certs",
        f"--namespace={NS}",
        f"--secret-name={SECRET}",
        f"--webhook-name={WEBHOOK}",
        *[f"--host={h}" for h in HOSTS],
        f"--kubeconfig={api.kubeconfig_path}",
        *extra,
    ]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == code, (result.output, result.exception)
    assert "Traceback" not in result.output
    return result.output


def _secret(api: ApiServerThread, name: str = SECRET) -> dict[str, Any]:
    return api.store.get("secrets", name, namespace=NS)


def _data(secret: dict[str, Any]) -> dict[str, bytes]:
    return {k: base64.b64decode(v) for k, v in secret["data"].items()}


def test_command_fresh_idempotent_and_patches_the_webhook(apiserver: ApiServerThread) -> None:
    out = run_certs(apiserver)
    assert "updated (no CA yet)" in out and "not found yet" in out
    tls = _secret(apiserver)
    assert tls["type"] == "kubernetes.io/tls"
    assert set(tls["data"]) == {"tls.crt", "tls.key", "ca.crt"}
    assert set(_secret(apiserver, f"{SECRET}-ca")["data"]) == {"ca.crt", "ca.key"}
    rv = tls["metadata"]["resourceVersion"]

    apiserver.store.create(webhook_config())
    out = run_certs(apiserver)
    assert "unchanged (up to date)" in out and "caBundle set on 2 webhook(s)" in out
    assert _secret(apiserver)["metadata"]["resourceVersion"] == rv
    mwc = apiserver.store.get("MutatingWebhookConfiguration", WEBHOOK)
    bundle = _data(tls)["ca.crt"]
    for hook in mwc["webhooks"]:
        assert base64.b64decode(hook["clientConfig"]["caBundle"]) == bundle
    mwc_rv = mwc["metadata"]["resourceVersion"]
    out = run_certs(apiserver)
    assert "caBundle up to date" in out
    mwc = apiserver.store.get("MutatingWebhookConfiguration", WEBHOOK)
    assert mwc["metadata"]["resourceVersion"] == mwc_rv


def test_command_renews_before_expiry(apiserver: ApiServerThread) -> None:
    apiserver.store.create(webhook_config())
    run_certs(apiserver, "--validity=48h", "--renew-before=1h")
    before = _data(_secret(apiserver))
    assert "unchanged" in run_certs(apiserver, "--validity=48h", "--renew-before=1h")
    # a CA with 48h left is inside a 50h renewal window
    out = run_certs(apiserver, "--validity=96h", "--renew-before=50h")
    assert "updated (CA expires soon)" in out
    after = _data(_secret(apiserver))
    assert after["tls.crt"] != before["tls.crt"]
    assert _verifies(after["ca.crt"], after["tls.crt"])
    assert _verifies(after["ca.crt"], before["tls.crt"])  # old CA kept while it is valid
    mwc = apiserver.store.get("MutatingWebhookConfiguration", WEBHOOK)
    assert base64.b64decode(mwc["webhooks"][0]["clientConfig"]["caBundle"]) == after["ca.crt"]


def test_command_bad_input_is_one_line(apiserver: ApiServerThread, tmp_path: Path) -> None:
    out = run_certs(apiserver, "--validity=10 years", code=2)
    assert "not a duration" in out
    out = run_certs(apiserver, "--renew-before=87600h", code=2)
    assert "shorter than --validity" in out
    out = run_certs(apiserver, "--host=bad host", code=2)
    assert "not a host name" in out
    junk = tmp_path / "junk"
    junk.write_text("just a string\n")
    result = CliRunner().invoke(main, ["certs", "--namespace=x", "--secret-name=s", "--host=a",
                                       f"--kubeconfig={junk}"])  # fmt: skip
    assert result.exit_code == 1 and "not a valid kubeconfig" in result.output
    assert len(result.output.strip().splitlines()) == 1
    dead = tmp_path / "kubeconfig"
    dead.write_text(apiserver.kubeconfig_path.read_text().replace(
        apiserver.url, "http://127.0.0.1:9"))  # fmt: skip
    result = CliRunner().invoke(main, ["certs", "--namespace=x", "--secret-name=s", "--host=a",
                                       f"--kubeconfig={dead}"])  # fmt: skip
    assert result.exit_code == 1 and "Kubernetes API unreachable" in result.output
    assert len(result.output.strip().splitlines()) == 1


# -- rotation picked up by a running scheduler over real TLS ---------------------------------


def _materialise(secret: dict[str, Any], volume: Path) -> None:
    """What kubelet does for a Secret volume: a new timestamped dir, then swap ``..data``."""
    stamp = volume / f"..{time.monotonic_ns()}"
    stamp.mkdir()
    for key, value in _data(secret).items():
        (stamp / key).write_bytes(value)
    tmp_link = volume / "..data_tmp"
    tmp_link.symlink_to(stamp.name)
    os.replace(tmp_link, volume / "..data")
    for key in secret["data"]:
        link = volume / key
        if not link.is_symlink():
            link.symlink_to(f"..data/{key}")


def _served(port: int, ca_file: Path) -> bytes:
    """Connect as kube-scheduler would with the chart's tlsConfig (caFile, host 127.0.0.1)."""
    ctx = TLSConfig(ca_file=str(ca_file)).ssl_context()
    with socket.create_connection(("127.0.0.1", port), timeout=5) as raw, \
            ctx.wrap_socket(raw, server_hostname="127.0.0.1") as tls:  # fmt: skip
        return tls.getpeercert(binary_form=True) or b""


def test_running_scheduler_picks_up_the_renewed_certificate(
    apiserver: ApiServerThread, tmp_path: Path
) -> None:
    from tests.integration.stack import start_scheduler, wait_for

    run_certs(apiserver, "--validity=48h", "--renew-before=1h")
    volume = tmp_path / "tls"
    volume.mkdir()
    _materialise(_secret(apiserver), volume)
    sched = start_scheduler(
        apiserver, cert_file=str(volume / "tls.crt"), key_file=str(volume / "tls.key")
    )
    try:
        port = sched.runner.port(0)  # type: ignore[union-attr]
        first = _served(port, volume / "ca.crt")
        time.sleep(1.1)  # the reload compares mtimes
        run_certs(apiserver, "--validity=96h", "--renew-before=50h")
        _materialise(_secret(apiserver), volume)
        renewed = x509.load_pem_x509_certificate((volume / "tls.crt").read_bytes())
        want = renewed.public_bytes(serialization_der())
        assert want != first

        def picked_up() -> bool:
            try:
                return _served(port, volume / "ca.crt") == want
            except (OSError, ssl.SSLError):
                return False

        assert wait_for(picked_up, 15), "the scheduler still serves the old certificate"
        # the apiserver's view: the webhook's caBundle and the Service's DNS name
        apiserver.store.create(webhook_config())
        run_certs(apiserver, "--validity=96h", "--renew-before=50h")
        mwc = apiserver.store.get("MutatingWebhookConfiguration", WEBHOOK)
        bundle = base64.b64decode(mwc["webhooks"][0]["clientConfig"]["caBundle"])
        ctx = ssl.create_default_context(cadata=bundle.decode())
        with socket.create_connection(("127.0.0.1", port), timeout=5) as raw, \
                ctx.wrap_socket(raw, server_hostname=HOSTS[0]) as tls:  # fmt: skip
            assert tls.getpeercert(binary_form=True) == want
    finally:
        sched.stop()


def serialization_der() -> Any:
    from cryptography.hazmat.primitives.serialization import Encoding

    return Encoding.DER


def test_command_takes_over_a_secret_left_by_hami(apiserver: ApiServerThread) -> None:
    """HAMi's kube-webhook-certgen leaves its Secret behind on uninstall; hami certs reuses the
    object and replaces its contents with its own CA and certificate."""
    stale = base64.b64encode(b"not a certificate").decode()
    apiserver.store.create({
        "apiVersion": "v1", "kind": "Secret", "type": "Opaque",
        "metadata": {"name": SECRET, "namespace": NS},
        "data": {"tls.crt": stale, "tls.key": stale},
    })  # fmt: skip
    out = run_certs(apiserver)
    assert "updated (no CA yet)" in out
    data = _data(_secret(apiserver))
    assert _verifies(data["ca.crt"], data["tls.crt"])
    assert "unchanged" in run_certs(apiserver)
