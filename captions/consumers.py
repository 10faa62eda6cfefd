"""WebSocket consumers: thin glue between sockets, the engine and the channel layer."""

from __future__ import annotations

import asyncio
import hmac
import logging
from typing import Any
from urllib.parse import parse_qs

from channels.generic.websocket import AsyncWebsocketConsumer

from . import presence, protocol, storage
from .engines import get_engine
from .engines.base import EngineError, EngineSession
from .events import EventInfo, current_status, load_event, load_event_cached, save_status
from .fanout import CAPTION, SPEECH, Envelope, get_hub, stream_name
from .groups import presenter_group
from .models import EventStatus
from .relay import CaptionRelay, broadcast_status

logger = logging.getLogger(__name__)

DRAIN_SECONDS = 8.0  # how long a stopping session may take to deliver its last finals
COUNTS_SECONDS = 2.0  # how often the presenter hears listener counts


def query_params(scope: dict[str, Any]) -> dict[str, str]:
    """The connection's query string as single values (the last one wins)."""
    parsed = parse_qs(scope.get("query_string", b"").decode("latin-1"))
    return {name: values[-1] for name, values in parsed.items()}


class PresenterConsumer(AsyncWebsocketConsumer):
    """The presenter's audio in, caption previews and listener counts out."""

    event: EventInfo | None = None
    session: EngineSession | None = None
    pump: asyncio.Task | None = None
    counts_task: asyncio.Task | None = None
    replaced = False

    async def connect(self) -> None:
        """Called when the presenter page opens its socket: authenticate, take over the event."""
        self.event = await load_event(self.scope["url_route"]["kwargs"]["slug"])
        await self.accept()
        if self.event is None:
            return await self.close(code=protocol.CLOSE_EVENT_NOT_FOUND)
        if not self._authorized():
            await self._send(
                protocol.error("unauthorized", "wrong or missing presenter key", fatal=True)
            )
            return await self.close(code=protocol.CLOSE_UNAUTHORIZED)
        if self.event.status == EventStatus.ENDED:
            await self._send(protocol.error("event_ended", "this event has ended", fatal=True))
            return await self.close(code=protocol.CLOSE_EVENT_ENDED)
        group = presenter_group(self.event.id)
        # The newest presenter connection takes over: the old one is told and closes.
        await self.channel_layer.group_send(
            group, {"type": "presenter.takeover", "channel": self.channel_name}
        )
        await self.channel_layer.group_add(group, self.channel_name)
        self.preview_language = (self.event.target_languages or [self.event.source_language])[0]
        self.counts_task = asyncio.create_task(self._report_counts())
        await self._send(
            protocol.status(self.event.status, languages=self.event.audience_languages)
        )
        logger.info("presenter connected to event %s", self.event.slug)

    def _authorized(self) -> bool:
        user = self.scope.get("user")
        if user is not None and user.is_authenticated and user.is_staff:
            return True
        given = query_params(self.scope).get("key", "")
        return hmac.compare_digest(given.encode(), self.event.presenter_key.encode())

    async def disconnect(self, code: int) -> None:
        """Called when the socket closes: deliver what the engine still holds, then stop."""
        if self.counts_task:
            self.counts_task.cancel()
            await asyncio.gather(self.counts_task, return_exceptions=True)
        if self.event is None or not self._joined():
            return
        await self.channel_layer.group_discard(presenter_group(self.event.id), self.channel_name)
        await self._end_session()
        if not self.replaced and self.event_status == EventStatus.LIVE:
            await self._set_status(EventStatus.PAUSED, reason="presenter_disconnected")
        logger.info("presenter left event %s (code %s)", self.event.slug, code)

    def _joined(self) -> bool:
        return self.counts_task is not None

    @property
    def event_status(self) -> str:
        return getattr(self, "_status", self.event.status)

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        """Called for every frame: audio as binary PCM16, control messages as JSON text."""
        try:
            if bytes_data is not None:
                await self._audio(bytes_data)
            else:
                await self._control(protocol.parse_control(text_data or ""))
        except protocol.ControlError as exc:
            await self._send(protocol.error(exc.code, exc.detail))

    async def _audio(self, frame: bytes) -> None:
        protocol.check_audio_frame(frame)
        if self.session is None:
            raise protocol.ControlError("not_live", 'send {"type": "start"} before audio')
        await self.session.send_audio(frame)

    async def _control(self, message: dict[str, Any]) -> None:
        match message["type"]:
            case "start":
                await self._start()
            case "pause":
                await self._end_session()
                await self._set_status(EventStatus.PAUSED)
            case "stop":
                await self._end_session()
                await self._set_status(EventStatus.ENDED)
                await self.close(code=1000)
            case "preview":
                self.preview_language = message["language"]
            case "ping":
                await self._send({"type": "pong"})

    async def _start(self) -> None:
        if self.session is not None:
            return
        counts = await presence.listener_counts(self.event.id)
        config = self.event.session_config(presence.speech_languages(counts))
        try:
            self.session = await get_engine().start_session(config)
        except EngineError as exc:
            await self._send(protocol.error("engine_failed", str(exc), fatal=exc.permanent))
            return
        relay = CaptionRelay(
            event_id=self.event.id,
            slug=self.event.slug,
            source_language=self.event.source_language,
            target_languages=self.event.target_languages,
            preview=self._preview,
        )
        self.pump = asyncio.create_task(self._pump(self.session, relay))
        await self._set_status(EventStatus.LIVE)

    async def _pump(self, session: EngineSession, relay: CaptionRelay) -> None:
        """Read engine results until the session ends; runs beside the audio path."""
        try:
            async for result in session.results():
                await relay.relay(result)
        except EngineError as exc:
            logger.warning("engine failed for event %s: %s", self.event.slug, exc)
            await self._drop_session(session)
            await self._send(protocol.error("engine_failed", str(exc), fatal=exc.permanent))
            await self._set_status(EventStatus.PAUSED, reason="engine_failed")
        except Exception:
            logger.exception("relay failed for event %s", self.event.slug)
            await self._drop_session(session)
            await self._send(protocol.error("internal_error", "captioning stopped", fatal=True))

    async def _drop_session(self, session: EngineSession) -> None:
        """Forget and close a session that failed, so a new "start" can open another."""
        if self.session is session:
            self.session = self.pump = None
        try:
            await session.close()
        except Exception:
            logger.debug("closing a failed engine session failed", exc_info=True)

    async def _end_session(self) -> None:
        """Finish the engine session and wait, bounded, for its last finals to be relayed."""
        session, pump = self.session, self.pump
        self.session = self.pump = None
        if session is None:
            return
        try:
            await session.finish()
            if pump is not None:
                await asyncio.wait_for(asyncio.shield(pump), DRAIN_SECONDS)
        except (TimeoutError, EngineError):
            logger.warning("engine did not drain for event %s", self.event.slug)
        finally:
            if pump is not None:
                pump.cancel()
            await session.close()

    async def _set_status(self, state: str, **details: Any) -> None:
        self._status = state
        await save_status(self.event.id, state)
        await broadcast_status(self.event.id, self.event.audience_languages, state, **details)
        await self._send(protocol.status(state, **details))

    async def _preview(self, message: dict[str, Any]) -> None:
        if message.get("type") == "preview":
            translations = message.pop("translations")
            message["language"] = self.preview_language
            message["text"] = translations.get(self.preview_language, "")
        await self._send(message)

    async def _report_counts(self) -> None:
        """Send listener counts when they change, and keep the engine's speech languages current."""
        last: dict[str, int] | None = None
        while True:
            counts = await presence.listener_counts(self.event.id)
            if counts != last:
                await self._send({"type": "listeners", "counts": counts})
                if self.session is not None:
                    await self.session.set_speech_languages(presence.speech_languages(counts))
                last = counts
            await asyncio.sleep(COUNTS_SECONDS)

    async def presenter_takeover(self, message: dict[str, Any]) -> None:
        """Called when another presenter connection claims the event."""
        if message["channel"] == self.channel_name:
            return
        self.replaced = True
        await self._send(
            protocol.error("replaced", "another presenter connection took over", fatal=True)
        )
        await self.close(code=protocol.CLOSE_REPLACED)

    async def _send(self, message: dict[str, Any]) -> None:
        try:
            await self.send(text_data=protocol.dumps(message))
        except Exception:  # the socket may already be gone; captions are stored regardless
            logger.debug("could not send to presenter", exc_info=True)


