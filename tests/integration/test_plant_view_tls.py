"""`factory ui` over TLS (issue 29, item 9): with FACTORY_UI_TLS_CERT/KEY the real process serves
https only, checked against its CA; bound beyond loopback without them it warns at start."""

from __future__ import annotations

import http.client
import json
import ssl
import urllib.error
import urllib.request

import pytest

from factory_app.broker.node import free_port
from factory_app.broker.security import SecurityFiles, issue, make_authority
from factory_app.children import Child, wait_until
from tests.conftest import isolated_settings

pytestmark = pytest.mark.integration


def test_the_plant_view_serves_https_with_its_certificate(kafka, tmp_path, children):
    files = SecurityFiles(tmp_path / "pki")
    make_authority(files)
    cert, key = tmp_path / "ui.pem", tmp_path / "ui.key"
    issue(files, "plant-view", cert, key, server=True)
    settings = isolated_settings(kafka.cfg.bootstrap, tmp_path / "home", ui_port=free_port(),
                                 ui_tls_cert=cert, ui_tls_key=key)
    ui = Child("ui", ["ui"], tmp_path / "logs", env=settings.to_env())
    children.append(ui)
    trusted = ssl.create_default_context(cafile=str(files.ca_cert))
    url = f"https://127.0.0.1:{settings.web.ui_port}/api/overview"

    def answered():
        with urllib.request.urlopen(url, context=trusted, timeout=5) as resp:
            return json.loads(resp.read())
    doc = wait_until(answered, 60, what="the plant view over https", abort=lambda: None if ui.alive() else "ui exited")
    assert {a["asset_id"] for a in doc["assets"]} >= {"oven-1", "press-2"}
    with pytest.raises((urllib.error.URLError, http.client.HTTPException, ConnectionError)):  # no clear text
        urllib.request.urlopen(url.replace("https:", "http:"), timeout=5)
    with pytest.raises(urllib.error.URLError, match="CERTIFICATE_VERIFY_FAILED"):  # a client must know its CA
        urllib.request.urlopen(url, context=ssl.create_default_context(), timeout=5)
    assert "plant view at https://" in ui.log_path.read_text() and "WARNING" not in ui.log_path.read_text()
