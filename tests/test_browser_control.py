"""The control room in a real browser: corrections, glossary, hold, and the phone's stable mode.

Debian's Chromium through Playwright against real Daphne, with the scripted engine
(tests/fake_engine.py): a presenter socket from Python says words, a moderator's page and a
phone's page react.
"""

from __future__ import annotations

import pytest

from tests import browser
from tests.servers import ServerSet, server_set
from tests.test_browser import base_url, presenter_socket, say

playwright_sync = pytest.importorskip("playwright.sync_api")
expect = playwright_sync.expect

pytestmark = [
    pytest.mark.browser,
    pytest.mark.timeout(120),
    pytest.mark.skipif(not browser.CHROMIUM.exists(), reason="needs Debian's chromium"),
]


@pytest.fixture(scope="module")
def servers(tmp_path_factory) -> ServerSet:
    servers = server_set(tmp_path_factory.mktemp("control"))
    servers.port = servers.start()
    servers.shell(
        "from django.contrib.auth.models import User\n"
        "User.objects.create_user('moderator', password='moderator-pw', is_staff=True)"
    )
    yield servers
    servers.stop_all()


@pytest.fixture(scope="module")
def chromium(playwright):
    """No microphone: the presenter speaks from Python (presenter_socket)."""
    chromium = browser.launch(playwright)
    yield chromium
    chromium.close()


def new_event(servers: ServerSet) -> tuple[str, str]:
    """An English talk in Spanish and French, organized by the moderator."""
    slug, key = browser.create_event(servers, title="Moderated talk")
    servers.shell(
        "from captions.models import Event\nfrom django.contrib.auth.models import User\n"
        f"Event.objects.get(slug={slug!r}).organizers.add(User.objects.get(username='moderator'))"
    )
    return slug, key


def control_room(chromium, servers: ServerSet, slug: str):
    """The moderator, logged in, on the event's control room."""
    context = chromium.new_context(viewport=browser.DESKTOP)
    page = context.new_page()
    page.goto(f"{base_url(servers)}/admin/login/?next=/e/{slug}/control/")
    page.fill("#id_username", "moderator")
    page.fill("#id_password", "moderator-pw")
    page.click("input[type=submit]")
    expect(page.locator("#connection")).to_have_attribute("data-state", "connected")
    return page


def phone(chromium, servers: ServerSet, slug: str, *, stable: bool = False):
    """A Spanish phone on the audience page, waiting for the talk."""
    page = chromium.new_context(locale="es", viewport=browser.PHONE).new_page()
    if stable:  # remembered on the phone, as the toggle leaves it
        page.add_init_script("localStorage.setItem('live-captions.mode', 'stable')")
    page.goto(f"{base_url(servers)}/e/{slug}/?lang=es")
    expect(page.locator("#state")).to_have_attribute("data-state", "waiting")
    return page


def test_a_correction_replaces_the_phones_caption_in_place_and_reaches_the_srt(chromium, servers):
    """A moderator's edit reaches a Spanish phone already showing the original, in place."""
    slug, key = new_event(servers)
    room = control_room(chromium, servers, slug)
    listener = phone(chromium, servers, slug)
    with presenter_socket(servers, slug, key) as speaker:
        say(speaker, 2)
        final = listener.locator("#captions .caption.final")
        expect(final).to_have_text("[es] alpha bravo")
        seq = final.get_attribute("data-seq")

        shown = room.locator(f'.final[data-seq="{seq}"]')
        expect(shown.locator(".source")).to_have_text("alpha bravo")
        shown.click()  # a click edits; so do Enter and e
        editor = shown.locator("textarea")
        editor.fill("Alpha and Bravo")
        editor.press("Enter")
        expect(shown.locator(".source")).to_have_text("Alpha and Bravo")
        expect(shown.locator(".badge.revised")).to_be_visible()

        expect(final).to_have_text("[es] Alpha and Bravo")
        expect(listener.locator("#captions .caption")).to_have_count(1)
        assert final.get_attribute("data-seq") == seq
        browser.screenshot(room, "control-room-corrected")
        browser.screenshot(listener, "audience-corrected")

    srt = room.context.request.get(f"{base_url(servers)}/e/{slug}/transcript/es.srt")
    assert srt.ok and "[es] Alpha and Bravo" in srt.text() and "alpha bravo" not in srt.text()
    room.context.close()
    listener.context.close()


