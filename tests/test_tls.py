"""A Content-Security-Policy on every page, and HTTPS in the room with a self-signed certificate."""

from __future__ import annotations

import re
import ssl
import stat
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from django.http import HttpResponse
from django.test import Client, override_settings

from tests import browser
from tests.servers import DAPHNE_LIMITS, free_port, server_set

ROOT = Path(__file__).resolve().parent.parent
UNSAFE = ("'unsafe-inline'", "'unsafe-eval'", "'unsafe-hashes'", "*")


def policy(response) -> dict[str, list[str]]:
    """The response's Content-Security-Policy as {directive: [sources]}."""
    header = response.headers["Content-Security-Policy"]
    directives = [part.split() for part in header.split(";") if part.strip()]
    return {name: sources for name, *sources in directives}


def pages(admin_client, event) -> dict[str, HttpResponse]:
    """Every kind of page, as an organizer (the admin's login page: as anyone) sees it."""
    urls = {
        "audience": f"/e/{event.slug}/",
        "presenter": f"/e/{event.slug}/present/",
        "display": f"/e/{event.slug}/display/es/",
        "join card": f"/e/{event.slug}/card/",
        "admin event": f"/admin/captions/event/{event.pk}/change/",
        "admin events": "/admin/captions/event/",
        "not found": "/e/nosuchevent/",
    }
    responses = {name: admin_client.get(url) for name, url in urls.items()}
    responses["admin login"] = Client().get("/admin/login/")
    return responses


@pytest.mark.django_db
def test_every_page_sends_a_policy_that_runs_only_our_own_files(admin_client, event):
    """Scripts and styles only from our origin, no plugins, no <base>, framed by nobody."""
    for name, response in pages(admin_client, event).items():
        assert response.status_code in (200, 404), name
        csp = policy(response)
        assert csp["script-src"][0] == "'self'" and csp["style-src"] == ["'self'"], name
        assert csp["default-src"] == ["'self'"] and csp["object-src"] == ["'none'"], name
        assert csp["base-uri"] == ["'none'"] and csp["frame-ancestors"] == ["'none'"], name
        scripts_and_styles = [s for d in ("script-src", "style-src") for s in csp[d]]
        assert not set(UNSAFE) & {*scripts_and_styles, *csp["default-src"]}, name
        assert response.headers["X-Frame-Options"] == "DENY", name


@pytest.mark.django_db
def test_the_pages_need_nothing_the_policy_forbids(admin_client, event):
    """No inline script or event handler; style attributes only where the policy allows them."""
    for name, response in pages(admin_client, event).items():
        html = response.content.decode()
        for tag in re.findall(r"<script\b[^>]*>", html):
            assert "src=" in tag or 'type="application/json"' in tag, (name, tag)
        assert not re.search(r"\son[a-z]+\s*=", html), name
        if re.search(r"\sstyle\s*=", html):
            assert policy(response).get("style-src-attr") == ["'unsafe-inline'"], name
    assert "style-src-attr" not in policy(pages(admin_client, event)["audience"])


@pytest.mark.django_db
def test_each_page_is_allowed_what_its_script_does(client, admin_client, event):
    """Sockets to our own host, speech clips and blob: audio; the presenter's blob: worklet."""
    audience = policy(client.get(f"/e/{event.slug}/", HTTP_HOST="localhost:8000"))
    assert {"'self'", "ws://localhost:8000", "wss://localhost:8000"} <= set(audience["connect-src"])
    assert audience["media-src"] == ["'self'", "blob:"] and "blob:" not in audience["script-src"]
    presenter = policy(admin_client.get(f"/e/{event.slug}/present/"))
    assert presenter["script-src"] == ["'self'", "blob:"]


@pytest.mark.django_db
def test_a_host_outside_allowed_hosts_is_not_written_into_the_policy(client, event):
    """The connect-src of a refused host holds only 'self'."""
    response = client.get(f"/e/{event.slug}/", HTTP_HOST="evil.example")
    assert response.status_code == 400
    assert policy(response)["connect-src"] == ["'self'"]


@pytest.mark.django_db
def test_the_display_view_is_framed_by_nobody_unless_origins_are_configured(client, event):
    """By default the display, like every page, refuses frames (CSP and X-Frame-Options)."""
    response = client.get(f"/e/{event.slug}/display/es/")
    assert policy(response)["frame-ancestors"] == ["'none'"]
    assert response.headers["X-Frame-Options"] == "DENY"


@pytest.mark.django_db
@override_settings(DISPLAY_FRAME_ANCESTORS=["https://conf.example.org", "https://*.example.net"])
def test_a_conference_site_may_frame_the_display_view_and_nothing_else(client, event):
    """DISPLAY_FRAME_ANCESTORS opens the display to those origins; other pages stay closed."""
    display = client.get(f"/e/{event.slug}/display/es/")
    assert policy(display)["frame-ancestors"] == [
        "https://conf.example.org",
        "https://*.example.net",
    ]
    assert "X-Frame-Options" not in display.headers  # it cannot name origins: it would deny all
    audience = client.get(f"/e/{event.slug}/")
    assert policy(audience)["frame-ancestors"] == ["'none'"]
    assert audience.headers["X-Frame-Options"] == "DENY"


# ---- HTTPS in the room ------------------------------------------------------------------


def make_cert(directory: Path, *addresses: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["bash", str(ROOT / "scripts" / "make-cert.sh"), str(directory), *addresses],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )


