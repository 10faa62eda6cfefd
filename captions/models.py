"""Events, their languages and glossary, and the stored final captions."""

from __future__ import annotations

import secrets

from django.core.validators import RegexValidator
from django.db import models
from django.utils.translation import gettext_lazy as _

# BCP-47-ish: "en", "pt", "pt-BR", "zh-Hans". Also keeps group names ASCII-safe.
language_code_validator = RegexValidator(
    r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$", _("Use a language code such as en, es or pt-BR.")
)
SLUG_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"  # no 0/o, 1/l/i: easy to read off a slide


def new_slug() -> str:
    return "".join(secrets.choice(SLUG_ALPHABET) for _ in range(6))


def new_presenter_key() -> str:
    return secrets.token_urlsafe(24)


class EventStatus(models.TextChoices):
    WAITING = "waiting", _("Waiting for the presenter")
    LIVE = "live", _("Live")
    PAUSED = "paused", _("Paused")
    ENDED = "ended", _("Ended")


class Event(models.Model):
    """A talk: one presenter, an audience reading it in several languages."""

    title = models.CharField(_("title"), max_length=200)
    slug = models.SlugField(_("short code"), max_length=32, unique=True, default=new_slug)
    source_language = models.CharField(
        _("spoken language"), max_length=16, default="en", validators=[language_code_validator]
    )
    presenter_key = models.CharField(max_length=64, default=new_presenter_key, editable=False)
    # Written only through captions.status.write_status; read through captions.status, which
    # also knows whether a presenter really holds the event right now.
    status = models.CharField(max_length=16, choices=EventStatus, default=EventStatus.WAITING)
    # The last utterance number handed out. Kept here, not in Redis, so that a number shown to
    # listeners is never given to another utterance, even after Redis loses everything.
    last_seq = models.PositiveIntegerField(default=0, editable=False)
    profanity = models.CharField(
        max_length=16,
        choices=[("masked", _("masked")), ("removed", _("removed")), ("raw", _("raw"))],
        default="masked",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.title

    def rotate_presenter_key(self) -> str:
        """Issue a new presenter key; the old one stops working for new connections."""
        self.presenter_key = new_presenter_key()
        self.save(update_fields=["presenter_key", "updated_at"])
        return self.presenter_key

    def target_language_codes(self) -> list[str]:
        return [lang.code for lang in self.languages.all() if lang.code != self.source_language]

    def audience_language_codes(self) -> list[str]:
        """Languages a listener may choose: the spoken one and every target."""
        return [self.source_language, *self.target_language_codes()]

    def glossary_terms(self) -> dict[str, dict[str, str]]:
        return {term.term: dict(term.translations) for term in self.glossary.all()}


class EventLanguage(models.Model):
    """A language the event's audience can read."""

    event = models.ForeignKey(Event, on_delete=models.CASCADE, related_name="languages")
    code = models.CharField(_("language"), max_length=16, validators=[language_code_validator])

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["event", "code"], name="unique_event_language")
        ]
        ordering = ["code"]

    def __str__(self) -> str:
        return self.code


class GlossaryTerm(models.Model):
    """A name or term the engine should recognize, and how to render it per language."""

    event = models.ForeignKey(Event, on_delete=models.CASCADE, related_name="glossary")
    term = models.CharField(_("term"), max_length=100)
    # {"es": "Contoso", "fr": "Contoso SA"}; a missing language keeps the term as spoken.
    translations = models.JSONField(_("renderings per language"), default=dict, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["event", "term"], name="unique_glossary_term")
        ]
        ordering = ["term"]

    def __str__(self) -> str:
        return self.term


class Caption(models.Model):
    """A final caption of one utterance in one language (partials are never stored)."""

    event = models.ForeignKey(Event, on_delete=models.CASCADE, related_name="captions")
    seq = models.PositiveIntegerField()  # utterance order within the event, shared by languages
    language = models.CharField(max_length=16)
    text = models.TextField()
    source_text = models.TextField()
    start = models.FloatField()  # seconds from the start of the event's audio
    end = models.FloatField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["event", "language", "seq"], name="unique_caption_per_language"
            )
        ]
        ordering = ["seq"]

    def __str__(self) -> str:
        return f"{self.event_id}/{self.language}#{self.seq}"
