"""The organizer panel: events, languages, glossary, presenter key, QR code, captions."""

from __future__ import annotations

from django.contrib import admin, messages
from django.urls import reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from .models import Caption, Event, EventLanguage, GlossaryTerm


class EventLanguageInline(admin.TabularInline):
    model = EventLanguage
    extra = 1


class GlossaryTermInline(admin.TabularInline):
    model = GlossaryTerm
    extra = 1


@admin.register(Event)
class EventAdmin(admin.ModelAdmin):
    list_display = ["title", "slug", "source_language", "status", "audience_link", "created_at"]
    list_filter = ["status"]
    search_fields = ["title", "slug"]
    readonly_fields = ["presenter_link", "audience_link", "qr_code"]
    inlines = [EventLanguageInline, GlossaryTermInline]
    actions = ["rotate_presenter_keys"]

    @admin.display(description=_("presenter page"))
    def presenter_link(self, event: Event) -> str:
        if not event.pk:
            return "-"
        url = reverse("captions:presenter", args=[event.slug]) + f"?key={event.presenter_key}"
        return format_html('<a href="{}" target="_blank">{}</a>', url, _("Open the presenter page"))

    @admin.display(description=_("audience link"))
    def audience_link(self, event: Event) -> str:
        if not event.pk:
            return "-"
        url = reverse("captions:audience", args=[event.slug])
        return format_html('<a href="{}" target="_blank">{}</a>', url, url)

    @admin.display(description=_("QR code"))
    def qr_code(self, event: Event) -> str:
        if not event.pk:
            return "-"
        svg = reverse("captions:qr-svg", args=[event.slug])
        png = reverse("captions:qr-png", args=[event.slug])
        return format_html(
            '<img src="{}" width="200" height="200" alt="QR"><br><a href="{}">SVG</a> · <a href="{}">PNG</a>',
            svg, svg, png,
        )

    @admin.action(description=_("Rotate the presenter key"))
    def rotate_presenter_keys(self, request, queryset) -> None:
        for event in queryset:
            event.rotate_presenter_key()
        self.message_user(request, _("New presenter keys issued."), messages.SUCCESS)


@admin.register(Caption)
class CaptionAdmin(admin.ModelAdmin):
    list_display = ["event", "seq", "language", "text", "start", "end"]
    list_filter = ["event", "language"]
    search_fields = ["text", "source_text"]
    ordering = ["event", "seq", "language"]
