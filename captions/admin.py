"""The organizer panel: events, languages, glossary, presenter key, join card, transcripts."""

from __future__ import annotations

import logging

from asgiref.sync import async_to_sync
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponseNotAllowed, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe
from django.utils.translation import gettext_lazy as _

from . import exports, presence
from .forms import EventForm, EventLanguageForm, EventLanguageFormSet
from .models import Caption, Event, EventLanguage, EventStatus, GlossaryTerm
from .status import Status, write_status

logger = logging.getLogger(__name__)


class EventLanguageInline(admin.TabularInline):
    model = EventLanguage
    form = EventLanguageForm  # only languages the configured engine can translate into
    formset = EventLanguageFormSet
    extra = 1


class GlossaryTermInline(admin.TabularInline):
    model = GlossaryTerm
    extra = 1


def live_counts(event: Event) -> dict[str, int] | None:
    """Listeners per language right now, or None when Redis cannot be asked."""
    try:
        return async_to_sync(presence.listener_counts)(event.pk)
    except Exception:  # the panel must still open when Redis is down
        logger.warning("could not read listener counts", exc_info=True)
        return None


def format_counts(counts: dict[str, int] | None, languages: list[str]) -> str:
    """Counts like "es 12 · fr 3 (listening: es 2)", in the event's language order."""
    if counts is None:
        return "?"
    reading = " · ".join(f"{lang} {counts.get(lang, 0)}" for lang in languages)
    speech = [
        f"{lang} {counts[presence.SPEECH_PREFIX + lang]}"
        for lang in languages
        if counts.get(presence.SPEECH_PREFIX + lang)
    ]
    return reading + (f" ({_('listening')}: {', '.join(speech)})" if speech else "")


@admin.register(Event)
class EventAdmin(admin.ModelAdmin):
    list_display = [
        "title",
        "slug",
        "source_language",
        "status_badge",
        "listeners",
        "links",
        "created_at",
    ]
    list_filter = ["status"]
    search_fields = ["title", "slug"]
    readonly_fields = ["presenter_link", "audience_link", "qr_code", "listeners", "transcripts"]
    form = EventForm
    inlines = [EventLanguageInline, GlossaryTermInline]
    actions = ["rotate_presenter_keys"]
    change_form_template = "admin/captions/event/change_form.html"

    def get_queryset(self, request: HttpRequest):
        return super().get_queryset(request).prefetch_related("languages")

    def get_urls(self):
        urls = [
            path(
                "<path:object_id>/rotate-key/",
                self.admin_site.admin_view(self.rotate_key_view),
                name="captions_event_rotate_key",
            ),
        ]
        return urls + super().get_urls()

    @admin.display(description=_("status"), ordering="status")
    def status_badge(self, event: Event) -> str:
        colors = {
            EventStatus.LIVE: "#1a7f37",
            EventStatus.PAUSED: "#9a6700",
            EventStatus.ENDED: "#6b6b6b",
            EventStatus.WAITING: "#0b5cad",
        }
        return format_html(
            '<strong style="color:{}">{}</strong>',
            colors.get(event.status, "inherit"),
            event.get_status_display(),
        )

    @admin.display(description=_("listeners now"))
    def listeners(self, event: Event) -> str:
        if not event.pk:
            return "-"
        counts = format_counts(live_counts(event), event.audience_language_codes())
        return format_html('<span style="white-space:nowrap">{}</span>', counts)

    @admin.display(description=_("links"))
    def links(self, event: Event) -> str:
        items = [
            (self.presenter_url(event), _("presenter")),
            (reverse("captions:audience", args=[event.slug]), _("audience")),
            (reverse("captions:join-card", args=[event.slug]), _("join card")),
        ]
        return format_html_join(
            " · ", '<a href="{}" target="_blank" style="white-space:nowrap">{}</a>', items
        )

    @staticmethod
    def presenter_url(event: Event) -> str:
        return reverse("captions:presenter", args=[event.slug]) + f"?key={event.presenter_key}"

    @admin.display(description=_("presenter page"))
    def presenter_link(self, event: Event) -> str:
        if not event.pk:
            return "-"
        return format_html(
            '<a href="{}" target="_blank" rel="noreferrer">{}</a>',
            self.presenter_url(event),
            _("Open the presenter page"),
        )

    @admin.display(description=_("audience link"))
    def audience_link(self, event: Event) -> str:
        if not event.pk:
            return "-"
        url = reverse("captions:audience", args=[event.slug])
        card = reverse("captions:join-card", args=[event.slug])
        displays = format_html_join(
            " · ",
            '<a href="{}" target="_blank">{}</a>',
            (
                (reverse("captions:display", args=[event.slug, lang]), lang)
                for lang in event.audience_language_codes()
            ),
        )
        return format_html(
            '<a href="{}" target="_blank">{}</a> · <a href="{}" target="_blank">{}</a><br>{}: {}',
            url,
            url,
            card,
            _("printable join card"),
            _("projector display"),
            displays,
        )

    @admin.display(description=_("QR code"))
    def qr_code(self, event: Event) -> str:
        if not event.pk:
            return "-"
        svg = reverse("captions:qr-svg", args=[event.slug])
        png = reverse("captions:qr-png", args=[event.slug])
        return format_html(
            '<img src="{}" width="200" height="200" alt="QR"><br>'
            '<a href="{}">SVG</a> · <a href="{}">PNG</a>',
            svg,
            svg,
            png,
        )

    @admin.display(description=_("transcripts"))
    def transcripts(self, event: Event) -> str:
        if not event.pk:
            return "-"
        rows = [
            (
                lang,
                format_html_join(
                    " · ",
                    '<a href="{}">{}</a>',
                    (
                        (reverse("captions:transcript", args=[event.slug, lang, fmt]), fmt.upper())
                        for fmt in exports.FORMATS
                    ),
                ),
            )
            for lang in event.audience_language_codes()
        ]
        return format_html_join(mark_safe("<br>"), "{}: {}", rows)

    def save_model(self, request: HttpRequest, obj: Event, form, change: bool) -> None:
        """Save; a status the organizer changed goes through the one status writer."""
        super().save_model(request, obj, form, change)
        if change and "status" in form.changed_data:
            languages = obj.audience_language_codes()
            async_to_sync(write_status)(obj.pk, languages, Status(obj.status))

    @admin.action(description=_("Rotate the presenter key"))
    def rotate_presenter_keys(self, request, queryset) -> None:
        for event in queryset:
            event.rotate_presenter_key()
        self.message_user(request, _("New presenter keys issued."), messages.SUCCESS)

    def rotate_key_view(self, request: HttpRequest, object_id: str):
        """Called by the change page's button: a new key, so old presenter links stop working."""
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        event = get_object_or_404(Event, pk=object_id)
        if not self.has_change_permission(request, event):
            raise PermissionDenied
        event.rotate_presenter_key()
        self.message_user(
            request,
            _("New presenter key issued: the old presenter link no longer works."),
            messages.SUCCESS,
        )
        return HttpResponseRedirect(reverse("admin:captions_event_change", args=[event.pk]))


@admin.register(Caption)
class CaptionAdmin(admin.ModelAdmin):
    list_display = ["event", "seq", "language", "text", "start", "end"]
    list_filter = ["event", "language"]
    search_fields = ["text", "source_text"]
    ordering = ["event", "seq", "language"]
