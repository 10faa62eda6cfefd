"""A Content-Security-Policy on every page."""

from __future__ import annotations

import re

import pytest
from django.http import HttpResponse
from django.test import Client, override_settings

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
def test_each_page_is_allowed_what_its_script_does(client, event):
    """Sockets to our own host, speech clips and blob: audio; the presenter's blob: worklet."""
    audience = policy(client.get(f"/e/{event.slug}/", HTTP_HOST="localhost:8000"))
    assert {"'self'", "ws://localhost:8000", "wss://localhost:8000"} <= set(audience["connect-src"])
    assert audience["media-src"] == ["'self'", "blob:"] and "blob:" not in audience["script-src"]
    presenter = policy(client.get(f"/e/{event.slug}/present/"))
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
