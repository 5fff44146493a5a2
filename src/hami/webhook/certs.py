"""The webhook's certificates, decided as plain functions: a CA, a serving certificate signed by
it, and whether what a Secret already holds is still good (``hami certs`` does the I/O).

:func:`plan` looks at the current Secret contents and returns what to write: nothing when the
serving certificate is valid for longer than ``renew_before``, covers the hosts and is signed by
the stored CA; a new serving certificate from the same CA when it is expiring or its hosts
changed; a new CA as well when the CA itself is expiring, missing or unreadable. The CA bundle
(the Secret's ``ca.crt`` and the webhook's ``caBundle``) keeps a replaced CA until it expires, so
clients that still hold the old serving certificate keep verifying during the switch.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

TLS_CRT, TLS_KEY, CA_CRT, CA_KEY = "tls.crt", "tls.key", "ca.crt", "ca.key"

_DURATION = re.compile(r"(\d+(?:\.\d+)?)(d|h|m|s)")
_UNIT_S = {"d": 86400.0, "h": 3600.0, "m": 60.0, "s": 1.0}


class CertError(ValueError):
    """Bad input (a duration, a host); the message says which."""


def parse_duration(text: str) -> dt.timedelta:
    """A Go duration (``87600h``, ``720h``, ``1h30m``) or days (``365d``) as a timedelta."""
    pos, total = 0, 0.0
    for m in _DURATION.finditer(text):
        if m.start() != pos:
            break
        total += float(m.group(1)) * _UNIT_S[m.group(2)]
        pos = m.end()
    if not text or pos != len(text):
        raise CertError(f"not a duration: {text!r} (use e.g. 87600h, 720h, 365d)")
    return dt.timedelta(seconds=total)


@dataclass(frozen=True, slots=True)
class KeyPair:
    cert_pem: bytes
    key_pem: bytes

    @property
    def cert(self) -> x509.Certificate:
        return x509.load_pem_x509_certificate(self.cert_pem)


@dataclass(frozen=True, slots=True)
class Plan:
    """What to store. ``tls``/``ca`` are the Secrets' new data, or None when unchanged."""

    tls: dict[str, bytes] | None
    ca: dict[str, bytes] | None
    ca_bundle: bytes
    reason: str

    @property
    def changed(self) -> bool:
        return self.tls is not None or self.ca is not None


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _san(hosts: Sequence[str]) -> x509.SubjectAlternativeName:
    names: list[x509.GeneralName] = []
    for host in hosts:
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            if not host or any(c in host for c in " /:@"):
                raise CertError(f"not a host name or IP address: {host!r}") from None
            names.append(x509.DNSName(host))
    return x509.SubjectAlternativeName(names)


def check_hosts(hosts: Sequence[str]) -> None:
    """Refuse an empty list or anything that is neither a DNS name nor an IP address."""
    if not hosts:
        raise CertError("at least one --host is needed")
    _san(hosts)


def make_ca(common_name: str, now: dt.datetime, validity: dt.timedelta) -> KeyPair:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + validity)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
        .sign(key, hashes.SHA256())
    )
    return KeyPair(cert.public_bytes(serialization.Encoding.PEM), _key_pem(key))


def make_serving(
    ca: KeyPair, hosts: Sequence[str], now: dt.datetime, validity: dt.timedelta
) -> KeyPair:
    """A serving certificate for ``hosts`` (DNS names and IPs), never outliving its CA."""
    if not hosts:
        raise CertError("at least one --host is needed")
    ca_cert = ca.cert
    ca_key = serialization.load_pem_private_key(ca.key_pem, None)
    if not isinstance(ca_key, ec.EllipticCurvePrivateKey):
        raise CertError("the CA key is not an ECDSA key")
    key = ec.generate_private_key(ec.SECP256R1())
    not_after = min(now + validity, ca_cert.not_valid_after_utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hosts[0])]))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(not_after)
        .add_extension(_san(hosts), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(True, False, False, False, False, False, False, False, False),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_cert.public_key()),  # type: ignore[arg-type]
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    return KeyPair(cert.public_bytes(serialization.Encoding.PEM), _key_pem(key))


