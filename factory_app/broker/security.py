"""A secured local broker's files: a certificate authority, the broker's TLS key pair, client
certificates for mutual TLS, and one SCRAM password per principal.

Everything is PEM (Kafka reads PEM key stores since 2.7), so no keytool and no key-store
passwords: the private keys are plain PKCS#8 files readable by their owner only, which is
what a local or test broker needs. A production cluster brings its own PKI; the client side
(``factory_app/kafka_security.py``) only needs the CA file and, for mutual TLS, a key pair.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import secrets
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

# Principal of the broker itself (inter-broker traffic) and of whoever administers the cluster.
ADMIN = "admin"
# Principal the broker authenticates its own controller connection as (SASL PLAIN on the
# loopback controller listener: KRaft controllers cannot check SCRAM before the metadata log
# that holds SCRAM credentials is loaded).
CONTROLLER = "controller"
SCRAM_MECHANISMS = ("SCRAM-SHA-512", "SCRAM-SHA-256")


@dataclass(frozen=True)
class SecurityFiles:
    """Where a secured node's PKI and passwords live (``root/security``)."""

    root: Path

    @property
    def ca_cert(self) -> Path:
        return self.root / "ca.pem"

    @property
    def ca_key(self) -> Path:
        return self.root / "ca.key"

    @property
    def broker_keystore(self) -> Path:
        """The broker's private key followed by its certificate (Kafka's PEM key store)."""
        return self.root / "broker.pem"

    def password_file(self, user: str) -> Path:
        return self.root / "users" / f"{user}.password"

    def password(self, user: str) -> str:
        return self.password_file(user).read_text().strip()

    def users(self) -> list[str]:
        return sorted(p.stem for p in (self.root / "users").glob("*.password"))

    def client_cert(self, name: str) -> tuple[Path, Path]:
        """``(certificate, key)`` of client ``name`` for mutual TLS."""
        return self.root / "clients" / f"{name}.pem", self.root / "clients" / f"{name}.key"


def _key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _pem_key(key) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def _write_private(path: Path, data: bytes) -> None:
    write_private(path, data)


