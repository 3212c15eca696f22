"""A local certificate authority, so that the sandbox's PDS can reach a service over HTTPS.

AT Protocol OAuth has no room for a confidential web client on ``http://127.0.0.1``: the
reference PDS fetches the client's metadata from its ``client_id``, which must be an
``https://`` URL on a domain name that is not a local one (``.test``, ``.local``,
``.localhost``, ``.invalid``, ``.example``), and sends the browser back to an ``https://``
redirect URI on that name. The sandbox therefore:

* trusts this CA (``NODE_EXTRA_CA_CERTS`` when it starts its Node process), and
* resolves every name under :data:`LOCAL_DOMAIN` to ``127.0.0.1`` inside that process only
  (``network.mjs``), nothing on the machine changes;

and a test serves the coalition service over HTTPS on such a name with a certificate issued
here (:func:`issue`). The CA is made once per cache and kept: a running sandbox trusts the one
it was started with.
"""

from __future__ import annotations

import datetime
import fcntl
import ipaddress
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from departures.sandbox.install import cache_root

__all__ = ["LOCAL_DOMAIN", "Issued", "ca_file", "issue"]

LOCAL_DOMAIN = "sandbox.internal"
"""Names under this domain resolve to 127.0.0.1 in the sandbox (``.internal`` is reserved for
private use and is not one of the names the PDS refuses as local)."""

_DAYS = 3650


@dataclass(frozen=True)
class Issued:
    """A certificate and its key, as PEM files (what uvicorn's ``ssl_*`` options take)."""

    cert_file: Path
    key_file: Path


def _tls_dir() -> Path:
    path = cache_root() / "tls"
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    return path


def _write_key(path: Path, key: ec.EllipticCurvePrivateKey) -> None:
    data = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    tmp = path.with_suffix(".tmp")
    tmp.write_bytes(data)
    tmp.chmod(0o600)
    tmp.replace(path)


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def _ensure_ca() -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    folder = _tls_dir()
    cert_path, key_path = folder / "ca.pem", folder / "ca-key.pem"
    with (folder / "lock").open("w") as lock:  # two test sessions at once make one CA
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (cert_path.exists() and key_path.exists()):
            key = ec.generate_private_key(ec.SECP256R1())
            name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "departures sandbox CA")])
            cert = (
                x509.CertificateBuilder()
                .subject_name(name)
                .issuer_name(name)
                .public_key(key.public_key())
                .serial_number(x509.random_serial_number())
                .not_valid_before(_now() - datetime.timedelta(days=1))
                .not_valid_after(_now() + datetime.timedelta(days=_DAYS))
                .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
                .add_extension(
                    x509.KeyUsage(
                        digital_signature=True,
                        key_cert_sign=True,
                        crl_sign=True,
                        content_commitment=False,
                        key_encipherment=False,
                        data_encipherment=False,
                        key_agreement=False,
                        encipher_only=False,
                        decipher_only=False,
                    ),
                    critical=True,
                )
                .sign(key, hashes.SHA256())
            )
            _write_key(key_path, key)
            cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
    loaded = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
    assert isinstance(loaded, ec.EllipticCurvePrivateKey)
    return cert, loaded


def ca_file() -> Path:
    """The CA certificate (PEM) the sandbox trusts; made on first use."""
    _ensure_ca()
    return _tls_dir() / "ca.pem"


def issue(hostname: str, folder: Path) -> Issued:
    """A server certificate for ``hostname`` (and 127.0.0.1) signed by the CA, in ``folder``."""
    ca_cert, ca_key = _ensure_ca()
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hostname)]))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(_now() - datetime.timedelta(days=1))
        .not_valid_after(_now() + datetime.timedelta(days=30))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName(hostname), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    folder.mkdir(parents=True, exist_ok=True)
    issued = Issued(folder / f"{hostname}.pem", folder / f"{hostname}-key.pem")
    issued.cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    _write_key(issued.key_file, key)
    return issued
