"""How a client proves itself to the brokers: TLS, SASL, the options every client takes.

``client_options`` is the one translation of ``KafkaSettings`` into aiokafka's keyword
arguments (Faust gets the same through ``faust_credentials``; ``factory acls`` gets
librdkafka's names through ``librdkafka_config``). ``explain`` turns the bare connection
errors a misconfigured client meets into one sentence naming the broker and the cause.
"""

from __future__ import annotations

import asyncio
import ssl
from typing import Any

from factory_app.settings import KafkaSettings


class KafkaAccessError(ConnectionError):
    """The brokers could not be reached or refused this client's identity."""


def uses_tls(kafka: KafkaSettings) -> bool:
    return kafka.security_protocol in ("SSL", "SASL_SSL")


def uses_sasl(kafka: KafkaSettings) -> bool:
    return kafka.security_protocol in ("SASL_PLAINTEXT", "SASL_SSL")


def sasl_password(kafka: KafkaSettings) -> str:
    """The password, read from its file each time (a rotated file is used by the next client)."""
    if kafka.sasl_password is not None:
        return kafka.sasl_password.get_secret_value()
    try:
        return kafka.sasl_password_file.read_text().strip()
    except OSError as exc:
        raise KafkaAccessError(f"cannot read the SASL password file FACTORY_SASL_PASSWORD_FILE="
                               f"{kafka.sasl_password_file}: {exc.strerror}") from None


def ssl_context(kafka: KafkaSettings) -> ssl.SSLContext:
    """A TLS context trusting ``ssl_cafile`` (the system's CAs when unset), with the client's
    key pair for mutual TLS; host names are checked against the brokers' certificates."""
    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=_path(kafka.ssl_cafile, "SSL_CAFILE"))
    if kafka.ssl_certfile:
        try:
            context.load_cert_chain(str(kafka.ssl_certfile), str(kafka.ssl_keyfile))
        except (OSError, ssl.SSLError) as exc:
            raise KafkaAccessError(f"cannot load the client certificate FACTORY_SSL_CERTFILE={kafka.ssl_certfile} "
                                   f"with FACTORY_SSL_KEYFILE={kafka.ssl_keyfile}: {exc}") from None
    return context


def _path(path, name: str) -> str | None:
    if path is None:
        return None
    if not path.exists():
        raise KafkaAccessError(f"FACTORY_{name}={path} does not exist")
    return str(path)


def check_complete(kafka: KafkaSettings) -> None:
    """Refuse settings a client cannot connect with (checked when a client is made, not when
    settings are read: a simulator or ``factory certs`` never talks to Kafka)."""
    if uses_sasl(kafka) and not (kafka.sasl_username and (kafka.sasl_password or kafka.sasl_password_file)):
        raise KafkaAccessError(f"FACTORY_SECURITY_PROTOCOL={kafka.security_protocol} needs FACTORY_SASL_USERNAME "
                               "and FACTORY_SASL_PASSWORD or FACTORY_SASL_PASSWORD_FILE")
    if bool(kafka.ssl_certfile) != bool(kafka.ssl_keyfile):
        raise KafkaAccessError("mutual TLS needs both FACTORY_SSL_CERTFILE and FACTORY_SSL_KEYFILE")


def client_options(kafka: KafkaSettings) -> dict[str, Any]:
    """aiokafka keyword arguments for the security settings (nothing for PLAINTEXT)."""
    if kafka.security_protocol == "PLAINTEXT":
        return {}
    check_complete(kafka)
    opts: dict[str, Any] = {"security_protocol": kafka.security_protocol}
    if uses_tls(kafka):
        opts["ssl_context"] = ssl_context(kafka)
    if uses_sasl(kafka):
        opts.update(sasl_mechanism=kafka.sasl_mechanism, sasl_plain_username=kafka.sasl_username,
                    sasl_plain_password=sasl_password(kafka))
    return opts


def faust_credentials(kafka: KafkaSettings):
    """Faust's ``broker_credentials`` for the same settings (None for PLAINTEXT)."""
    import faust

    check_complete(kafka)
    if uses_sasl(kafka):
        return faust.SASLCredentials(username=kafka.sasl_username, password=sasl_password(kafka),
                                     mechanism=kafka.sasl_mechanism,
                                     ssl_context=ssl_context(kafka) if uses_tls(kafka) else None)
    if uses_tls(kafka):
        return faust.SSLCredentials(ssl_context(kafka))
    return None


def librdkafka_config(kafka: KafkaSettings) -> dict[str, str]:
    """The same settings under librdkafka's names (confluent-kafka's admin client)."""
    conf = {"bootstrap.servers": kafka.bootstrap, "security.protocol": kafka.security_protocol.lower()}
    if uses_tls(kafka):
        if kafka.ssl_cafile:
            conf["ssl.ca.location"] = str(kafka.ssl_cafile)
        if kafka.ssl_certfile:
            conf.update({"ssl.certificate.location": str(kafka.ssl_certfile),
                         "ssl.key.location": str(kafka.ssl_keyfile)})
    if uses_sasl(kafka):
        conf.update({"sasl.mechanism": kafka.sasl_mechanism, "sasl.username": kafka.sasl_username,
                     "sasl.password": sasl_password(kafka)})
    return conf


# -- diagnosis -------------------------------------------------------------------------------