def write_private(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` readable and writable by its owner only (0600), also when the
    file existed with a wider mode: it is never open to others, not even before the write."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch(mode=0o600, exist_ok=True)
    path.chmod(0o600)
    path.write_bytes(data)


def _certificate(subject: str, key, issuer_name: x509.Name, issuer_key, *, ca: bool, usage,
                 hosts: tuple[str, ...] = (), not_before: dt.datetime, days: float) -> x509.Certificate:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject),
                      x509.NameAttribute(NameOID.ORGANIZATION_NAME, "factory")])
    builder = (x509.CertificateBuilder()
               .subject_name(name)
               .issuer_name(issuer_name if issuer_name is not None else name)
               .public_key(key.public_key())
               .serial_number(x509.random_serial_number())
               .not_valid_before(not_before)
               .not_valid_after(not_before + dt.timedelta(days=days))
               .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
    if usage:
        builder = builder.add_extension(x509.ExtendedKeyUsage(usage), critical=False)
    if hosts:
        alt = [x509.IPAddress(ipaddress.ip_address(h)) if _is_ip(h) else x509.DNSName(h) for h in hosts]
        builder = builder.add_extension(x509.SubjectAlternativeName(alt), critical=False)
    return builder.sign(issuer_key if issuer_key is not None else key, hashes.SHA256())


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
        return True
    except ValueError:
        return False


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc) - dt.timedelta(minutes=5)  # tolerate small clock offsets


def make_authority(files: SecurityFiles, *, days: float = 825) -> None:
    """A fresh CA (kept if one exists: certificates already handed out stay valid)."""
    if files.ca_cert.exists() and files.ca_key.exists():
        return
    key = _key()
    cert = _certificate("factory local CA", key, None, None, ca=True, usage=None, not_before=_now(), days=days)
    _write_private(files.ca_key, _pem_key(key))
    files.ca_cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))


def _load_authority(files: SecurityFiles):
    cert = x509.load_pem_x509_certificate(files.ca_cert.read_bytes())
    key = serialization.load_pem_private_key(files.ca_key.read_bytes(), password=None)
    return cert, key


def issue(files: SecurityFiles, subject: str, out_cert: Path, out_key: Path, *, server: bool,
          hosts: tuple[str, ...] = ("127.0.0.1", "localhost"), days: float = 825,
          not_before: dt.datetime | None = None) -> None:
    """A key pair signed by the CA: a server certificate for ``hosts``, or a client one
    (``subject`` becomes the principal's name under mutual TLS). ``not_before``/``days`` let
    tests issue a certificate that has already expired."""
    ca_cert, ca_key = _load_authority(files)
    key = _key()
    usage = [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH] if server else [
        ExtendedKeyUsageOID.CLIENT_AUTH]
    cert = _certificate(subject, key, ca_cert.subject, ca_key, ca=False, usage=usage,
                        hosts=hosts if server else (), not_before=not_before or _now(), days=days)
    _write_private(out_key, _pem_key(key))
    out_cert.parent.mkdir(parents=True, exist_ok=True)
    out_cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))


def make_broker_keystore(files: SecurityFiles, **kwargs) -> None:
    """The broker's key and certificate in one PEM file (written once)."""
    if files.broker_keystore.exists():
        return
    cert, key = files.root / "broker.crt", files.root / "broker.key"
    issue(files, "factory-broker", cert, key, server=True, **kwargs)
    _write_private(files.broker_keystore, key.read_bytes() + cert.read_bytes())
    key.unlink()


def make_passwords(files: SecurityFiles, users: list[str]) -> dict[str, str]:
    """A random password per user (existing ones kept: they are in the formatted storage)."""
    out = {}
    for user in users:
        path = files.password_file(user)
        if not path.exists():
            _write_private(path, secrets.token_urlsafe(24).encode())
        out[user] = files.password(user)
    return out


def prepare(files: SecurityFiles, users: list[str]) -> dict[str, str]:
    """Everything a secured node needs before it is formatted; returns each user's password."""
    make_authority(files)
    make_broker_keystore(files)
    return make_passwords(files, sorted({ADMIN, CONTROLLER, *users}))


def server_properties(files: SecurityFiles, port: int, controller_port: int) -> dict[str, str]:
    """Listener settings of a secured node: clients and brokers on SASL_SSL (SCRAM), the
    loopback controller listener on SASL PLAIN, the standard authorizer denying by default."""
    admin_pw, controller_pw = files.password(ADMIN), files.password(CONTROLLER)
    scram_jaas = (f'org.apache.kafka.common.security.scram.ScramLoginModule required '
                  f'username="{ADMIN}" password="{admin_pw}";')
    plain_jaas = (f'org.apache.kafka.common.security.plain.PlainLoginModule required '
                  f'username="{CONTROLLER}" password="{controller_pw}" user_{CONTROLLER}="{controller_pw}";')
    props = {
        "listeners": f"SASL_SSL://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller_port}",
        "advertised.listeners": f"SASL_SSL://127.0.0.1:{port}",
        "inter.broker.listener.name": "SASL_SSL",
        "listener.security.protocol.map": "SASL_SSL:SASL_SSL,CONTROLLER:SASL_PLAINTEXT",
        "sasl.enabled.mechanisms": ",".join(SCRAM_MECHANISMS),
        "sasl.mechanism.inter.broker.protocol": "SCRAM-SHA-512",
        "sasl.mechanism.controller.protocol": "PLAIN",
        "listener.name.controller.sasl.enabled.mechanisms": "PLAIN",
        "listener.name.controller.plain.sasl.jaas.config": plain_jaas,
        "ssl.keystore.type": "PEM",
        "ssl.keystore.location": str(files.broker_keystore.resolve()),
        "ssl.truststore.type": "PEM",
        "ssl.truststore.location": str(files.ca_cert.resolve()),
        # A client certificate is checked when one is shown (mutual TLS), not demanded.
        "listener.name.sasl_ssl.ssl.client.auth": "requested",
        "authorizer.class.name": "org.apache.kafka.metadata.authorizer.StandardAuthorizer",
        "super.users": f"User:{ADMIN};User:{CONTROLLER}",
        "allow.everyone.if.no.acl.found": "false",
    }
    for mechanism in SCRAM_MECHANISMS:
        props[f"listener.name.sasl_ssl.{mechanism.lower()}.sasl.jaas.config"] = scram_jaas
    return props


def scram_format_args(files: SecurityFiles) -> list[str]:
    """``kafka-storage format`` arguments creating every SCRAM user with its password."""
    args = []
    for user in files.users():
        if user == CONTROLLER:
            continue
        for mechanism in SCRAM_MECHANISMS:
            args += ["--add-scram", f"{mechanism}=[name={user},password={files.password(user)}]"]
    return args
