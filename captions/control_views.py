"""The control room page: the organizer's correction console (captions/control.py is its socket)."""

from __future__ import annotations

from django.contrib.admin.views.decorators import staff_member_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET

from .control import MAX_TERM_CHARS
from .corrections import MAX_CORRECTION_CHARS
from .models import MAX_HOLD_SECONDS, PRESENT_EVENT, Event
from .views import language_choices


def control_strings() -> dict[str, str]:
    """The control room's words for its script, in the active language."""
    return {
        "connecting": _("Connecting…"),
        "connected": _("Connected"),
        "reconnecting": _("Reconnecting…"),
        "closed": _("Disconnected"),
        "unauthorized": _("Log in as an organizer of this event to moderate it."),
        "no_event": _("This event does not exist."),
        "held": _("held %s s"),
        "releasing": _("releasing"),
        "saving": _("saving…"),
        "conflict": _(
            "Someone changed this caption meanwhile. Their text is shown below; yours is kept "
            "in the editor: Enter saves it over theirs, Esc drops it."
        ),
        "stale": _("old translation (no translator for this language)"),
        "revision": _("rev. %s"),
        "glossary_added": _("Added to the glossary: %s. It applies to the next sentences."),
        "select_word": _("Select the misheard word in a caption first."),
        "link_down": _("This server lost its link: changes may not reach listeners."),
    }


@require_GET
@staff_member_required
def control_room(request: HttpRequest, slug: str) -> HttpResponse:
    """Finals as they come, with keyboard editing, glossary and hold: for the event's organizers."""
    event = get_object_or_404(Event.objects.prefetch_related("languages"), slug=slug)
    if not event.allows(request.user, PRESENT_EVENT):
        raise PermissionDenied
    targets = event.target_language_codes()
    config = {
        "slug": event.slug,
        "sourceLanguage": event.source_language,
        "targets": targets,
        "maxText": MAX_CORRECTION_CHARS,
        "maxTerm": MAX_TERM_CHARS,
        "maxHold": MAX_HOLD_SECONDS,
        "strings": control_strings(),
    }
    return render(
        request,
        "captions/control.html",
        {"event": event, "targets": language_choices(targets), "config": config},
    )
