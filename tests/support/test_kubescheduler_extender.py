"""The stand-in's extender client over real HTTP: exact request bytes, timeout, status errors,
`Error` in bind results, HTTPS with `tlsConfig` (insecure and CA-verified)."""

from __future__ import annotations

import base64
import datetime as dt
import ipaddress
import re
import ssl
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.support.kubescheduler import ExtenderClient, ExtenderError, parse_extender
from tests.support.kubescheduler.fakeextender import FakeExtender

POD = {"metadata": {"name": "p", "namespace": "ns", "uid": "u-1"}, "spec": {"containers": []}}
NODES = [{"metadata": {"name": "n1"}}, {"metadata": {"name": "n2"}}]


def client(url: str, **extra: Any) -> ExtenderClient:
    return ExtenderClient(
        parse_extender(
            {
                "urlPrefix": url,
                "filterVerb": "filter",
                "bindVerb": "bind",
                "nodeCacheCapable": True,
                **extra,
            }
        )
    )


@pytest.fixture
def ext() -> Iterator[FakeExtender]:
    with FakeExtender() as e:
        yield e


async def test_filter_sends_exact_bytes(ext: FakeExtender) -> None:
    c = client(ext.url)
    try:
        res = await c.filter(POD, NODES)
    finally:
        await c.aclose()
    assert res.passed(True) == ["n1", "n2"]
    verb, raw, headers = ext.requests[0]
    assert verb == "filter"
    assert raw == (
        b'{"Pod":{"metadata":{"name":"p","namespace":"ns","uid":"u-1"},'
        b'"spec":{"containers":[]}},"Nodes":null,"NodeNames":["n1","n2"]}'
    )
    assert headers["Content-Type"] == "application/json"
    assert c.calls_of("filter")[0].status == 200


async def test_bind_sends_exact_bytes(ext: FakeExtender) -> None:
    c = client(ext.url)
    try:
        await c.bind(POD, "n2")
    finally:
        await c.aclose()
    assert ext.requests[0][:2] == (
        "bind",
        b'{"PodName":"p","PodNamespace":"ns","PodUID":"u-1","Node":"n2"}',
    )


async def test_bind_error_field(ext: FakeExtender) -> None:
    ext.bind_handler = lambda args: {"Error": "node lock contention"}
    c = client(ext.url)
    try:
        with pytest.raises(ExtenderError, match=r"^node lock contention$"):
            await c.bind(POD, "n1")
    finally:
        await c.aclose()


@pytest.mark.parametrize("verb", ["filter", "bind"])
async def test_non_200_is_an_error(ext: FakeExtender, verb: str) -> None:
    ext.status[verb] = 500
    c = client(ext.url)
    try:
        with pytest.raises(
            ExtenderError,
            match=re.escape(f"failed {verb} with extender at URL {ext.url}/{verb}, code 500"),
        ):
            await (c.filter(POD, NODES) if verb == "filter" else c.bind(POD, "n1"))
    finally:
        await c.aclose()


async def test_http_timeout_honoured(ext: FakeExtender) -> None:
    ext.delay_s["filter"] = 1.0
    c = client(ext.url, httpTimeout="200ms")
    try:
        with pytest.raises(ExtenderError, match="context deadline exceeded"):
            await c.filter(POD, NODES)
    finally:
        await c.aclose()
    assert c.calls[0].error is not None


def _self_signed(tmp: Path) -> tuple[ssl.SSLContext, bytes]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=1))
        .not_valid_after(now + dt.timedelta(hours=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    pem = cert.public_bytes(serialization.Encoding.PEM)
    (tmp / "tls.crt").write_bytes(pem)
    (tmp / "tls.key").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(tmp / "tls.crt", tmp / "tls.key")
    return ctx, pem


@pytest.mark.parametrize("mode", ["insecure", "caData", "caFile", "untrusted"])
async def test_https(tmp_path: Path, mode: str) -> None:
    server_ctx, pem = _self_signed(tmp_path)
    options: dict[str, dict[str, Any]] = {
        "insecure": {"insecure": True},
        "caData": {"caData": base64.b64encode(pem).decode()},
        "caFile": {"caFile": str(tmp_path / "tls.crt")},
        "untrusted": {},
    }
    tls = options[mode]
    with FakeExtender(tls_context=server_ctx) as e:
        c = client(e.url, enableHTTPS=True, tlsConfig=tls or None)
        try:
            if mode == "untrusted":
                with pytest.raises(ExtenderError, match="CERTIFICATE_VERIFY_FAILED"):
                    await c.filter(POD, NODES)
            else:
                assert (await c.filter(POD, NODES)).passed(True) == ["n1", "n2"]
        finally:
            await c.aclose()
