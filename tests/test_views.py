"""The pages, QR codes, join card and transcript downloads over plain HTTP."""

from __future__ import annotations

import json

import pytest
from django.contrib.auth.models import User

from captions.models import Caption, Event, EventLanguage

pytestmark = pytest.mark.django_db


def page_config(response) -> dict:
    """The JSON the page hands its script (json_script id="config")."""
    html = response.content.decode()
    start = html.index('<script id="config" type="application/json">') + len(
        '<script id="config" type="application/json">'
    )
    return json.loads(html[start : html.index("</script>", start)])


@pytest.fixture
def staff(client) -> User:
    user = User.objects.create_user("organizer", password="pw", is_staff=True, is_superuser=True)
    client.force_login(user)
    return user


@pytest.fixture
def captions(event: Event) -> Event:
    Caption.objects.create(
        event=event, seq=1, language="es", text="[es] hola", source_text="hello", start=0.5, end=1.5
    )
    Caption.objects.create(
        event=event, seq=2, language="es", text="[es] adiós", source_text="bye", start=2.0, end=3.0
    )
    return event


def test_audience_page_renders_with_its_language_choices(client, event):
    response = client.get(f"/e/{event.slug}/")
    assert response.status_code == 200
    assert b"Keynote" in response.content
    assert page_config(response)["languages"] == ["en", "es", "fr"]


def test_audience_page_takes_the_language_from_the_link_and_speaks_it(client, event):
    response = client.get(f"/e/{event.slug}/?lang=es")
    config = page_config(response)
    assert config["language"] == "es"
    assert config["langFromUrl"] is True
    assert 'lang="es"' in response.content.decode()
    assert "Idioma" in response.content.decode()


def test_audience_page_picks_an_offered_language_from_the_browser(client, event):
    response = client.get(f"/e/{event.slug}/", headers={"accept-language": "fr-CA,fr;q=0.9"})
    assert page_config(response)["language"] == "fr"


def test_audience_page_ignores_languages_the_event_does_not_offer(client, event):
    response = client.get(f"/e/{event.slug}/?lang=de")
    assert page_config(response)["language"] == "en"


@pytest.mark.parametrize(
    ("language", "back_to_live", "live"),
    [
        ("es", "Volver al directo", "En directo"),
        ("pt", "Voltar ao direto", "Ao vivo"),
        ("ca", "Torna al directe", "En directe"),
        ("gl", "Volver ao directo", "En directo"),
        ("eo", "Reen al la vivaĵo", "Viva"),
    ],
)
def test_audience_page_words_are_in_the_listeners_language(client, language, back_to_live, live):
    event = Event.objects.create(title="Talk", source_language="en")
    EventLanguage.objects.create(event=event, code=language)
    response = client.get(f"/e/{event.slug}/?lang={language}")
    assert back_to_live in response.content.decode()
    assert page_config(response)["strings"]["live"] == live


def test_unknown_event_is_404(client, db):
    assert client.get("/e/nosuch/").status_code == 404


def test_presenter_page_is_served_without_a_key_and_holds_none(client, event):
    """The page needs no key (its socket authenticates), so no link puts one in a query."""
    response = client.get(f"/e/{event.slug}/present/")
    assert response.status_code == 200
    config = page_config(response)
    assert "key" not in config
    assert event.presenter_key not in response.content.decode()
    assert config["targets"] == ["es", "fr"]
    assert config["worklet"].endswith("js/pcm-worklet.js")
    assert f"/e/{event.slug}/qr.svg".encode() in response.content


def test_a_key_in_the_query_is_not_echoed_into_the_page(client, event):
    """An old ?key= link gets the same keyless page: the key is not handed to the script."""
    response = client.get(f"/e/{event.slug}/present/?key={event.presenter_key}")
    assert response.status_code == 200
    assert event.presenter_key not in response.content.decode()


def test_presenter_page_opens_for_staff_without_a_key(client, event, staff):
    assert client.get(f"/e/{event.slug}/present/").status_code == 200


def test_display_page_renders_for_an_offered_language(client, event):
    response = client.get(f"/e/{event.slug}/display/es/?transparent=1")
    assert response.status_code == 200
    assert b"transparent" in response.content
    assert page_config(response)["language"] == "es"


def test_display_page_is_404_for_a_language_not_offered(client, event):
    assert client.get(f"/e/{event.slug}/display/de/").status_code == 404


def test_qr_codes_are_svg_and_png(client, event):
    svg = client.get(f"/e/{event.slug}/qr.svg")
    png = client.get(f"/e/{event.slug}/qr.png")
    assert svg["Content-Type"] == "image/svg+xml"
    assert b"<svg" in svg.content
    assert png["Content-Type"] == "image/png"
    assert png.content.startswith(b"\x89PNG")


def test_static_scripts_are_served(client, db):
    for name in ("presenter.js", "audience.js", "display.js", "pcm-worklet.js"):
        response = client.get(f"/static/js/{name}")
        assert response.status_code == 200, name


def test_join_card_shows_the_short_link_to_staff(client, event, staff):
    response = client.get(f"/e/{event.slug}/card/")
    assert response.status_code == 200
    assert f"testserver/e/{event.slug}".encode() in response.content


def test_join_card_and_transcripts_need_a_staff_login(client, event):
    assert client.get(f"/e/{event.slug}/card/").status_code == 302
    assert client.get(f"/e/{event.slug}/transcript/es.srt").status_code == 302


@pytest.mark.parametrize(
    ("fmt", "content_type", "expected"),
    [
        ("txt", "text/plain", "[es] hola\n\n[es] adiós\n\n"),
        ("srt", "application/x-subrip", "1\n00:00:00,500 --> 00:00:01,500\n[es] hola\n"),
        ("vtt", "text/vtt", "WEBVTT\n\n1\n00:00:00.500 --> 00:00:01.500\n[es] hola\n"),
    ],
)
def test_transcripts_download_in_each_format(client, captions, staff, fmt, content_type, expected):
    response = client.get(f"/e/{captions.slug}/transcript/es.{fmt}")
    assert response.status_code == 200
    assert response["Content-Type"].startswith(content_type)
    assert f'filename="{captions.slug}-es.{fmt}"' in response["Content-Disposition"]
    assert response.content.decode().startswith(expected)


def test_transcript_of_an_unknown_format_or_language_is_404(client, captions, staff):
    assert client.get(f"/e/{captions.slug}/transcript/es.doc").status_code == 404
    assert client.get(f"/e/{captions.slug}/transcript/de.txt").status_code == 404


def test_health_check_answers(client, db):
    assert client.get("/healthz").json() == {"ok": True}