class AudienceConsumer(AsyncWebsocketConsumer):
    """One listener: recent history on arrival, then live captions in one language.

    Listeners are fed by this process's fan-out hub (captions/fanout.py), not by
    channel-layer groups: see that module for why.
    """

    # No channel layer: a layer-backed consumer keeps a Redis receive pending per listener,
    # which with thousands of listeners swamps Redis and times out (see bench/fanout.py).
    channel_layer_alias = "no-channel-layer"
    event: EventInfo | None = None
    stream: str | None = None

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
        self._read_params(query_params(self.scope))
        # Live messages that arrive while history is read wait here, so history comes first.
        self.held: list[Envelope] | None = []
        self.stream = stream_name(self.event.id, self.language, with_source=self.with_source)
        await get_hub().add(self.stream, self, self.deliver)
        await presence.listener_joined(self.event.id, self.language, speech=self.speech)
        await self._send_json(
            protocol.status(
                await current_status(self.event),
                languages=self.event.audience_languages,
                title=self.event.title,
            )
        )
        await self._replay_history()
        held, self.held = self.held, None
        for envelope in held:
            await self.deliver(envelope)

    def _read_params(self, params: dict[str, str]) -> None:
        self.with_source = (
            params.get("original") in {"1", "true"} and self.language != self.event.source_language
        )
        self.speech = params.get("speech") in {"1", "true"}
        after = params.get("after", "")
        self.last_final = int(after) if after.isdigit() else None

    async def _replay_history(self) -> None:
        for row in await storage.recent_finals(self.event.id, self.language, self.last_final):
            message = protocol.caption(
                seq=row.seq,
                language=row.language,
                final=True,
                text=row.text,
                start=row.start,
                end=row.end,
                source_language=self.event.source_language,
                source_text=row.source_text if self.with_source else None,
            )
            await self._send_json(message)
            self.last_final = row.seq
        await self._send_json({"type": "history_end", "last_seq": self.last_final})

    async def disconnect(self, code: int) -> None:
        """Called when the listener leaves."""
        if self.stream is None:
            return
        await get_hub().remove(self.stream, self)
        await presence.listener_left(self.event.id, self.language, speech=self.speech)

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        """Listeners only read; anything they send is refused."""
        await self._send_json(
            protocol.error("read_only", "the audience connection does not accept messages")
        )

    async def deliver(self, envelope: Envelope) -> None:
        """Called by the hub for every message on this listener's stream."""
        if self.held is not None:
            self.held.append(envelope)
            return
        if envelope.kind == CAPTION:
            if self.last_final is not None and envelope.seq <= self.last_final:
                return  # already delivered from history, or a late partial of a finished utterance
            if envelope.final:
                self.last_final = envelope.seq
        elif envelope.kind == SPEECH and not self.speech:
            return
        # Straight to the server's send: the text was serialized once for every listener.
        await self.base_send({"type": "websocket.send", "text": envelope.text})

    async def _send_json(self, message: dict[str, Any]) -> None:
        await self.send(text_data=protocol.dumps(message))
