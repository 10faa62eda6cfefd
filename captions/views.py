"""HTTP views: the audience, presenter and display pages, QR codes, speech clips, transcripts."""

from __future__ import annotations

from urllib.parse import urlsplit

from django.conf import settings
from django.contrib.admin.views.decorators import staff_member_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, render
from django.templatetags.static import static
from django.urls import reverse
from django.utils import translation
from django.utils.translation import gettext as _
from django.views.decorators.cache import cache_control
from django.views.decorators.http import require_GET

from . import exports, storage
from .models import EXPORT_TRANSCRIPT, Caption, Event
from .qr import qr_png, qr_svg


def audience_url(request: HttpRequest, event: Event) -> str:
    """The absolute join link printed on QR codes."""
    path = reverse("captions:audience", args=[event.slug])
    if settings.PUBLIC_URL:
        return settings.PUBLIC_URL + path
    return request.build_absolute_uri(path)


def short_link(url: str) -> str:
    """The join link as people type it: no scheme, no trailing slash."""
    parts = urlsplit(url)
    return (parts.netloc + parts.path).rstrip("/")


def language_name(code: str) -> str:
    """A language's name in that language ("español"), or its code if Django does not know it."""
    try:
        return translation.get_language_info(code.lower())["name_local"]
    except KeyError:
        try:
            return translation.get_language_info(code.split("-")[0].lower())["name_local"]
        except KeyError:
            return code


def language_choices(codes: list[str]) -> list[dict[str, str]]:
    """The offered languages with their own names, for pickers."""
    return [{"code": code, "name": language_name(code)} for code in codes]


def chosen_language(request: HttpRequest, offered: list[str], default: str) -> str:
    """The caption language: ``?lang=``, else the browser's preference, else the spoken one."""
    given = request.GET.get("lang", "")
    if given in offered:
        return given
    by_base = {code.split("-")[0].lower(): code for code in reversed(offered)}
    header = request.headers.get("Accept-Language", "")
    for item in header.split(","):
        code = item.split(";")[0].strip()
        if code in offered:
            return code
        if code.split("-")[0].lower() in by_base:
            return by_base[code.split("-")[0].lower()]
    return default


def activate_ui_language(request: HttpRequest, language: str) -> None:
    """Show the page's own words in the caption language when Django has it."""
    try:
        ui = translation.get_supported_language_variant(language.lower())
    except LookupError:
        return
    translation.activate(ui)
    request.LANGUAGE_CODE = ui


def audience_strings() -> dict[str, str]:
    """The audience and display pages' words for their scripts, in the active language."""
    return {
        "waiting": _("Waiting for the talk to start"),
        "live": _("Live"),
        "paused": _("Paused"),
        "presenter_lost": _("Presenter disconnected, waiting…"),
        "ended": _("The talk has ended"),
        "connecting": _("Connecting…"),
        "reconnecting": _("Connection lost, reconnecting…"),
        "no_event": _("This event does not exist."),
        "not_offered": _("This language is not offered."),
        "listen_unavailable": _("Your browser cannot speak this language."),
        "tap_to_listen": _("Tap to allow audio"),
    }


def presenter_strings() -> dict[str, str]:
    """The presenter page's words for its script, in the active language."""
    return {
        "conn_connecting": _("Connecting…"),
        "conn_connected": _("Connected"),
        "conn_reconnecting": _("Reconnecting…"),
        "conn_closed": _("Disconnected"),
        "status_waiting": _("Waiting"),
        "status_live": _("Live"),
        "status_paused": _("Paused"),
        "status_ended": _("Ended"),
        "start_mic": _("Start microphone"),
        "stop_mic": _("Stop microphone"),
        "pause": _("Pause"),
        "resume": _("Resume"),
        "microphone": _("Microphone"),
        "buffered": _("%s s of audio waiting to be sent"),
        "audio_lost": _("The connection was away too long: the oldest buffered audio was dropped."),
        "confirm_end": _("End the event for everyone? Captioning cannot be restarted."),
        "unauthorized": _(
            "This presenter key is not valid (it may have been replaced). "
            "Ask the organizer for the current presenter link."
        ),
        "no_event": _("This event does not exist."),
        "ended": _("The event has ended."),
        "replaced": _("The presenter page was opened somewhere else; this one has stopped."),
        "engine_failed": _("Captioning could not start or stopped."),
        "engine_overloaded": _("The caption engine is overloaded: captions may lag behind."),
        "engine_reconnecting": _("The caption engine is reconnecting…"),
        "link_down": _(
            "Captions are not reaching listeners right now. Keep speaking: your speech is still "
            "captioned and saved, and listeners get the missed captions when the link recovers."
        ),
        "mic_refused": _(
            "The microphone was refused. Allow it in the browser's site settings "
            "and press Start again."
        ),
        "mic_failed": _("The microphone could not be opened."),
        "mic_lost": _("The microphone was disconnected."),
        "worklet_failed": _("The audio processor could not be loaded: reload the page."),
        "no_audio_api": _("This browser cannot capture audio here (AudioWorklet missing)."),
        "insecure": _("Browsers only allow the microphone on https:// pages or on localhost."),
    }


