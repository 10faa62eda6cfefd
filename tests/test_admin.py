"""The organizer panel: event list with live counts, change page links, key rotation."""

from __future__ import annotations

import pytest
import redis
from django.conf import settings
from django.contrib.auth.models import User

from captions import presence
from captions.admin import format_counts
from captions.models import Event

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff(client) -> User:
    user = User.objects.create_superuser("organizer", "o@example.org", "pw")
    client.force_login(user)
    return user


def test_counts_read_in_the_events_language_order_with_listening_ones_apart():
    counts = {"es": 12, "fr": 3, "speech:es": 2}
    assert format_counts(counts, ["en", "es", "fr"]) == "en 0 · es 12 · fr 3 (listening: es 2)"
    assert format_counts(None, ["en"]) == "?"


@pytest.fixture
def listening(event):
    """One Spanish listener with listening on, as a server process reports it to Redis."""
    client = redis.Redis.from_url(settings.REDIS_URL)
    name = presence.counts_key(event.pk, "admin-test-process")
    processes = presence.processes_key(event.pk)
    client.hset(name, mapping={"es": 1, presence.SPEECH_PREFIX + "es": 1})
    client.sadd(processes, "admin-test-process")
    for each in (name, processes):
        client.expire(each, 30)
    yield
    client.delete(name, processes)


def test_event_list_shows_status_live_listener_counts_and_links(client, staff, event, listening):
    response = client.get("/admin/captions/event/")
    html = response.content.decode()
    assert response.status_code == 200
    assert "es 1" in html
    assert "(listening: es 1)" in html
    assert f"/e/{event.slug}/present/#key={event.presenter_key}" in html
    assert "?key=" not in html
    assert f"/e/{event.slug}/card/" in html


def test_change_page_has_transcripts_join_card_and_a_rotate_button(client, staff, event):
    response = client.get(f"/admin/captions/event/{event.pk}/change/")
    html = response.content.decode()
    assert response.status_code == 200
    for fmt in ("txt", "srt", "vtt"):
        assert f"/e/{event.slug}/transcript/es.{fmt}" in html
    assert f"/e/{event.slug}/card/" in html
    assert f"/admin/captions/event/{event.pk}/rotate-key/" in html
    assert f"/e/{event.slug}/display/fr/" in html


def test_change_page_links_the_presenter_page_with_the_key_in_the_fragment(client, staff, event):
    html = client.get(f"/admin/captions/event/{event.pk}/change/").content.decode()
    assert f"/e/{event.slug}/present/#key={event.presenter_key}" in html
    assert "?key=" not in html


def test_rotate_button_issues_a_new_presenter_key_and_says_what_happens(client, staff, event):
    old = event.presenter_key
    response = client.post(f"/admin/captions/event/{event.pk}/rotate-key/", follow=True)
    event.refresh_from_db()
    assert event.presenter_key != old
    assert "disconnected within 2 seconds" in response.content.decode()


def test_rotating_the_key_needs_a_post(client, staff, event):
    assert client.get(f"/admin/captions/event/{event.pk}/rotate-key/").status_code == 405


def test_rotating_the_key_needs_a_staff_login(client, event):
    old = event.presenter_key
    response = client.post(f"/admin/captions/event/{event.pk}/rotate-key/")
    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]
    event.refresh_from_db()
    assert event.presenter_key == old


def test_rotate_action_still_works_on_many_events(client, staff, event):
    old = event.presenter_key
    response = client.post(
        "/admin/captions/event/",
        {"action": "rotate_presenter_keys", "_selected_action": [event.pk]},
    )
    assert response.status_code == 302
    event.refresh_from_db()
    assert event.presenter_key != old


def test_add_page_renders(client, staff):
    assert client.get("/admin/captions/event/add/").status_code == 200
    assert Event.objects.count() == 0


def test_whoever_creates_an_event_organizes_it(client, staff):
    response = client.post(
        "/admin/captions/event/add/",
        {
            "title": "Panel",
            "slug": "panel1",
            "source_language": "en",
            "profanity": "masked",
            "status": "waiting",
            "languages-TOTAL_FORMS": "1",
            "languages-INITIAL_FORMS": "0",
            "languages-0-code": "es",
            "languages-0-speech": "on",
            "glossary-TOTAL_FORMS": "0",
            "glossary-INITIAL_FORMS": "0",
        },
    )
    assert response.status_code == 302, response.content.decode()[:3000]
    event = Event.objects.get(slug="panel1")
    assert list(event.organizers.all()) == [staff]
    assert event.languages.get(code="es").speech is True