def _load_pair(cert_pem: bytes | None, key_pem: bytes | None) -> KeyPair | None:
    """The pair if both parse and the key belongs to the certificate, else None."""
    if not cert_pem or not key_pem:
        return None
    try:
        cert = x509.load_pem_x509_certificate(cert_pem)
        key = serialization.load_pem_private_key(key_pem, None)
    except (ValueError, TypeError):
        return None
    pub = serialization.PublicFormat.SubjectPublicKeyInfo
    enc = serialization.Encoding.DER
    if cert.public_key().public_bytes(enc, pub) != key.public_key().public_bytes(enc, pub):
        return None
    return KeyPair(cert_pem, key_pem)


def _signed_by(cert: x509.Certificate, ca: x509.Certificate) -> bool:
    try:
        cert.verify_directly_issued_by(ca)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


def _names(san: x509.SubjectAlternativeName) -> set[str]:
    ips = {str(v) for v in san.get_values_for_type(x509.IPAddress)}
    return ips | set(san.get_values_for_type(x509.DNSName))


def _hosts(cert: x509.Certificate) -> set[str]:
    try:
        return _names(cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value)
    except x509.ExtensionNotFound:
        return set()


def _bundle_certs(pem: bytes | None, now: dt.datetime) -> list[x509.Certificate]:
    if not pem:
        return []
    try:
        certs = x509.load_pem_x509_certificates(pem)
    except ValueError:
        return []
    return [c for c in certs if c.not_valid_after_utc > now]


def _pem(certs: Sequence[x509.Certificate]) -> bytes:
    out: list[bytes] = []
    seen: set[bytes] = set()
    for c in certs:
        der = c.public_bytes(serialization.Encoding.DER)
        if der not in seen:
            seen.add(der)
            out.append(c.public_bytes(serialization.Encoding.PEM))
    return b"".join(out)


def plan(
    tls: Mapping[str, bytes] | None,
    ca: Mapping[str, bytes] | None,
    hosts: Sequence[str],
    *,
    now: dt.datetime,
    validity: dt.timedelta,
    renew_before: dt.timedelta,
    ca_name: str = "hami-webhook-ca",
) -> Plan:
    """Decide what the TLS Secret (tls.crt, tls.key, ca.crt) and the CA Secret (ca.crt, ca.key)
    must hold; see the module docstring."""
    if renew_before >= validity:
        raise CertError("--renew-before must be shorter than --validity")
    _san(hosts)  # refuse bad hosts before anything else
    tls, ca = tls or {}, ca or {}
    old_ca = _load_pair(ca.get(CA_CRT), ca.get(CA_KEY))
    serving = _load_pair(tls.get(TLS_CRT), tls.get(TLS_KEY))
    old_bundle = _bundle_certs(tls.get(CA_CRT), now)

    if old_ca is None:
        reason = "no CA yet" if not ca else "CA unreadable or key mismatch"
    elif old_ca.cert.not_valid_after_utc - now <= renew_before:
        reason = "CA expires soon"
    else:
        reason = ""
    new_ca = make_ca(ca_name, now, validity) if reason else None
    signer = new_ca or old_ca
    assert signer is not None

    if new_ca is None and serving is not None:
        cert = serving.cert
        if not _signed_by(cert, signer.cert):
            reason = "serving certificate not signed by the CA"
        elif cert.not_valid_after_utc - now <= renew_before:
            reason = "serving certificate expires soon"
        elif _hosts(cert) != _names(_san(hosts)):
            reason = "hosts changed"
        else:
            bundle = _pem([signer.cert, *old_bundle])
            if bundle != tls.get(CA_CRT):
                return Plan({**tls, CA_CRT: bundle}, None, bundle, "CA bundle out of date")
            return Plan(None, None, bundle, "up to date")
    elif new_ca is None:
        reason = "no serving certificate yet" if not tls else "serving certificate unreadable"

    fresh = make_serving(signer, hosts, now, validity)
    keep_old = [old_ca.cert] if new_ca is not None and old_ca is not None else []
    live_old = [c for c in keep_old if c.not_valid_after_utc > now]
    bundle = _pem([signer.cert, *live_old, *(old_bundle if new_ca is None else [])])
    tls_data = {TLS_CRT: fresh.cert_pem, TLS_KEY: fresh.key_pem, CA_CRT: bundle}
    ca_data = {CA_CRT: new_ca.cert_pem, CA_KEY: new_ca.key_pem} if new_ca is not None else None
    return Plan(tls_data, ca_data, bundle, reason)