@require_GET
def audience(request: HttpRequest, slug: str) -> HttpResponse:
    """The listener's page: captions in one language, its own words in that language too."""
    event = get_object_or_404(Event.objects.prefetch_related("languages"), slug=slug)
    languages = event.audience_language_codes()
    language = chosen_language(request, languages, event.source_language)
    activate_ui_language(request, language)
    config = {
        "slug": event.slug,
        "title": event.title,
        "language": language,
        "languages": [choice["code"] for choice in language_choices(languages)],
        "sourceLanguage": event.source_language,
        "langFromUrl": "lang" in request.GET,
        "strings": audience_strings(),
    }
    return render(
        request,
        "captions/audience.html",
        {
            "event": event,
            "languages": language_choices(languages),
            "language": language,
            "config": config,
        },
    )


@require_GET
def presenter(request: HttpRequest, slug: str) -> HttpResponse:
    """The presenter's page: microphone, live preview, listener counts and the join QR code.

    The page itself holds nothing secret and needs no key: its socket authenticates, with the
    key the script reads from the link's fragment (``#key=...``), which browsers never send,
    or with the organizer's login. A key in the query string would be in every access log.
    """
    event = get_object_or_404(Event.objects.prefetch_related("languages"), slug=slug)
    link = audience_url(request, event)
    config = {
        "slug": event.slug,
        "worklet": static("js/pcm-worklet.js"),
        "strings": presenter_strings(),
        "sourceLanguage": event.source_language,
        "targets": event.target_language_codes(),
        "names": {c["code"]: c["name"] for c in language_choices(event.audience_language_codes())},
    }
    return render(
        request,
        "captions/presenter.html",
        {
            "event": event,
            "languages": language_choices(event.audience_language_codes()),
            "targets": language_choices(event.target_language_codes()),
            "audience_url": link,
            "short_link": short_link(link),
            "config": config,
        },
    )


@require_GET
def display(request: HttpRequest, slug: str, language: str) -> HttpResponse:
    """Full-screen captions of one language for a projector or an OBS browser source."""
    event = get_object_or_404(Event.objects.prefetch_related("languages"), slug=slug)
    if language not in event.audience_language_codes():
        raise Http404("This event does not offer that language.")
    activate_ui_language(request, language)
    transparent = request.GET.get("transparent") in {"1", "true"}
    config = {"slug": event.slug, "language": language, "strings": audience_strings()}
    return render(
        request,
        "captions/display.html",
        {"event": event, "language": language, "transparent": transparent, "config": config},
    )


@require_GET
@cache_control(max_age=3600)
def qr_code_svg(request: HttpRequest, slug: str) -> HttpResponse:
    """The join link as an SVG QR code, sharp at any size."""
    event = get_object_or_404(Event, slug=slug)
    return HttpResponse(qr_svg(audience_url(request, event)), content_type="image/svg+xml")


@require_GET
@cache_control(max_age=3600)
def qr_code_png(request: HttpRequest, slug: str) -> HttpResponse:
    """The join link as a PNG QR code."""
    event = get_object_or_404(Event, slug=slug)
    return HttpResponse(qr_png(audience_url(request, event)), content_type="image/png")


@require_GET
@cache_control(max_age=900)
async def speech_clip(request: HttpRequest, slug: str, language: str, seq: int) -> HttpResponse:
    """One final's synthesized speech, while it is kept."""
    event = await Event.objects.filter(slug=slug).afirst()
    if event is None:
        raise Http404("No such event.")
    clip = await storage.load_speech(event.pk, seq, language)
    if clip is None:
        raise Http404("No speech for that caption (it may have expired).")
    audio, content_type = clip
    return HttpResponse(audio, content_type=content_type)


@require_GET
@staff_member_required
def join_card(request: HttpRequest, slug: str) -> HttpResponse:
    """A printable card for the room: the QR code, the short link and the languages."""
    event = get_object_or_404(Event.objects.prefetch_related("languages"), slug=slug)
    link = audience_url(request, event)
    return render(
        request,
        "captions/join_card.html",
        {
            "event": event,
            "audience_url": link,
            "short_link": short_link(link),
            "languages": language_choices(event.audience_language_codes()),
        },
    )


@require_GET
@staff_member_required
def transcript(request: HttpRequest, slug: str, language: str, fmt: str) -> HttpResponse:
    """The stored finals of one language as a TXT, SRT or WebVTT download.

    For the event's organizers, and for users with the permission to export any transcript.
    """
    event = get_object_or_404(Event.objects.prefetch_related("languages"), slug=slug)
    if not event.allows(request.user, EXPORT_TRANSCRIPT):
        raise PermissionDenied
    if fmt not in exports.FORMATS or language not in event.audience_language_codes():
        raise Http404("No such transcript.")
    finals = list(Caption.objects.filter(event=event, language=language).order_by("seq"))
    response = HttpResponse(exports.render(finals, fmt), content_type=exports.FORMATS[fmt][0])
    name = exports.filename(event.slug, language, fmt)
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response


@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    """Liveness probe for load balancers."""
    return JsonResponse({"ok": True})
