"""Caption delay in a real browser: an engine that takes a known time shows that delay on the
listener's phone and on the presenter page, coloured against 3 s."""

from __future__ import annotations

import pytest

from tests import browser
from tests.servers import server_set

playwright_sync = pytest.importorskip("playwright.sync_api")
expect = playwright_sync.expect

pytestmark = [
    pytest.mark.browser,
    pytest.mark.timeout(120),
    pytest.mark.skipif(not browser.CHROMIUM.exists(), reason="needs Debian's chromium"),
]

TOLERANCE = 0.2  # seconds


@pytest.mark.parametrize(("hold", "level"), [(1.5, "ok"), (3.5, "late")])
def test_the_shown_delay_is_the_engines_delay(chromium, tmp_path, hold, level):
    """The scripted engine yields each final ``hold`` seconds after its last frame: the phone's
    own delay and the presenter's p50 for Spanish are within 0.2 s of it, green under 2 s and
    red over 3 s, where the phone also warns that it is falling behind."""
    servers = server_set(tmp_path, SCRIPTED_FINAL_HOLD=str(hold))
    try:
        port = servers.start()
        slug, key = browser.create_event(servers)
        base = f"http://127.0.0.1:{port}"
        phone = chromium.new_context(locale="es", viewport=browser.PHONE).new_page()
        phone.goto(f"{base}/e/{slug}/?lang=es")
        expect(phone.locator("#state")).to_have_attribute("data-state", "waiting")
        speaker = chromium.new_context(viewport=browser.DESKTOP, permissions=["microphone"])
        presenter = speaker.new_page()
        presenter.goto(f"{base}/e/{slug}/present/#key={key}")
        expect(presenter.locator("#connection")).to_have_attribute("data-state", "connected")
        presenter.locator("#mic").click()

        own = phone.locator("#own-delay")
        expect(own).to_be_visible(timeout=30_000)
        assert abs(float(own.get_attribute("data-seconds")) - hold) <= TOLERANCE
        expect(own).to_have_attribute("data-level", "ok" if hold < 3 else "late")
        if hold > 3:
            expect(own.locator(".behind")).to_be_visible()
        else:
            expect(own.locator(".behind")).to_be_hidden()

        p50 = presenter.locator('#delay-panel tr[data-lang="es"] td').first
        expect(p50).to_be_visible(timeout=15_000)
        assert abs(float(p50.get_attribute("data-seconds")) - hold) <= TOLERANCE
        expect(p50).to_have_attribute("data-level", level)
        browser.screenshot(presenter, f"presenter-delay-{hold}")
        browser.screenshot(phone, f"audience-delay-{hold}")
        phone.context.close()
        speaker.close()
    finally:
        servers.stop_all()