_TLS_CAUSES = {
    "certificate has expired": "its certificate has expired",
    "unable to get local issuer certificate": "its certificate is not signed by a CA this client trusts",
    "self-signed certificate in certificate chain": "its certificate is not signed by a CA this client trusts",
    "self signed certificate in certificate chain": "its certificate is not signed by a CA this client trusts",
    "certificate signature failure": "its certificate is not signed by a CA this client trusts",
    "certificate is not yet valid": "its certificate is not valid yet",
}


async def _tls_problem(kafka: KafkaSettings, host: str, port: int) -> str | None:
    """Why a TLS session with ``host:port`` fails, in words, or None when it works. The broker
    judges a client certificate after TLS 1.3's handshake: its alert arrives on the first read."""
    try:
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection(host, port, ssl=ssl_context(kafka), server_hostname=host), 10)
    except ssl.SSLCertVerificationError as exc:
        reason = exc.verify_message or str(exc)
        cause = _TLS_CAUSES.get(reason, reason)
        trust = f" (FACTORY_SSL_CAFILE={kafka.ssl_cafile})" if kafka.ssl_cafile else " (system CAs; set FACTORY_SSL_CAFILE)"
        return f"broker {host}:{port} failed TLS verification: {cause}{trust if 'CA' in cause else ''}"
    except ssl.SSLError as exc:
        return f"broker {host}:{port} refused the TLS handshake: {exc.reason or exc}"
    except (OSError, asyncio.TimeoutError) as exc:
        return f"broker {host}:{port} cannot be reached: {exc.strerror if isinstance(exc, OSError) else 'timed out'}"
    try:
        await asyncio.wait_for(reader.read(1), 0.5)
    except ssl.SSLError as exc:
        return (f"broker {host}:{port} refused this client's certificate FACTORY_SSL_CERTFILE={kafka.ssl_certfile}: "
                f"{exc.reason or exc}")
    except (OSError, asyncio.TimeoutError):
        pass  # silent: it waits for a request, as a broker does
    finally:
        writer.close()
    return None


def _client_certificate_problem(kafka: KafkaSettings) -> str | None:
    """An expired or not yet valid client certificate, said before any broker is asked."""
    import datetime as dt

    from cryptography import x509

    try:
        cert = x509.load_pem_x509_certificate(kafka.ssl_certfile.read_bytes())
    except (OSError, ValueError) as exc:
        return f"cannot read the client certificate FACTORY_SSL_CERTFILE={kafka.ssl_certfile}: {exc}"
    now = dt.datetime.now(dt.timezone.utc)
    if now > cert.not_valid_after_utc:
        return (f"the client certificate FACTORY_SSL_CERTFILE={kafka.ssl_certfile} expired at "
                f"{cert.not_valid_after_utc:%Y-%m-%d %H:%M} UTC; a broker that checks client certificates ({kafka.bootstrap}) refuses it")
    if now < cert.not_valid_before_utc:
        return (f"the client certificate FACTORY_SSL_CERTFILE={kafka.ssl_certfile} is valid only from "
                f"{cert.not_valid_before_utc:%Y-%m-%d %H:%M} UTC (check this machine's clock)")
    return None


async def _sasl_problem(kafka: KafkaSettings, host: str, port: int) -> str | None:
    """Why authenticating at ``host:port`` fails, in words, or None when it succeeds."""
    from aiokafka.conn import create_conn
    from aiokafka.errors import KafkaError, SaslAuthenticationFailed

    try:
        conn = await asyncio.wait_for(create_conn(host, port, **client_options(kafka)), 15)
    except SaslAuthenticationFailed as exc:
        return (f"broker {host}:{port} refused principal {kafka.sasl_username!r} ({kafka.sasl_mechanism}): "
                f"wrong password or unknown user ({exc})")
    except (KafkaError, OSError, asyncio.TimeoutError) as exc:
        return f"broker {host}:{port} did not accept principal {kafka.sasl_username!r}: {exc!r}"
    conn.close()
    return None


async def explain(kafka: KafkaSettings, exc: BaseException) -> KafkaAccessError:
    """A ``KafkaAccessError`` saying why ``exc`` happened to a client configured by ``kafka``
    (probing each broker: TLS handshake first, then authentication)."""
    if isinstance(exc, KafkaAccessError):
        return exc
    if "AuthorizationFailed" in type(exc).__name__:  # in, but this principal has no ACL for it
        return KafkaAccessError(f"the brokers at {kafka.bootstrap} do not allow principal {kafka.sasl_username!r} "
                                f"this ({type(exc).__name__}: {exc}); its ACLs are in `factory acls plan`")
    if uses_tls(kafka) and kafka.ssl_certfile:
        problem = _client_certificate_problem(kafka)
        if problem:
            return KafkaAccessError(problem)
    for address in kafka.hosts:
        host, _, port = address.rpartition(":")
        problem = ((await _tls_problem(kafka, host, int(port)) if uses_tls(kafka) else None)
                   or (await _sasl_problem(kafka, host, int(port)) if uses_sasl(kafka) else None))
        if problem:
            return KafkaAccessError(problem)
    return KafkaAccessError(f"cannot use the brokers at {kafka.bootstrap} as {kafka.security_protocol}"
                            f"{' principal ' + repr(kafka.sasl_username) if uses_sasl(kafka) else ''}: {exc!r}")
