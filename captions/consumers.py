"""WebSocket consumers: thin glue between sockets, the live event and the fan-out hub."""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import time
from typing import Any
from urllib.parse import parse_qs

from channels.consumer import get_handler_name
from channels.db import database_sync_to_async
from channels.exceptions import StopConsumer
from channels.generic.websocket import AsyncWebsocketConsumer

from . import delay, history, limits, metrics, presence, protocol
from .events import EventInfo, load_event, load_event_cached
from .fanout import CAPTION, SPEECH, WITHDRAWAL, Envelope, get_hub, stream_name
from .live import LiveEvent
from .models import PRESENT_EVENT, Event, EventStatus
from .sending import ListenerSender
from .status import read_status
from .watch import WatchedEvent, get_watch

logger = logging.getLogger(__name__)

# How long a listener's catch-up after a Redis outage may take (one shared database read for
# every listener of the process) before the listener is sent away to resume by reconnecting.
CATCH_UP_SECONDS = 15.0
_cleanups: set[asyncio.Task] = set()  # consumers' cleanups under way (GuardedConsumer)


def _is_partial(envelope: Envelope) -> bool:
    return envelope.kind == CAPTION and not envelope.final


def query_params(scope: dict[str, Any]) -> dict[str, str]:
    """The connection's query string as single values (the last one wins)."""
    parsed = parse_qs(scope.get("query_string", b"").decode("latin-1"))
    return {name: values[-1] for name, values in parsed.items()}