def test_a_glossary_term_from_the_console_changes_the_next_utterance(chromium, servers):
    """A word selected in a final, given its right term and Spanish rendering, is heard so next."""
    slug, key = new_event(servers)
    room = control_room(chromium, servers, slug)
    listener = phone(chromium, servers, slug)
    with presenter_socket(servers, slug, key) as speaker:
        say(speaker, 8)  # alpha ... hotel; the scripted words come round again after eight
        source = room.locator(".final .source").first
        expect(source).to_contain_text("alpha bravo")
        source.evaluate(
            """(el) => {
              const range = document.createRange();
              range.setStart(el.firstChild, 0);
              range.setEnd(el.firstChild, "alpha".length);
              getSelection().removeAllRanges();
              getSelection().addRange(range);
            }"""
        )
        room.keyboard.press("g")
        expect(room.locator("#heard")).to_have_value("alpha")
        room.fill("#term", "Alphonse")
        room.fill('.rendering[data-lang="es"]', "Alfonso")
        room.locator("#glossary-form button[type=submit]").click()
        expect(room.locator("#terms")).to_contain_text("Alphonse (es: Alfonso)")
        room.wait_for_timeout(1500)  # the presenter's process reads the settings every second

        say(speaker, 1)
        expect(listener.locator("#captions .caption.final").nth(1)).to_have_text("[es] Alfonso")
        expect(room.locator(".final .source").nth(1)).to_have_text("Alphonse")
    room.context.close()
    listener.context.close()


def test_a_held_final_reaches_the_phone_only_once_released(chromium, servers):
    """With a hold on, a final waits in the console until the moderator releases it."""
    slug, key = new_event(servers)
    room = control_room(chromium, servers, slug)
    room.fill("#hold", "30")
    room.locator("#hold-form button").click()
    listener = phone(chromium, servers, slug)
    room.wait_for_timeout(300)  # the setting is stored before the presenter reads it
    with presenter_socket(servers, slug, key) as speaker:
        expect(listener.locator("#state")).to_have_attribute("data-state", "live")
        say(speaker, 2)
        held = room.locator(".final.held")
        expect(held).to_have_count(1)
        expect(held.locator(".badge.held")).to_be_visible()
        browser.screenshot(room, "control-room-held")
        listener.wait_for_timeout(1500)
        expect(listener.locator("#captions .caption")).to_have_count(0)

        room.keyboard.press("r")  # releases the selected (newest) final and all before it
        expect(listener.locator("#captions .caption.final")).to_have_text("[es] alpha bravo")
        expect(room.locator(".final.held")).to_have_count(0)
    room.context.close()
    listener.context.close()


def test_a_phone_in_stable_mode_never_shows_a_partial(chromium, servers):
    """A phone that chose steady text gets the final and not one partial before it."""
    slug, key = new_event(servers)
    listener = phone(chromium, servers, slug, stable=True)
    expect(listener.locator("#stable")).to_be_checked()
    listener.evaluate(
        """() => {
          window.partialsSeen = 0;
          new MutationObserver(() => {
            window.partialsSeen += document.querySelectorAll("#captions .partial").length;
          }).observe(document.getElementById("captions"),
                     { childList: true, subtree: true, attributes: true, characterData: true });
        }"""
    )
    fast = phone(chromium, servers, slug)
    with presenter_socket(servers, slug, key) as speaker:
        say(speaker, 4)
        expect(listener.locator("#captions .caption.final")).to_have_text(
            "[es] alpha bravo charlie delta"
        )
        expect(fast.locator("#captions .caption.final")).to_have_text(
            "[es] alpha bravo charlie delta"
        )
    assert listener.evaluate("window.partialsSeen") == 0
    listener.context.close()
    fast.context.close()
