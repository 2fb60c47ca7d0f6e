"""A throw-away TLS identity for the simulated Redfish services.

``community.general.redfish_command`` always talks ``https://``, so every simulated Redfish service
needs a certificate. One self-signed certificate per simulator (ECDSA P-256: generated in about a
millisecond, unlike RSA) covers every node, with the loopback addresses in use as IP SANs. The
certificate is written next to its key (key mode 0600) so clients can verify it (``ca_path`` /
``cafile``) instead of turning verification off.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
import ssl
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

__all__ = ["TlsIdentity", "make_tls_identity"]


@dataclass(frozen=True)
class TlsIdentity:
    """Paths of a PEM certificate and its private key."""

    cert_file: Path
    key_file: Path

    def server_context(self) -> ssl.SSLContext:
        """An SSL context for the server side of the simulated services."""
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.load_cert_chain(self.cert_file, self.key_file)
        return context

    def client_context(self) -> ssl.SSLContext:
        """An SSL context that trusts exactly this certificate (for tests and the control client)."""
        context = ssl.create_default_context(cafile=str(self.cert_file))
        return context


def make_tls_identity(directory: Path, *, hosts: Iterable[str], days: int = 30) -> TlsIdentity:
    """Create a self-signed certificate valid for ``hosts`` (IP addresses or names) in ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    key = ec.generate_private_key(ec.SECP256R1())
    names: list[x509.GeneralName] = []
    for host in dict.fromkeys(hosts):
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            names.append(x509.DNSName(host))
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "kraken-sim-bmc")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=days))
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file = directory / "bmc-cert.pem"
    key_file = directory / "bmc-key.pem"
    fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return TlsIdentity(cert_file=cert_file, key_file=key_file)
