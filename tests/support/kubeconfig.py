"""Kubeconfig files for test API servers, and raw httpx clients built from a kubeconfig.

``write_kubeconfig`` writes a file lightkube's ``KubeConfig.from_file`` accepts;
``httpx_client`` reads one (token, client certificate, CA, insecure flag) so raw-HTTP tests can
talk to the stand-in or to a real cluster alike.
"""

from __future__ import annotations

import base64
import ssl
import tempfile
from pathlib import Path
from typing import Any

import httpx
import yaml


def write_kubeconfig(
    path: Path,
    server: str,
    *,
    ca_pem: bytes | None = None,
    token: str | None = None,
    namespace: str = "default",
) -> Path:
    """Write a single-context kubeconfig for ``server`` to ``path`` and return the path."""
    cluster: dict[str, Any] = {"server": server}
    if ca_pem is not None:
        cluster["certificate-authority-data"] = base64.b64encode(ca_pem).decode()
    user: dict[str, Any] = {"token": token} if token else {}
    doc = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "standin", "cluster": cluster}],
        "users": [{"name": "standin", "user": user}],
        "contexts": [
            {
                "name": "standin",
                "context": {"cluster": "standin", "user": "standin", "namespace": namespace},
            }
        ],
        "current-context": "standin",
    }
    path.write_text(yaml.safe_dump(doc))
    return path


def _data_or_file(entry: dict[str, Any], key: str, base: Path) -> bytes | None:
    if entry.get(f"{key}-data"):
        return base64.b64decode(str(entry[f"{key}-data"]))
    if entry.get(key):
        return (base / str(entry[key])).read_bytes()
    return None


def httpx_client(kubeconfig: Path, **kwargs: Any) -> httpx.AsyncClient:
    """An ``httpx.AsyncClient`` with base_url, TLS and credentials of the current context."""
    doc = yaml.safe_load(Path(kubeconfig).read_text())
    base = Path(kubeconfig).parent
    context = next(c["context"] for c in doc["contexts"] if c["name"] == doc["current-context"])
    cluster = next(c["cluster"] for c in doc["clusters"] if c["name"] == context["cluster"])
    user = next(
        (u.get("user") or {} for u in doc.get("users") or [] if u["name"] == context.get("user")),
        {},
    )
    headers = {"Authorization": f"Bearer {user['token']}"} if user.get("token") else {}
    verify: bool | ssl.SSLContext = False  # plain http: skip loading a CA bundle
    if cluster["server"].startswith("https"):
        ctx = ssl.create_default_context()
        ca = _data_or_file(cluster, "certificate-authority", base)
        if ca is not None:
            ctx.load_verify_locations(cadata=ca.decode())
        if cluster.get("insecure-skip-tls-verify"):
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
        cert = _data_or_file(user, "client-certificate", base)
        key = _data_or_file(user, "client-key", base)
        if cert is not None and key is not None:
            with tempfile.TemporaryDirectory() as tmp:
                Path(tmp, "c.pem").write_bytes(cert)
                Path(tmp, "k.pem").write_bytes(key)
                ctx.load_cert_chain(Path(tmp, "c.pem"), Path(tmp, "k.pem"))
        verify = ctx
    return httpx.AsyncClient(base_url=cluster["server"], verify=verify, headers=headers, **kwargs)
