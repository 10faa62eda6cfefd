"""One presenter connection's hold on its event: lease, status, engine session, numbering, relay.

The presenter consumer checks input and hands it here; everything that makes an event live
happens in this object, which also keeps the event alive through Redis faults:

- the lease (captions/lease.py) makes this connection the event's only presenter, renewed
  every half second; a newer connection takes it over and this one closes with 4008;
- the engine needs no Redis: audio keeps flowing to it, finals are numbered and stored in the
  database, and the publisher (captions/publisher.py) delivers them once Redis answers;
- the presenter is told when captions stop reaching listeners, and when they reach them again;
- the organizer's changes reach it within a second: a connection opened with a presenter key
  that was since rotated closes (4001), and speech follows the languages that offer it.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hmac
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from channels.db import database_sync_to_async
from django.conf import settings

from . import delay_report, lease, presence, protocol, storage
from .corrections import RevisionFollower, console_stream, glossary_of
from .delay import StreamClock
from .engines import get_engine
from .engines.base import SAMPLE_RATE, SAMPLE_WIDTH, EngineError, EngineSession
from .events import EventInfo
from .fanout import get_hub
from .hold import HeldFinals
from .models import Event, EventLanguage, EventStatus
from .publisher import Publisher
from .relay import CaptionRelay, withdrawals
from .status import PRESENTER_LOST, Status, read_status, stored_status, write_status

logger = logging.getLogger(__name__)

DRAIN_SECONDS = 8.0  # how long a stopping session may take to deliver its last finals
# How long a closing connection waits for Redis to take its last messages: listeners who miss
# them catch up from the database when their own link comes back.
PUBLISH_DRAIN_SECONDS = 1.5
COUNTS_SECONDS = 2.0  # how often the presenter hears listener counts
# How often the organizer's settings and the stored status are read: a rotated key closes its
# connections, and an "ended" from the admin ends the talk, within 2 s.
ORGANIZER_CHECK_SECONDS = 1.0

Send = Callable[[dict[str, Any]], Awaitable[None]]
Close = Callable[[int], Awaitable[None]]


@dataclass(frozen=True)
class OrganizerSettings:
    """What the organizer may change in the admin while the event is live."""

    presenter_key: str
    status: str
    hold_seconds: int
    glossary_version: int
    speech_offered: frozenset[str]


@database_sync_to_async
def organizer_settings(event_id: int) -> OrganizerSettings | None:
    """The event's presenter key, stored status, hold, glossary version and speech languages;
    None if it was deleted."""
    fields = ("presenter_key", "status", "hold_seconds", "glossary_version")
    row = Event.objects.filter(pk=event_id).values_list(*fields).first()
    if row is None:
        return None
    languages = EventLanguage.objects.filter(event_id=event_id, speech=True)
    return OrganizerSettings(*row, frozenset(languages.values_list("code", flat=True)))


class LiveEvent:
    """The live lifecycle of one event, for as long as one presenter connection holds it."""

    def __init__(
        self, event: EventInfo, send: Send, close: Close, *, key: str | None = None
    ) -> None:
        self.event = event
        self.key = key  # the presenter key this connection came with; None for a staff login
        self.revoked = False  # the key was rotated: this connection is closing
        self.speech_offered: frozenset[str] = frozenset()
        self.counts: dict[str, int] = {}
        self.token = lease.new_token()
        self.send = send
        self._close_socket = close
        self.preview_language = (event.target_languages or [event.source_language])[0]
        self.state = event.status  # what this connection last set
        self.replaced = False
        self.session: EngineSession | None = None
        self.relay: CaptionRelay | None = None
        self.pump: asyncio.Task | None = None
        self.publisher = Publisher(event.id, self.token, self._link_changed)
        self.hold = HeldFinals(event.id, event.source_language)
        self.revisions = RevisionFollower(self._preview)  # corrections reach the preview too
        self._following: asyncio.Task | None = None
        self.glossary = event.glossary
        self.glossary_version: int | None = None  # unknown until the first settings check
        self.clock = StreamClock()  # when the engine session's audio arrived, for caption delays
        self.delays: dict[str, Any] = {}  # the delay figures last sent (none: nothing to send)
        self._ticker: asyncio.Task | None = None
        self._preparing: asyncio.Task | None = None

    async def open(self) -> None:
        """Take the event over from any earlier presenter connection, and say where it stands."""
        # The engine's models load while the presenter gets ready to speak, not after "start".
        self._preparing = asyncio.create_task(self._prepare_engine())
        try:
            await lease.take(self.event.id, self.token)
        except Exception as exc:  # Redis down: the ticker takes the lease once it answers
            logger.warning("could not take event %s yet: %r", self.event.slug, exc)
        if await stored_status(self.event.id) == EventStatus.LIVE:
            await self._take_over_from_a_lost_connection()
        await self.hold.load()  # finals an earlier connection held go out when due
        # In a task: with Redis away, a subscription waits seconds to be confirmed.
        self._following = asyncio.create_task(
            get_hub().add(console_stream(self.event.id), self.revisions)
        )
        status = await read_status(self.event.id)
        self.state = status.state
        await self.send(status.message(languages=self.event.audience_languages))
        await self._check_organizer_settings()  # the key may have changed since it was checked
        self._ticker = asyncio.create_task(self._tick_forever())

    async def _prepare_engine(self) -> None:
        try:
            await get_engine().prepare(self.event.session_config())
        except Exception:  # "start" tries again, and says what went wrong
            logger.warning("could not prepare the engine for %s", self.event.slug, exc_info=True)

    @property
    def active(self) -> bool:
        """Whether this connection still holds the event: not replaced, its key not rotated."""
        return not (self.replaced or self.revoked)

    async def _take_over_from_a_lost_connection(self) -> None:
        """The event was live under a connection that never said goodbye (its server died, or
        this one replaced it): nothing is captioned until "start", and the partials it left
        open will never get their finals."""
        languages = self.event.audience_languages
        for seq in await storage.unfinished_seqs(self.event.id):
            for stream, envelope in withdrawals(
                self.event.id, seq, self.event.source_language, languages
            ):
                self.publisher.put(stream, envelope)
        await write_status(
            self.event.id,
            languages,
            Status(EventStatus.PAUSED, PRESENTER_LOST),
            publisher=self.publisher,
        )

    async def start(self) -> None:
        """Start captioning: open an engine session and go live."""
        if not self.active:
            return
        if self.session is not None:  # already live: every start is answered with the status
            return await self.send(Status(self.state).message())
        self.counts = await self._counts()
        self.clock = StreamClock()  # stream times start again at 0 with each session
        event = dataclasses.replace(self.event, glossary=self.glossary)
        config = event.session_config(self._speech_languages())
        if not _sessions.take():  # taken with no wait before the try that gives it back
            limit = settings.ENGINE_MAX_SESSIONS
            detail = f"this server captions at most {limit} talks at once (ENGINE_MAX_SESSIONS)"
            return await self.send(protocol.error("engine_busy", detail))
        try:
            session = await get_engine().start_session(config)
        except EngineError as exc:
            _sessions.give_back()
            await self.send(protocol.error("engine_failed", str(exc), fatal=exc.permanent))
            return
        except BaseException:  # a bug the consumer reports, or cancelled: the slot goes back
            _sessions.give_back()
            raise
        self.relay = CaptionRelay(
            event_id=self.event.id,
            slug=self.event.slug,
            source_language=self.event.source_language,
            target_languages=self.event.target_languages,
            preview=self._preview,
            publisher=self.publisher,
            hold=self.hold,
            clock=self.clock,
        )
        self.session = session
        self.pump = asyncio.create_task(self._pump(session, self.relay))
        await self.set_status(EventStatus.LIVE)

    async def audio(self, frame: bytes) -> None:
        if self.session is None:
            raise protocol.ControlError("not_live", 'send {"type": "start"} before audio')
        self.clock.add(len(frame) / (SAMPLE_RATE * SAMPLE_WIDTH), time.time())
        await self.session.send_audio(frame)

    async def pause(self) -> None:
        await self._end_session()
        await self.set_status(EventStatus.PAUSED)

    async def stop(self) -> None:
        """End the event for good."""
        await self._end_session()
        await self.set_status(EventStatus.ENDED)
        await self._close_socket(1000)

    async def close(self) -> None:
        """Called when the presenter's socket is gone: finish, then let the event go."""
        try:
            for task in (self._ticker, self._preparing):
                if task is not None:
                    task.cancel()
                    await asyncio.gather(task, return_exceptions=True)
        finally:  # cancelled all the same (the loop is closing): the engine session goes back
            await self._end_session()
        if not self.replaced:
            await self._release_all_held()
        if not self.replaced and self.state == EventStatus.LIVE:
            await self.set_status(EventStatus.PAUSED, reason="presenter_disconnected")
        if self._following is not None:
            self._following.cancel()
            await get_hub().remove(console_stream(self.event.id), self.revisions)
        await self.publisher.drain(PUBLISH_DRAIN_SECONDS)  # before the release: it needs the lease
        await self.publisher.close()
        if not self.replaced:
            try:
                await lease.release(self.event.id, self.token)
            except Exception:  # it expires by itself
                logger.warning("could not release event %s", self.event.slug)

    async def set_status(self, state: str, reason: str | None = None) -> None:
        """Change the event's status (through the one writer) and tell the presenter."""
        self.state = state
        status = Status(state, reason)
        await write_status(
            self.event.id, self.event.audience_languages, status, publisher=self.publisher
        )
        await self.send(status.message())

    async def _pump(self, session: EngineSession, relay: CaptionRelay) -> None:
        """Read engine results until the session ends; runs beside the audio path."""
        try:
            async for result in session.results():
                await relay.relay(result)
        except EngineError as exc:
            logger.warning("engine failed for event %s: %s", self.event.slug, exc)
            await self._drop_session(session, relay)
            await self.send(protocol.error("engine_failed", str(exc), fatal=exc.permanent))
            await self.set_status(EventStatus.PAUSED, reason="engine_failed")
        except Exception:
            logger.exception("relay failed for event %s", self.event.slug)
            await self._drop_session(session, relay)
            await self.send(protocol.error("internal_error", "captioning stopped", fatal=True))

    async def _drop_session(self, session: EngineSession, relay: CaptionRelay) -> None:
        """Forget and close a session that failed, so a new "start" can open another."""
        if self.session is session:
            self.session = self.pump = self.relay = None
            _sessions.give_back()
        await relay.withdraw_open()
        try:
            await session.close()
        except Exception:
            logger.debug("closing a failed engine session failed", exc_info=True)

    async def _end_session(self, *, drain: bool = True) -> None:
        """Finish the engine session and wait, bounded, for its last finals to be relayed."""
        session, pump, relay = self.session, self.pump, self.relay
        self.session = self.pump = self.relay = None
        if session is None:
            return
        _sessions.give_back()
        try:
            if drain:
                await session.finish()
                if pump is not None:
                    await asyncio.wait_for(asyncio.shield(pump), DRAIN_SECONDS)
        except (TimeoutError, EngineError):
            logger.warning("engine did not drain for event %s", self.event.slug)
        finally:
            if pump is not None:
                pump.cancel()
            await session.close()
            if relay is not None:
                await relay.withdraw_open()

    async def _tick_forever(self) -> None:
        """Renew the lease; now and then report listener counts and check for the organizer."""
        loop = asyncio.get_running_loop()
        next_counts = loop.time()
        next_organizer_check = loop.time() + ORGANIZER_CHECK_SECONDS
        last_counts: dict[str, int] | None = None
        while self.active:
            if self.publisher.fenced_out or not await self._renew():
                return await self._replaced()
            await self._release_due()
            now = loop.time()
            if now >= next_organizer_check:
                next_organizer_check = now + ORGANIZER_CHECK_SECONDS
                await self._check_organizer_settings(follow_status=True)
            if now >= next_counts and self.active:
                next_counts = now + COUNTS_SECONDS
                last_counts = await self._report_counts(last_counts)
                await self._report_delays()
            await asyncio.sleep(lease.RENEW_SECONDS)

    async def _release_due(self) -> None:
        try:
            await self.hold.release_due(self.publisher.put)
        except Exception:  # the database: the finals stay held, and are tried again
            logger.warning("could not release held finals of event %s", self.event.slug)

    async def _release_all_held(self) -> None:
        try:
            await self.hold.release_all(self.publisher.put)
        except Exception:  # the next presenter connection, or the control room, releases them
            logger.warning("could not release held finals of event %s", self.event.slug)

    async def _renew(self) -> bool:
        try:
            return await lease.renew(self.event.id, self.token)
        except Exception:  # Redis down: nobody else can take the event meanwhile
            logger.debug("could not renew the lease of event %s", self.event.slug)
            return True

    async def _counts(self) -> dict[str, int]:
        try:
            return await presence.listener_counts(self.event.id)
        except Exception:
            logger.debug("could not read listener counts", exc_info=True)
            return {}

    async def _report_counts(self, last: dict[str, int] | None) -> dict[str, int] | None:
        counts = self.counts = await self._counts()
        if counts == last:
            return last
        await self.send({"type": "listeners", "counts": counts})
        await self._apply_speech()
        return counts

    async def _report_delays(self) -> None:
        """Send the last minute's caption delays per language, summed over every process."""
        try:
            summary = await delay_report.read_summary(self.event.id)
        except Exception:
            logger.debug("could not read caption delays", exc_info=True)
            return
        if summary != self.delays:
            self.delays = summary
            await self.send(delay_report.message(summary))

    def _speech_languages(self) -> frozenset[str]:
        """Languages to synthesize: offered by the organizer and asked for by a listener.

        Listeners alone cannot switch speech on: anyone can open a socket asking for it.
        """
        return presence.speech_languages(self.counts) & self.speech_offered

    async def _apply_speech(self) -> None:
        if self.session is not None:
            await self.session.set_speech_languages(self._speech_languages())

    async def _check_organizer_settings(self, *, follow_status: bool = False) -> None:
        """Close if the presenter key was rotated; follow speech choices and the stored status.

        The stored status: the organizer's "ended" ends the talk; any other value that differs
        from this connection's was written by a racer replaced an instant after it connected,
        and is put back (the lease holder decides live or paused).
        """
        try:
            current = await organizer_settings(self.event.id)
        except Exception:
            logger.warning("could not read the settings of event %s", self.event.slug)
            return
        if current is None:
            return  # deleted: the lease and the listeners' status reads see to the rest
        if self.key is not None and not hmac.compare_digest(
            current.presenter_key.encode(), self.key.encode()
        ):
            if not self.revoked:  # checked again before the close has gone through
                self.revoked = True
                detail = "the presenter key was replaced"
                await self._stop("unauthorized", detail, protocol.CLOSE_UNAUTHORIZED)
            return
        if current.speech_offered != self.speech_offered:
            self.speech_offered = current.speech_offered
            await self._apply_speech()
        self.hold.seconds = current.hold_seconds
        if current.glossary_version != self.glossary_version:
            await self._apply_glossary(current.glossary_version)
        if not follow_status or current.status == self.state:
            return
        if current.status == EventStatus.ENDED:
            await self._end_session()
            self.state = EventStatus.ENDED
            await self.send(protocol.status(EventStatus.ENDED))
            await self._close_socket(protocol.CLOSE_EVENT_ENDED)
        elif self.active:
            await self.set_status(self.state)

    async def _apply_glossary(self, version: int) -> None:
        """The glossary changed (the control room or the admin): the session uses it next."""
        first = self.glossary_version is None
        self.glossary_version = version
        if first:
            return  # read with the event a moment ago
        self.glossary = await glossary_of(self.event.id)
        if self.session is not None:
            await self.session.update_glossary(tuple(self.glossary), self.glossary)
        logger.info("event %s uses a new glossary (%d terms)", self.event.slug, len(self.glossary))

    async def _replaced(self) -> None:
        """Another presenter connection holds the event now."""
        if not self.replaced:
            self.replaced = True
            await self._stop(
                "replaced", "another presenter connection took over", protocol.CLOSE_REPLACED
            )

    async def _stop(self, code: str, detail: str, close_code: int) -> None:
        """This connection no longer holds the event: stop at once, without draining, and close."""
        logger.info("presenter of event %s stops: %s", self.event.slug, detail)
        await self._end_session(drain=False)
        await self.send(protocol.error(code, detail, fatal=True))
        await self._close_socket(close_code)

    async def _link_changed(self, up: bool) -> None:
        await self.send({"type": "link", "state": "up" if up else "down"})

    async def _preview(self, message: dict[str, Any]) -> None:
        if message.get("type") == "preview" and "translations" in message:
            translations = message.pop("translations")
            message["language"] = self.preview_language
            message["text"] = translations.get(self.preview_language, "")
        await self.send(message)


class SessionSlots:
    """This process's count of engine sessions, against settings.ENGINE_MAX_SESSIONS."""

    def __init__(self) -> None:
        self.open = 0

    def take(self) -> bool:
        limit = settings.ENGINE_MAX_SESSIONS
        if limit and self.open >= limit:
            return False
        self.open += 1
        return True

    def give_back(self) -> None:
        self.open = max(0, self.open - 1)


_sessions = SessionSlots()
