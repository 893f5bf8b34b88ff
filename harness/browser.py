"""Debian's chromium driven by Playwright, for the plant view's tests and benchmark.

Playwright's own browser download is never used (it is blocked here, and the machines that
run this have no internet): the launch names /usr/bin/chromium. The flags keep chromium off
the network: no background requests, no component updates, no sync.
"""

from __future__ import annotations

import os
import shutil
from contextlib import contextmanager

CHROMIUM = os.environ.get("FACTORY_CHROMIUM", "/usr/bin/chromium")
FLAGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@contextmanager
def chromium_browser():
    """A started headless chromium (closed on the way out, whatever happens)."""
    from playwright.sync_api import sync_playwright

    if not shutil.which(CHROMIUM) and not os.path.exists(CHROMIUM):
        raise RuntimeError(f"no chromium at {CHROMIUM}: `bash scripts/setup.sh --tests` installs Debian's "
                           f"chromium (or set FACTORY_CHROMIUM)")
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        try:
            yield browser
        finally:
            browser.close()
