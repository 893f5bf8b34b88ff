"""Security settings become the same identity for aiokafka, Faust and librdkafka; incomplete ones are refused."""

from __future__ import annotations

import ssl

import faust
import pytest
from pydantic import SecretStr

from factory_app.broker.security import SecurityFiles, make_authority
from factory_app.kafka_security import (KafkaAccessError, client_options, faust_credentials, librdkafka_config,
                                        sasl_password)
from factory_app.settings import KafkaSettings, Settings


def test_plaintext_adds_nothing():
    assert client_options(KafkaSettings()) == {}
    assert faust_credentials(KafkaSettings()) is None


def test_sasl_ssl_maps_to_every_client(tmp_path):
    files = SecurityFiles(tmp_path)
    make_authority(files)
    (tmp_path / "pw").write_text("s3cret\n")
    kafka = KafkaSettings(bootstrap="127.0.0.1:1", security_protocol="SASL_SSL", ssl_cafile=files.ca_cert,
                          sasl_mechanism="SCRAM-SHA-256", sasl_username="ingest", sasl_password_file=tmp_path / "pw")
    opts = client_options(kafka)
    assert opts["security_protocol"] == "SASL_SSL" and isinstance(opts["ssl_context"], ssl.SSLContext)
    assert (opts["sasl_mechanism"], opts["sasl_plain_username"], opts["sasl_plain_password"]) == (
        "SCRAM-SHA-256", "ingest", "s3cret")
    creds = faust_credentials(kafka)
    assert isinstance(creds, faust.SASLCredentials) and creds.protocol.value == "SASL_SSL"
    assert creds.mechanism.value == "SCRAM-SHA-256" and creds.password == "s3cret"
    conf = librdkafka_config(kafka)
    assert conf["security.protocol"] == "sasl_ssl" and conf["sasl.password"] == "s3cret"
    assert conf["ssl.ca.location"] == str(files.ca_cert)


def test_a_rotated_password_file_is_read_by_the_next_client(tmp_path):
    (tmp_path / "pw").write_text("old")
    kafka = KafkaSettings(security_protocol="SASL_PLAINTEXT", sasl_username="u", sasl_password_file=tmp_path / "pw")
    assert sasl_password(kafka) == "old"
    (tmp_path / "pw").write_text("new")
    assert client_options(kafka)["sasl_plain_password"] == "new"


@pytest.mark.parametrize("flat", [
    {"security_protocol": "SASL_SSL"},                                   # no user
    {"security_protocol": "SASL_PLAINTEXT", "sasl_username": "u"},       # no password
    {"security_protocol": "SSL", "ssl_certfile": "/x.pem"},              # half a key pair
])
def test_incomplete_security_is_refused_when_a_client_is_made(flat):
    settings = Settings(**flat)  # reading settings never fails: a simulator needs no Kafka
    with pytest.raises(KafkaAccessError, match="FACTORY_"):
        client_options(settings.kafka)


def test_a_missing_password_file_is_named(tmp_path):
    kafka = KafkaSettings(security_protocol="SASL_SSL", sasl_username="u", sasl_password_file=tmp_path / "none")
    with pytest.raises(KafkaAccessError, match="FACTORY_SASL_PASSWORD_FILE="):
        client_options(kafka)


def test_the_password_reaches_a_child_process_but_not_a_repr():
    settings = Settings(security_protocol="SASL_SSL", sasl_username="u", sasl_password=SecretStr("pw"))
    assert settings.to_env()["FACTORY_SASL_PASSWORD"] == "pw"
    assert "pw'" not in repr(settings.kafka)
    assert Settings(**{"sasl_password": "pw"}).updated({"partitions": 2}).kafka.sasl_password.get_secret_value() == "pw"