class GuardedConsumer(AsyncWebsocketConsumer):
    """A consumer whose cleanup (``disconnect``) runs once and to its end, whatever happens.

    - An unexpected failure closes the socket (1011) and runs the cleanup; without this the
      exception ends the ASGI application, the server closes the socket, and ``disconnect``
      (status, lease, counts, tasks) never runs.
    - A cancelled application still runs it: Daphne cancels an application still busy
      ``application_close_timeout`` seconds (10) after its socket closed, also when it never
      read "websocket.disconnect" (a slow "start", a slow history read). Cut short, a
      presenter's cleanup would lose the engine's last finals and keep its engine session
      (and slot) until the process restarts; a listener's would stay counted.
    """

    _cleanup: asyncio.Task | None = None

    async def __call__(self, scope, receive, send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            self._clean_up(1006)  # no-op if "disconnect" ran: 1006 is an abnormal closure

    async def websocket_disconnect(self, message: dict[str, Any]) -> None:
        # Not Channels' own: this project's consumers join no channel-layer groups.
        await asyncio.shield(self._clean_up(message.get("code", 1005)))
        raise StopConsumer()

    def _clean_up(self, code: int) -> asyncio.Task:
        """The task running ``disconnect``: started once, and not cancelled with its caller."""
        if self._cleanup is None:
            self._cleanup = asyncio.create_task(self._disconnect_or_log(code))
            _cleanups.add(self._cleanup)  # the loop keeps only weak references to tasks
            self._cleanup.add_done_callback(_cleanups.discard)
        return self._cleanup

    async def _disconnect_or_log(self, code: int) -> None:
        try:
            await self.disconnect(code)
        except Exception:  # logged here: after a cancel, nobody waits for this task
            logger.exception("%s could not clean up (close code %s)", type(self).__name__, code)

    async def dispatch(self, message: dict[str, Any]) -> None:
        try:
            await self.handle(message)
        except StopConsumer:
            raise
        except Exception:
            logger.exception("%s failed on %s", type(self).__name__, message.get("type"))
            await self._fail()
            raise StopConsumer() from None

    async def handle(self, message: dict[str, Any]) -> None:
        """Called for every ASGI message: runs its handler with no database check first.

        Channels closes stale database connections before every handler, on the database
        thread. These consumers reach the database only through database_sync_to_async, which
        does the same check itself; the hop before every message was an eighth of a join
        storm's server CPU (README, "Join storms"), queued each audio frame behind whatever
        the database thread was doing, and held "websocket.disconnect" back as long.
        """
        handler = getattr(self, get_handler_name(message), None)
        if handler is None:
            raise ValueError(f"no handler for message type {message['type']}")
        await handler(message)

    async def _fail(self) -> None:
        await asyncio.shield(self._clean_up(1011))
        try:
            await self.close(code=1011)
        except Exception:
            logger.debug("could not close after a failure", exc_info=True)


class PresenterConsumer(GuardedConsumer):
    """The presenter's audio in, caption previews and listener counts out.

    Everything that makes the event live belongs to captions.live.LiveEvent. This consumer
    uses no channel layer: a Redis outage must never close the presenter's socket, and a
    channel-layer consumer dies when its layer's receive fails. Takeover goes by the lease.
    """

    channel_layer_alias = "no-channel-layer"
    live: LiveEvent | None = None
    key: str | None = None  # the presenter key this connection came with, if any

    async def connect(self) -> None:
        """Called when the presenter page opens its socket: authenticate, take over the event."""
        event = await load_event(self.scope["url_route"]["kwargs"]["slug"])
        await self.accept(subprotocol=self._subprotocol())
        if event is None:
            return await self.close(code=protocol.CLOSE_EVENT_NOT_FOUND)
        refusal = await self._authenticate(event)
        if refusal is not None:
            code, close_code, detail = refusal
            await self._send(protocol.error(code, detail, fatal=True))
            return await self.close(code=close_code)
        if event.status == EventStatus.ENDED:
            await self._send(protocol.error("event_ended", "this event has ended", fatal=True))
            return await self.close(code=protocol.CLOSE_EVENT_ENDED)
        self.live = LiveEvent(event, send=self._send, close=self._close, key=self.key)
        await self.live.open()
        logger.info("presenter connected to event %s", event.slug)

    def _subprotocol(self) -> str | None:
        """The subprotocol to echo: browsers fail a handshake that echoes none of theirs."""
        offered = self.scope.get("subprotocols") or []
        return protocol.PRESENTER_SUBPROTOCOL if protocol.PRESENTER_SUBPROTOCOL in offered else None

    async def _authenticate(self, event: EventInfo) -> tuple[str, int, str] | None:
        """None if this connection may present; else (error code, close code, detail).

        A staff login with the permission to present, or of one of the event's organizers,
        needs no key. The key comes in the handshake's subprotocols, never in the URL: URLs
        reach access logs. Wrong keys are counted, and past the limit none is even compared.
        """
        if await self._login_may_present(self.scope.get("user"), event.id):
            return None
        given = protocol.presenter_key(self.scope.get("subprotocols") or [])
        if not given:
            return "unauthorized", protocol.CLOSE_UNAUTHORIZED, "wrong or missing presenter key"
        address = limits.client_address(self.scope)
        if await limits.key_attempts_exhausted(event.slug, address):
            detail = "too many wrong presenter keys lately; try again in a minute"
            return "too_many_attempts", protocol.CLOSE_TOO_MANY_ATTEMPTS, detail
        if hmac.compare_digest(given.encode(), event.presenter_key.encode()):
            self.key = given
            return None
        await limits.key_attempt_failed(event.slug, address)
        return "unauthorized", protocol.CLOSE_UNAUTHORIZED, "wrong or missing presenter key"

    @staticmethod
    async def _login_may_present(user: Any, event_id: int) -> bool:
        """Whether the session's user may present: the permission, or organizing the event."""
        if user is None or not user.is_authenticated:
            return False
        allowed = Event.objects.allowing
        return await database_sync_to_async(
            lambda: allowed(user, PRESENT_EVENT).filter(pk=event_id).exists()
        )()

    async def disconnect(self, code: int) -> None:
        """Called when the socket closes: deliver what the engine still holds, then let go."""
        live, self.live = self.live, None
        if live is None:
            return
        await live.close()
        logger.info("presenter left event %s (code %s)", live.event.slug, code)

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        """Called for every frame: audio as binary PCM16, control messages as JSON text."""
        if self.live is None or not self.live.active:
            return  # refused at connect, replaced, or its key rotated: the close is on its way
        try:
            if bytes_data is not None:
                protocol.check_audio_frame(bytes_data)
                await self.live.audio(bytes_data)
            else:
                await self._control(protocol.parse_control(text_data or ""))
        except protocol.ControlError as exc:
            await self._send(protocol.error(exc.code, exc.detail))

    async def _control(self, message: dict[str, Any]) -> None:
        match message["type"]:
            case "start":
                await self.live.start()
            case "pause":
                await self.live.pause()
            case "stop":
                await self.live.stop()
            case "preview":
                self.live.preview_language = message["language"]
            case "ping":
                await self._send({"type": "pong"})

    async def _send(self, message: dict[str, Any]) -> None:
        try:
            await self.send(text_data=protocol.dumps(message))
        except Exception:  # the socket may already be gone; captions are stored regardless
            logger.debug("could not send to presenter", exc_info=True)

    async def _close(self, code: int) -> None:
        try:
            await self.close(code=code)
        except Exception:
            logger.debug("could not close the presenter socket", exc_info=True)


class AudienceConsumer(GuardedConsumer):
    """One listener: recent history on arrival, then live captions in one language.

    Listeners are fed by this process's fan-out hub (captions/fanout.py), not by
    channel-layer groups: see that module for why.
    """

    # No channel layer: a layer-backed consumer keeps a Redis receive pending per listener,
    # which with thousands of listeners swamps Redis and times out (see bench/fanout.py).
    channel_layer_alias = "no-channel-layer"
    event: EventInfo | None = None
    stream: str | None = None
    sender: ListenerSender | None = None
    counted = False  # in the event's watch, its language's listener count and the metrics

    async def connect(self) -> None:
        """Called when a listener opens the socket: subscribe, replay history, then go live."""
        kwargs = self.scope["url_route"]["kwargs"]
        self.language = kwargs["language"]
        # Accept before any database work: in a join burst the handshake must not wait on it
        # (Daphne drops connections not accepted within its handshake timeout).
        await self.accept()
        self.event = await load_event_cached(kwargs["slug"])
        if self.event is None:
            return await self.close(code=protocol.CLOSE_EVENT_NOT_FOUND)
        if self.language not in self.event.audience_languages:
            offered = ", ".join(self.event.audience_languages)
            await self._send_json(
                protocol.error("language_not_offered", f"this event offers {offered}", fatal=True)
            )
            return await self.close(code=protocol.CLOSE_LANGUAGE_NOT_OFFERED)
        if not await limits.admit_listener(self, self.event.id):
            return  # too many sockets from this address or to this event: refused with 4503
        self._read_params(query_params(self.scope))
        # Every message to this listener goes through the sender, in order; a phone that stops
        # reading is dropped (captions/sending.py) instead of holding up the whole process.
        self.sender = ListenerSender(self.base_send, self._dropped)
        # Live messages that arrive while history is read wait here, so history comes first.
        self.held: list[Envelope] | None = []
        self.joining = True  # the join's history is being read
        self.catch_up_again = False
        self.catch_up: asyncio.Task | None = None
        self.stream = stream_name(self.event.id, self.language, with_source=self.with_source)
        linked = await get_hub().add(self.stream, self)
        subscribed_at = asyncio.get_running_loop().time()
        get_watch().follow(
            WatchedEvent(
                self.event.id, self.event.source_language, tuple(self.event.audience_languages)
            )
        )
        await presence.listener_joined(self.event.id, self.language, speech=self.speech)
        metrics.listener_joined(self.event.slug, self.language)
        self.counted = True  # what _leave undoes; a leave before this must not uncount another
        await self._send_status(subscribed_at, title=self.event.title)
        if not linked:
            await self._send_json({"type": "link", "state": "down"})
        await self._replay_history(subscribed_at, first=True)
        self.joining = False
        if self.catch_up_again:  # the link came back while history was read
            self._start_catch_up()

    def _read_params(self, params: dict[str, str]) -> None:
        self.with_source = (
            params.get("original") in {"1", "true"} and self.language != self.event.source_language
        )
        self.speech = params.get("speech") in {"1", "true"}
        # "stable": finals only, never a partial; anything else is the default, "fast".
        self.stable = params.get("mode") == "stable"
        # "frame": the history comes as one message (clients that predate it get one message
        # per final and history_end; docs/websocket-api.md).
        self.history_frame = params.get("history") == "frame"
        after = params.get("after", "")
        # isdigit() alone accepts "²", which int() refuses; utterance numbers fit in 12 digits.
        valid = after.isascii() and after.isdigit() and len(after) <= 12
        self.last_final = int(after) if valid else None

    async def _send_status(self, not_before: float, **details: Any) -> None:
        """The status as this process last saw it on the stream, else read once for many."""
        hub = get_hub()
        known = hub.status(self.stream)
        if known is None:
            # One read for every listener who joins while it runs (a status change published
            # after this listener subscribed reaches it live, after this one).
            started, status = await history.shared_query().get(
                ("status", self.event.id), lambda: read_status(self.event.id), not_before
            )
            known = protocol.dumps(status.message())
            hub.remember_status(self.stream, known, started)
        message = json.loads(known)
        await self._send_json({**message, "languages": self.event.audience_languages, **details})

    async def _replay_history(self, not_before: float, *, first: bool) -> None:
        """Send the stored finals this listener lacks, then what arrived live meanwhile."""
        if self.held is None:
            self.held = []
        if first and self.history_frame:
            self.last_final, frame = await self._history_frame(self.last_final, not_before)
            self.sender.deliver_text(frame)
        else:
            for seq, text in await self._finals_after(self.last_final, not_before):
                self.sender.deliver_text(text)
                self.last_final = seq
            if first:
                await self._send_json({"type": "history_end", "last_seq": self.last_final})
        held, self.held = self.held, None
        for envelope in held:
            await self.deliver(envelope)
        if not get_hub().up:  # lost again meanwhile: what follows waits for the next catch-up
            self._hold_live()

    async def _history_frame(self, after: int | None, not_before: float) -> tuple[int | None, str]:
        """The history as one message: built once per stream and reused by every joiner."""
        recent = get_hub().recent(self.stream)
        framed = recent.frame(after) if recent is not None and get_hub().up else None
        if framed is not None:
            return framed
        finals = await self._finals_after(after, not_before)
        last = finals[-1][0] if finals else after
        return last, history.history_frame([text for _, text in finals], last)

    async def _finals_after(self, after: int | None, not_before: float) -> list[tuple[int, str]]:
        """Recent finals from this process's cache of the stream, else from the database.

        In a join storm only the first joiners of a stream read the database (together);
        everyone after them is served from memory.
        """
        hub = get_hub()
        recent = hub.recent(self.stream)
        cached = recent.after(after) if recent is not None and hub.up else None
        if cached is not None:
            return cached
        started, rows = await history.recent_finals(self.event.id, self.language, not_before)
        finals = [(row.seq, protocol.dumps(self._final_message(row))) for row in rows]
        if recent is not None and hub.up:
            recent.fill(finals, started)
        return [(seq, text) for seq, text in finals if after is None or seq > after]

    def _final_message(self, row) -> dict[str, Any]:
        return protocol.caption(
            seq=row.seq,
            language=row.language,
            final=True,
            text=row.text,
            start=row.start,
            end=row.end,
            source_language=self.event.source_language,
            source_text=row.source_text if self.with_source else None,
            revision=row.revision,
        )

    async def link_changed(self, up: bool) -> None:
        """Called by the hub when this process loses Redis, and when it has it back."""
        if not up:
            self._hold_live()
            return await self._send_json({"type": "link", "state": "down"})
        if self.joining or (self.catch_up is not None and not self.catch_up.done()):
            self.catch_up_again = True  # history or a catch-up is being read: again after it
        else:
            self._start_catch_up()

    def _start_catch_up(self) -> None:
        # Holding from now, not from when the task starts: the hub may deliver meanwhile.
        self._hold_live()
        # In a task: every listener of the process asks at once, and shares one query.
        self.catch_up = asyncio.create_task(self._catch_up())

    def _hold_live(self) -> None:
        """From now on finals may never arrive live: keep live messages back until a catch-up
        has read the missed ones. A live final sent first would move the listener's resume
        point past them (``deliver`` skips what is not newer), and the hub can hand one over
        as soon as the subscription is back, before it tells listeners that the link is."""
        if self.held is None:
            self.held = []

    async def _catch_up(self) -> None:
        """After an outage: the finals missed meanwhile, in order, then the status now.

        Live messages wait while the missed finals are read. If they cannot be read (the
        database failed or did not answer in time), the socket is closed with 1011 and the page
        reconnects with its resume point, getting them as history: holding live messages for
        ever would silence the listener, and sending them past the gap would move its resume
        point past finals it never got.
        """
        try:
            while True:  # again if the link came back once more while the finals were read
                self.catch_up_again = False
                await self._send_json({"type": "link", "state": "up"})
                async with asyncio.timeout(CATCH_UP_SECONDS):
                    await self._replay_history(get_hub().up_since, first=False)
                    await self._send_status(get_hub().up_since)
                if not self.catch_up_again:
                    return
        except Exception:
            logger.warning("a listener could not catch up: closing it to resume", exc_info=True)
        try:
            await self.close(code=protocol.CLOSE_RESUME)
        except Exception:  # the socket closed meanwhile
            logger.debug("could not close a listener that could not catch up", exc_info=True)

    async def disconnect(self, code: int) -> None:
        """Called when the listener leaves."""
        limits.listener_left(self)
        if self.stream is not None:
            self.sender.stop()
            await self._leave()

    async def _dropped(self) -> None:
        """Called by the sender when this listener fell too far behind; the socket is closing."""
        await self._leave()

    async def _leave(self) -> None:
        stream, self.stream = self.stream, None
        if stream is None:
            return  # dropped as too slow, then disconnected: counted out once
        if self.catch_up is not None:
            self.catch_up.cancel()
        await get_hub().remove(stream, self)
        if self.counted:
            self.counted = False
            get_watch().unfollow(self.event.id)
            metrics.listener_left(self.event.slug, self.language)
            await presence.listener_left(self.event.id, self.language, speech=self.speech)

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        """Listeners only read, apart from clock pings (answered with the server's time)."""
        reply = delay.clock_reply(text_data, int(time.time() * 1000))
        if reply is not None:
            return await self._send_json(reply)
        await self._send_json(
            protocol.error("read_only", "the audience connection does not accept messages")
        )

    async def deliver(self, envelope: Envelope) -> None:
        """Called by the hub for every message on this listener's stream."""
        if self.held is not None:
            self.held.append(envelope)
            return
        if self.stable and (envelope.kind == WITHDRAWAL or _is_partial(envelope)):
            return  # finals only: no partial, nor the withdrawal of one
        if envelope.kind in (CAPTION, WITHDRAWAL):
            if self.last_final is not None and envelope.seq <= self.last_final:
                return  # already delivered from history, or a late partial of a finished utterance
            if envelope.kind == CAPTION and envelope.final:
                self.last_final = envelope.seq
        elif envelope.kind == SPEECH and not self.speech:
            return
        # The text was serialized once for every listener.
        self.sender.deliver_text(envelope.text)

    async def _send_json(self, message: dict[str, Any]) -> None:
        if self.sender is None:  # refused before joining
            return await self.send(text_data=protocol.dumps(message))
        self.sender.deliver_text(protocol.dumps(message))
