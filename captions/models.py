"""Events, their languages and glossary, and the stored final captions."""

from __future__ import annotations

import secrets

from django.conf import settings
from django.core.validators import MaxValueValidator, RegexValidator
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


MAX_HOLD_SECONDS = 30

# Permissions over every event, for people who are not its organizers (a venue's AV team).
PRESENT_EVENT = "captions.present_event"
EXPORT_TRANSCRIPT = "captions.export_transcript"


class EventQuerySet(models.QuerySet):
    """Events as seen by one user: their own, or all of them with the permission for it."""

    def organized_by(self, user) -> EventQuerySet:
        """The events a user runs in the admin: all of them for a superuser, else their own."""
        if user.is_active and user.is_superuser:
            return self
        if not (user.is_active and user.is_staff):
            return self.none()
        return self.filter(organizers=user)

    def allowing(self, user, permission: str) -> EventQuerySet:
        """The events a staff user may act on: all of them with ``permission``, else their own."""
        if not (user.is_active and user.is_staff):
            return self.none()
        if user.has_perm(permission):
            return self
        return self.filter(organizers=user)


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
    # Who runs the event: they see and change it in the admin, present it with their login and
    # download its transcripts. Others need the permissions below (superusers have them all).
    organizers = models.ManyToManyField(
        settings.AUTH_USER_MODEL,
        verbose_name=_("organizers"),
        related_name="organized_events",
        blank=True,
    )
    # Finals wait this long in the control room before listeners get them (0: no hold).
    hold_seconds = models.PositiveSmallIntegerField(
        _("hold finals for moderation (seconds)"),
        default=0,
        validators=[MaxValueValidator(MAX_HOLD_SECONDS)],
        help_text=_("0-30 s. Listeners then get finals only, after the hold."),
    )
    # Bumped whenever the glossary changes: a live session reloads it within a second.
    glossary_version = models.PositiveIntegerField(default=0, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = EventQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        permissions = [
            ("present_event", _("Can present any event and end it")),
            ("export_transcript", _("Can download the transcripts of any event")),
        ]

    def __str__(self) -> str:
        return self.title

    def allows(self, user, permission: str) -> bool:
        """Whether ``user`` may act on this event: with ``permission``, or as an organizer."""
        return Event.objects.allowing(user, permission).filter(pk=self.pk).exists()

    def rotate_presenter_key(self) -> str:
        """Issue a new presenter key; connections opened with the old one close within 2 s."""
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
    # Synthesized speech costs CPU (or an Azure bill) for every final: it is produced only for
    # languages the organizer chose, and only while a listener of that language asks for it.
    speech = models.BooleanField(_("offer synthesized speech"), default=False)

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
    # The utterance's current revision (0: as recognized); corrections raise it in every language.
    revision = models.PositiveIntegerField(default=0)
    # Held for moderation until then (captions/hold.py); None once listeners may have it.
    release_at = models.DateTimeField(null=True, blank=True, db_index=True)
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


class CaptionRevision(models.Model):
    """One text of an utterance: the original (revision 0) or a moderator's correction."""

    # The utterance's source-language row; the translations of that revision travel with it.
    caption = models.ForeignKey(Caption, on_delete=models.CASCADE, related_name="revisions")
    revision = models.PositiveIntegerField()
    text = models.TextField()
    translations = models.JSONField(default=dict, blank=True)
    # Languages whose translation could not be redone and was kept from the revision before.
    stale_languages = models.JSONField(default=list, blank=True)
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["caption", "revision"], name="unique_caption_revision")
        ]
        ordering = ["caption", "revision"]

    def __str__(self) -> str:
        return f"{self.caption} r{self.revision}"