def subject_alt_names(cert: Path) -> str:
    return subprocess.run(
        ["openssl", "x509", "-in", str(cert), "-noout", "-ext", "subjectAltName"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout


def test_the_certificate_names_the_lan_address_and_its_key_is_private(tmp_path):
    """A key only its owner can read; a certificate for the LAN address, 127.0.0.1 and localhost."""
    tls = tmp_path / "var" / "tls"
    make_cert(tls, "192.168.1.23")
    assert stat.S_IMODE((tls / "key.pem").stat().st_mode) == 0o600
    assert stat.S_IMODE(tls.stat().st_mode) == 0o700
    names = subject_alt_names(tls / "cert.pem")
    for name in ("IP Address:192.168.1.23", "IP Address:127.0.0.1", "DNS:localhost"):
        assert name in names


def test_the_certificate_is_kept_until_the_address_changes(tmp_path):
    """Browsers accept a self-signed certificate once: it is made again only when it must be."""
    tls = tmp_path / "tls"
    make_cert(tls, "192.168.1.23")
    first = (tls / "cert.pem").read_bytes()
    make_cert(tls, "192.168.1.23")
    assert (tls / "cert.pem").read_bytes() == first
    make_cert(tls, "10.0.0.7")
    assert "IP Address:10.0.0.7" in subject_alt_names(tls / "cert.pem")


def wait_for_https(url: str, context: ssl.SSLContext, process: subprocess.Popen) -> int:
    """The status of ``url`` once the server answers over TLS (verified by ``context``)."""
    opener = urllib.request.build_opener(urllib.request.HTTPSHandler(context=context))
    deadline = time.monotonic() + 60
    while True:
        try:
            with opener.open(url, timeout=2) as answer:
                return answer.status
        except (ConnectionError, urllib.error.URLError) as error:
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"no HTTPS answer from {url}") from error
            time.sleep(0.2)


@pytest.mark.timeout(90)
def test_daphne_serves_https_with_the_certificate(tmp_path):
    """run.sh's HTTPS endpoint: a browser that accepted the certificate gets the pages over TLS."""
    tls = tmp_path / "tls"
    make_cert(tls, "127.0.0.1")
    servers = server_set(tmp_path)
    port = free_port()
    endpoint = f"ssl:{port}:interface=127.0.0.1:privateKey={tls}/key.pem:certKey={tls}/cert.pem"
    process = subprocess.Popen(
        [sys.executable, "-m", "daphne", *DAPHNE_LIMITS, "-e", endpoint,
         "presenter_site.asgi:application"],
        cwd=ROOT, env=servers.env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        # Trusting this one certificate is what "accept the certificate" does in a browser.
        context = ssl.create_default_context(cafile=str(tls / "cert.pem"))
        for host in ("127.0.0.1", "localhost"):
            assert wait_for_https(f"https://{host}:{port}/healthz", context, process) == 200
    finally:
        process.terminate()
        process.wait(timeout=15)
        servers.stop_all()


# ---- the policy in a real browser ---------------------------------------------------------

VIOLATIONS = """
window.__violations = [];
document.addEventListener("securitypolicyviolation", (e) =>
  window.__violations.push(e.violatedDirective + " " + e.blockedURI));
"""


@pytest.mark.browser
@pytest.mark.timeout(120)
@pytest.mark.skipif(not browser.CHROMIUM.exists(), reason="needs Debian's chromium")
def test_no_page_breaks_its_own_policy_in_a_browser(tmp_path):
    """An organizer logs in, opens every page and starts the microphone: nothing is blocked."""
    from playwright.sync_api import expect, sync_playwright

    servers = server_set(tmp_path)
    try:
        port = servers.start()
        slug, _ = browser.create_event(servers)
        servers.shell(
            "from django.contrib.auth.models import User\n"
            "User.objects.create_superuser('organizer', password='a long passphrase 42')"
        )
        wav = browser.scripted_speech_wav(tmp_path / "speech.wav")
        with sync_playwright() as driver:
            chromium = browser.launch(driver, wav)
            context = chromium.new_context(permissions=["microphone"])
            context.add_init_script(VIOLATIONS)
            page = context.new_page()
            console = []
            page.on("console", lambda message: console.append(message.text))
            base = f"http://127.0.0.1:{port}"
            page.goto(f"{base}/admin/login/")
            page.fill("#id_username", "organizer")
            page.fill("#id_password", "a long passphrase 42")
            page.click("input[type=submit]")
            expect(page.locator("#site-name")).to_be_visible()
            violations = {}
            paths = [f"/e/{slug}/card/", f"/e/{slug}/", f"/e/{slug}/display/es/"]
            for path in ["/admin/captions/event/1/change/", *paths, f"/e/{slug}/present/"]:
                page.goto(base + path)
                if path.endswith("/present/"):
                    connection = page.locator("#connection")
                    expect(connection).to_have_attribute("data-state", "connected")
                    page.locator("#mic").click()  # the worklet loads from a blob: URL
                    expect(page.locator("#status")).to_have_attribute("data-state", "live")
                page.wait_for_timeout(300)
                violations[path] = page.evaluate("window.__violations")
            chromium.close()
        assert all(found == [] for found in violations.values()), violations
        assert not [text for text in console if "Content Security Policy" in text]
    finally:
        servers.stop_all()
