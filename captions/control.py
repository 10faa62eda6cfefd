"""The organizer's control room socket: finals as they come, corrections, glossary, hold.

Why a WebSocket rather than HTTP POSTs beside a listener stream: the room must see finals
that listeners do not (held ones, with every translation and revision), so it needs a stream
of its own anyway; commands on the same socket share its one authentication (the session
cookie, checked once at the handshake like the presenter's login), its origin check and
its frame limits, need no CSRF token, and their answers arrive in order with the stream, so
a moderator never sees their own correction overtaken by an older copy of the final.

``/ws/events/<slug>/control/``, for the event's organizers (staff) and users with the
``captions.present_event`` permission; see docs/websocket-api.md.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from channels.db import database_sync_to_async
from django.conf import settings
from django.db.models import F

from . import corrections, delay_report, hold, lease, metrics, protocol
from .consumers import GuardedConsumer
from .corrections import CorrectionError, Utterance, console_stream
from .engines.base import SessionConfig
from .events import EventInfo, load_event
from .fanout import CONSOLE, REVISION, Envelope, get_hub, publish
from .hold import MAX_SEQ
from .models import MAX_HOLD_SECONDS, PRESENT_EVENT, Event, GlossaryTerm
from .sending import ListenerSender

logger = logging.getLogger(__name__)

MAX_TERM_CHARS = 100  # GlossaryTerm.term
CONSOLE_COMMANDS = {"correct", "release", "glossary", "hold", "ping"}


def _integer(message: dict[str, Any], name: str, low: int, high: int) -> int:
    value = message.get(name)
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise CorrectionError("malformed_message", f'"{name}" must be an integer {low}-{high}')
    return value


def parse_command(text: str) -> dict[str, Any]:
    """Validate a control room message and return it with its values checked (no I/O)."""
    try:
        message = protocol.parse_object(text)
    except protocol.ControlError as exc:
        raise CorrectionError(exc.code, exc.detail) from None
    kind = message["type"]
    if kind not in CONSOLE_COMMANDS:
        raise CorrectionError("unknown_type", f"unknown message type {kind!r}")
    if kind == "correct":
        _integer(message, "seq", 1, MAX_SEQ)
        _integer(message, "base", 0, MAX_SEQ)
        message["text"] = corrections.check_text(message.get("text"))
    elif kind == "release":
        _integer(message, "seq", 1, MAX_SEQ)
    elif kind == "hold":
        _integer(message, "seconds", 0, MAX_HOLD_SECONDS)
    elif kind == "glossary":
        message["term"] = _term(message.get("term"), "term")
        message["translations"] = _renderings(message.get("translations", {}))
    return message


def _term(value: object, name: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise CorrectionError("malformed_message", f'"{name}" must be a non-empty string')
    value = " ".join(value.split())
    if len(value) > MAX_TERM_CHARS:
        raise CorrectionError("text_too_long", f'"{name}" is at most {MAX_TERM_CHARS} characters')
    return value


def _renderings(value: object) -> dict[str, str]:
    if not isinstance(value, dict) or len(value) > 32:
        raise CorrectionError("malformed_message", '"translations" must be an object')
    renderings = {}
    for language, text in value.items():
        if isinstance(text, str) and not text.strip():
            continue  # a blank field: the term is kept as spoken
        renderings[language] = _term(text, f"translations.{language}"[:40])
    return renderings


@database_sync_to_async
def may_moderate(user: Any, event_id: int) -> bool:
    """Organizers of the event (staff), and users allowed to present any event."""
    if user is None or not user.is_authenticated:
        return False
    return Event.objects.allowing(user, PRESENT_EVENT).filter(pk=event_id).exists()


@database_sync_to_async
def event_settings(event_id: int) -> dict[str, Any]:
    event = Event.objects.filter(pk=event_id).first()
    if event is None:
        return {"hold_seconds": 0, "glossary": {}}
    return {"hold_seconds": event.hold_seconds, "glossary": event.glossary_terms()}


@database_sync_to_async
def set_hold(event_id: int, seconds: int) -> None:
    Event.objects.filter(pk=event_id).update(hold_seconds=seconds)


@database_sync_to_async
def add_term(event_id: int, term: str, renderings: dict[str, str]) -> dict[str, str]:
    """Add or extend a glossary term; live sessions reload the glossary within a second."""
    entry, _ = GlossaryTerm.objects.get_or_create(event_id=event_id, term=term)
    entry.translations = {**entry.translations, **renderings}
    entry.save(update_fields=["translations"])
    Event.objects.filter(pk=event_id).update(glossary_version=F("glossary_version") + 1)
    return entry.translations


class ControlConsumer(GuardedConsumer):
    """One moderator's control room: the event's finals in, commands out."""

    channel_layer_alias = "no-channel-layer"
    event: EventInfo | None = None
    stream: str | None = None
    sender: ListenerSender | None = None
    delays: asyncio.Task | None = None

    async def connect(self) -> None:
        """Called when the control room opens its socket: check the login, then stream finals."""
        await self.accept()
        self.event = await load_event(self.scope["url_route"]["kwargs"]["slug"])
        if self.event is None:
            return await self.close(code=protocol.CLOSE_EVENT_NOT_FOUND)
        if not await may_moderate(self.scope.get("user"), self.event.id):
            self.event = None
            detail = "log in as an organizer of this event"
            refusal = protocol.error("unauthorized", detail, fatal=True)
            await self.send(text_data=protocol.dumps(refusal))
            return await self.close(code=protocol.CLOSE_UNAUTHORIZED)
        self.sender = ListenerSender(self.base_send, self._dropped)
        self.held: list[Envelope] | None = []  # live messages wait while history is read
        self.stream = console_stream(self.event.id)
        linked = await get_hub().add(self.stream, self)
        current = await event_settings(self.event.id)
        self._send({"type": "hold", "seconds": current["hold_seconds"]})
        self._send({"type": "glossary", "terms": current["glossary"]})
        if not linked:
            self._send({"type": "link", "state": "down"})
        await self._replay()
        self.delays = delay_report.follow(self.event.id, self._send)  # the delay panel's figures
        logger.info("control room opened for event %s", self.event.slug)

    async def _replay(self) -> None:
        """The recent finals, held ones included, then what arrived meanwhile."""
        if self.held is None:
            self.held = []
        limit = settings.CAPTION_HISTORY_LIMIT
        for utterance in await corrections.recent_utterances(
            self.event.id, self.event.source_language, limit
        ):
            self._send(utterance.message())
        self._send({"type": "history_end"})
        held, self.held = self.held, None
        for envelope in held:
            await self.deliver(envelope)

    async def deliver(self, envelope: Envelope) -> None:
        """Called by the hub for every message on the control room's stream."""
        if self.held is not None:
            self.held.append(envelope)
        elif self.sender is not None:
            self.sender.deliver_text(envelope.text)

    async def link_changed(self, up: bool) -> None:
        """Called by the hub when this process loses Redis, and when it has it back."""
        self._send({"type": "link", "state": "up" if up else "down"})
        if up:  # finals may have passed unseen: send the recent ones again (same seq: replaced)
            await self._replay()

    async def disconnect(self, code: int) -> None:
        """Called when the control room closes."""
        if self.sender is not None:
            self.sender.stop()
        await self._leave()

    async def _dropped(self) -> None:
        await self._leave()

    async def _leave(self) -> None:
        stream, self.stream = self.stream, None
        if self.delays is not None:
            self.delays.cancel()
        if stream is not None:
            await get_hub().remove(stream, self)

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        """Called for every frame: JSON commands only."""
        if self.stream is None:
            return  # refused at connect: the close is on its way
        try:
            if text_data is None:
                raise CorrectionError("malformed_message", "the control room sends JSON text")
            await self._command(parse_command(text_data))
        except CorrectionError as exc:
            answer = protocol.error(exc.code, exc.detail)
            if exc.current is not None:
                answer["current"] = exc.current.message()
            self._send(answer)

    async def _command(self, message: dict[str, Any]) -> None:
        match message["type"]:
            case "correct":
                await self._correct(message["seq"], message["base"], message["text"])
            case "release":
                await self._release(message["seq"])
            case "glossary":
                await self._add_term(message["term"], message["translations"])
            case "hold":
                await set_hold(self.event.id, message["seconds"])
                await self._publish_console({"type": "hold", "seconds": message["seconds"]})
            case "ping":
                self._send({"type": "pong"})

    async def _correct(self, seq: int, base: int, text: str) -> None:
        """Save revision ``base + 1`` of final ``seq``, translated, and send it to everyone."""
        event = self.event
        current = await corrections.load_utterance(event.id, seq, event.source_language)
        if current is None:
            raise CorrectionError("no_such_caption", f"no stored final {seq}")
        if current.revision != base:  # fail before spending time on translation
            detail = f"final {seq} was changed meanwhile (now revision {current.revision})"
            raise CorrectionError("conflict", detail, current)
        config = await self._session_config()
        translations, stale = await corrections.translate(text, config, current.translations)
        user = self.scope.get("user")
        saved = await corrections.save_correction(
            event.id, event.source_language, seq, base, text, translations, stale, user.pk
        )
        self._send({"type": "corrected", "seq": seq, "revision": saved.revision})
        metrics.count_correction()
        await self._publish_revision(saved)
        logger.info("final %s of event %s corrected (revision %s)", seq, event.slug, saved.revision)

    async def _session_config(self) -> SessionConfig:
        glossary = await corrections.glossary_of(self.event.id)
        return SessionConfig(
            source_language=self.event.source_language,
            target_languages=tuple(self.event.target_languages),
            phrases=tuple(glossary),
            glossary=glossary,
            profanity=self.event.profanity,
        )

    async def _publish_revision(self, utterance: Utterance) -> None:
        """The revision to every control room, and to listeners unless it is still held."""
        console = corrections.console_envelope(utterance, "revision")
        envelopes = [(console_stream(self.event.id), console)]
        if utterance.held_until is None:
            envelopes += corrections.final_envelopes(
                self.event.id, self.event.source_language, utterance, REVISION
            )
        await self._publish(envelopes)

    async def _release(self, seq: int) -> None:
        """Release the held finals up to ``seq`` now.

        The presenter's process releases them on its next tick; with no presenter holding
        the event (its process died, or it left), this room releases them itself.
        """
        await hold.release_through(self.event.id, seq)
        self._send({"type": "releasing", "seq": seq})
        if await self._presenter_holds_event():
            return
        releaser = hold.HeldFinals(self.event.id, self.event.source_language)
        releaser.pending = True
        envelopes: list[tuple[str, Envelope]] = []
        await releaser.release_due(lambda stream, envelope: envelopes.append((stream, envelope)))
        await self._publish(envelopes)

    async def _presenter_holds_event(self) -> bool:
        try:
            return await lease.holder(self.event.id) is not None
        except Exception:  # Redis down: nothing could be published anyway
            return True

    async def _add_term(self, term: str, renderings: dict[str, str]) -> None:
        offered = set(self.event.target_languages)
        unknown = sorted(set(renderings) - offered)
        if unknown:
            raise CorrectionError(
                "language_not_offered", f"this event does not offer {', '.join(unknown)[:100]}"
            )
        translations = await add_term(self.event.id, term, renderings)
        message = {"type": "glossary_added", "term": term, "translations": translations}
        await self._publish_console(message)

    async def _publish_console(self, message: dict[str, Any]) -> None:
        envelope = Envelope(CONSOLE, 0, False, protocol.dumps(message))
        await self._publish([(console_stream(self.event.id), envelope)])

    async def _publish(self, envelopes: list[tuple[str, Envelope]]) -> None:
        """Publish in order; a Redis fault loses nothing stored (pages read it on reconnecting)."""
        try:
            for stream, envelope in envelopes:
                await publish(stream, envelope)
        except Exception:
            logger.warning("could not publish from the control room of event %s", self.event.slug)
            self._send({"type": "link", "state": "down"})

    def _send(self, message: dict[str, Any]) -> None:
        if self.sender is not None:
            self.sender.deliver_text(protocol.dumps(message))
