"""``python -m tradefleet_operator.webhook_certificate DIRECTORY NAME...``: write a new key
(``tls.key``, readable by its owner only) and a self-signed certificate for the NAMEs
(``tls.crt``, its own CA) into DIRECTORY, for the operator's admission webhook.

Run as a child process by :func:`tradefleet_operator.admission.webhook_server`, so that the
operator itself never imports ``cryptography``: it would hold about 12 MB of the operator's
memory for good, for a certificate made once at start. Exits with 2 and the reason on stderr.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
import sys
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

# Long enough never to lapse under a running operator: a new one is made at each start.
CERTIFICATE_DAYS = 3650


def _alternative_names(names: list[str]) -> list[x509.GeneralName]:
    alternative: list[x509.GeneralName] = []
    for name in names:
        try:
            alternative.append(x509.IPAddress(ipaddress.ip_address(name)))
        except ValueError:
            alternative.append(x509.DNSName(name))
    return alternative


def write_certificate(*, directory: Path, names: list[str]) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    # Clients check the subject alternative names; a common name is at most 64 characters,
    # shorter than a Service's DNS name in a long namespace.
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "tradefleet-operator-webhook")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))  # clocks a little apart
        .not_valid_after(now + datetime.timedelta(days=CERTIFICATE_DAYS))
        .add_extension(x509.SubjectAlternativeName(_alternative_names(names)), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(key, hashes.SHA256())
    )
    descriptor = os.open(directory / "tls.key", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "wb") as out:
        out.write(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
    (directory / "tls.crt").write_bytes(certificate.public_bytes(serialization.Encoding.PEM))


def main(argv: list[str]) -> int:
    if len(argv) < 2:
        print("usage: webhook_certificate DIRECTORY NAME...", file=sys.stderr)
        return 2
    try:
        write_certificate(directory=Path(argv[0]), names=argv[1:])
    except (OSError, ValueError) as exc:
        print(f"cannot make the webhook's certificate: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
