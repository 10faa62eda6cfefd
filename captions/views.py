"""HTTP views: the audience, presenter and display pages, QR codes and speech clips."""

from __future__ import annotations

import hmac

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseForbidden, JsonResponse
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.views.decorators.cache import cache_control
from django.views.decorators.http import require_GET

from . import storage
from .models import Event
from .qr import qr_png, qr_svg


def audience_url(request: HttpRequest, event: Event) -> str:
    """The absolute join link printed on QR codes."""
    path = reverse("captions:audience", args=[event.slug])
    if settings.PUBLIC_URL:
        return settings.PUBLIC_URL + path
    return request.build_absolute_uri(path)


@require_GET
def audience(request: HttpRequest, slug: str) -> HttpResponse:
    event = get_object_or_404(Event.objects.prefetch_related("languages"), slug=slug)
    return render(
        request,
        "captions/audience.html",
        {"event": event, "languages": event.audience_language_codes()},
    )


@require_GET
def presenter(request: HttpRequest, slug: str) -> HttpResponse:
    event = get_object_or_404(Event.objects.prefetch_related("languages"), slug=slug)
    given = request.GET.get("key", "")
    if not (request.user.is_staff or hmac.compare_digest(given.encode(), event.presenter_key.encode())):
        return HttpResponseForbidden("Wrong or missing presenter key.")
    return render(
        request,
        "captions/presenter.html",
        {"event": event, "languages": event.audience_language_codes(),
         "audience_url": audience_url(request, event)},
    )


@require_GET
def display(request: HttpRequest, slug: str, language: str) -> HttpResponse:
    event = get_object_or_404(Event.objects.prefetch_related("languages"), slug=slug)
    if language not in event.audience_language_codes():
        raise Http404("This event does not offer that language.")
    return render(request, "captions/display.html", {"event": event, "language": language})


@require_GET
@cache_control(max_age=3600)
def qr_code_svg(request: HttpRequest, slug: str) -> HttpResponse:
    event = get_object_or_404(Event, slug=slug)
    return HttpResponse(qr_svg(audience_url(request, event)), content_type="image/svg+xml")


@require_GET
@cache_control(max_age=3600)
def qr_code_png(request: HttpRequest, slug: str) -> HttpResponse:
    event = get_object_or_404(Event, slug=slug)
    return HttpResponse(qr_png(audience_url(request, event)), content_type="image/png")


@require_GET
@cache_control(max_age=900)
async def speech_clip(request: HttpRequest, slug: str, language: str, seq: int) -> HttpResponse:
    event = await Event.objects.filter(slug=slug).afirst()
    if event is None:
        raise Http404("No such event.")
    clip = await storage.load_speech(event.pk, seq, language)
    if clip is None:
        raise Http404("No speech for that caption (it may have expired).")
    audio, content_type = clip
    return HttpResponse(audio, content_type=content_type)


@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"ok": True})
