"""The organizer panel: events, languages, glossary, presenter key, join card, transcripts.

Django's object-ownership pattern: a model permission opens the panel, and an organizer then
sees and changes only the events they organize (with their languages, glossary and
captions); superusers see every event. The creator of an event is its first organizer.
"""

from __future__ import annotations

import logging

from asgiref.sync import async_to_sync
from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied
from django.db.models import F, Model
from django.http import HttpRequest, HttpResponseNotAllowed, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe
from django.utils.translation import gettext_lazy as _

from . import exports, presence
from .forms import EventForm, EventLanguageForm, EventLanguageFormSet
from .models import Caption, CaptionRevision, Event, EventLanguage, EventStatus, GlossaryTerm
from .status import Status, write_status

logger = logging.getLogger(__name__)


class EventLanguageInline(admin.TabularInline):
    model = EventLanguage
    form = EventLanguageForm  # only languages the configured engine can translate into
    formset = EventLanguageFormSet
    fields = ["code", "speech"]
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


class OrganizerScoped:
    """Per-object permissions of a ModelAdmin: only the events the user organizes."""

    def event_of(self, obj: Model) -> Event:
        return obj

    def _organizes(self, request: HttpRequest, obj: Model | None) -> bool:
        if obj is None or request.user.is_superuser:
            return True
        return self.event_of(obj).organizers.filter(pk=request.user.pk).exists()

    def has_view_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return super().has_view_permission(request, obj) and self._organizes(request, obj)

    def has_change_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return super().has_change_permission(request, obj) and self._organizes(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return super().has_delete_permission(request, obj) and self._organizes(request, obj)


@admin.register(Event)
class EventAdmin(OrganizerScoped, admin.ModelAdmin):
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
    filter_horizontal = ["organizers"]  # offered to superusers only (get_fields)

    def get_queryset(self, request: HttpRequest):
        events = super().get_queryset(request).organized_by(request.user)
        return events.prefetch_related("languages")

    def get_fields(self, request: HttpRequest, obj: Event | None = None) -> list[str]:
        """Superusers choose the organizers; organizers see who they are."""
        fields = list(super().get_fields(request, obj))
        if request.user.is_superuser and "organizers" not in fields:
            fields.append("organizers")
        return fields

    def get_readonly_fields(self, request: HttpRequest, obj: Event | None = None) -> list[str]:
        fields = list(super().get_readonly_fields(request, obj))
        return fields if request.user.is_superuser else [*fields, "organizer_names"]

    def formfield_for_manytomany(self, db_field, request: HttpRequest, **kwargs):
        if db_field.name == "organizers":  # only people who can log in to the panel
            kwargs["queryset"] = get_user_model().objects.filter(is_staff=True)
        return super().formfield_for_manytomany(db_field, request, **kwargs)

    @admin.display(description=_("organizers"))
    def organizer_names(self, event: Event) -> str:
        if not event.pk:
            return "-"
        return ", ".join(user.get_username() for user in event.organizers.all())

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
            (reverse("captions:control", args=[event.slug]), _("control room")),
            (reverse("captions:audience", args=[event.slug]), _("audience")),
            (reverse("captions:join-card", args=[event.slug]), _("join card")),
        ]
        return format_html_join(
            " · ", '<a href="{}" target="_blank" style="white-space:nowrap">{}</a>', items
        )

    @staticmethod
    def presenter_url(event: Event) -> str:
        """The presenter link: the key in the fragment, which browsers never send to a server."""
        return reverse("captions:presenter", args=[event.slug]) + f"#key={event.presenter_key}"

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

    def save_related(self, request: HttpRequest, form, formsets, change: bool) -> None:
        """Save the languages and organizers; whoever creates an event organizes it."""
        super().save_related(request, form, formsets, change)
        if not change:
            form.instance.organizers.add(request.user)
        # A live session reloads the glossary when this moves (captions/live.py).
        Event.objects.filter(pk=form.instance.pk).update(glossary_version=F("glossary_version") + 1)

    def save_model(self, request: HttpRequest, obj: Event, form, change: bool) -> None:
        """Save; a status the organizer changed goes through the one status writer."""
        super().save_model(request, obj, form, change)
        if change and "status" in form.changed_data:
            languages = obj.audience_language_codes()
            async_to_sync(write_status)(obj.pk, languages, Status(obj.status))

    @admin.action(description=_("Rotate the presenter key"), permissions=["change"])
    def rotate_presenter_keys(self, request, queryset) -> None:
        for event in queryset:  # already only the user's own events (get_queryset)
            event.rotate_presenter_key()
        self.message_user(
            request,
            _(
                "New presenter keys issued: the old presenter links no longer work, and "
                "presenters connected with them are disconnected within 2 seconds."
            ),
            messages.SUCCESS,
        )

    def rotate_key_view(self, request: HttpRequest, object_id: str):
        """Called by the change page's button: a new key, so old presenter links stop working."""
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        event = get_object_or_404(self.get_queryset(request), pk=object_id)
        if not self.has_change_permission(request, event):
            raise PermissionDenied
        event.rotate_presenter_key()
        self.message_user(
            request,
            _(
                "New presenter key issued: the old presenter link no longer works, and a "
                "presenter connected with it is disconnected within 2 seconds."
            ),
            messages.SUCCESS,
        )
        return HttpResponseRedirect(reverse("admin:captions_event_change", args=[event.pk]))


class CaptionRevisionInline(admin.TabularInline):
    """Every text an utterance had, oldest first: who corrected it and when (read-only)."""

    model = CaptionRevision
    fk_name = "caption"
    fields = ["revision", "text", "translations", "stale_languages", "author", "created_at"]
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_view_permission(self, request: HttpRequest, obj=None) -> bool:
        """Whoever sees the caption sees its history (CaptionAdmin checks the organizer)."""
        return request.user.has_perm("captions.view_caption") or request.user.has_perm(
            "captions.change_caption"
        )

    def has_add_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


@admin.register(Caption)
class CaptionAdmin(OrganizerScoped, admin.ModelAdmin):
    list_display = ["event", "seq", "language", "text", "revision", "start", "end"]
    inlines = [CaptionRevisionInline]
    # Only events the list holds: the plain filter would name every event in the database.
    list_filter = [("event", admin.RelatedOnlyFieldListFilter), "language"]
    search_fields = ["text", "source_text"]
    ordering = ["event", "seq", "language"]

    def event_of(self, obj: Caption) -> Event:
        return obj.event

    def get_queryset(self, request: HttpRequest):
        events = Event.objects.organized_by(request.user)
        return super().get_queryset(request).filter(event__in=events).select_related("event")

    def formfield_for_foreignkey(self, db_field, request: HttpRequest, **kwargs):
        if db_field.name == "event":
            kwargs["queryset"] = Event.objects.organized_by(request.user)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)
