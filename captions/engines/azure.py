"""Azure Speech Translation engine: a thin asyncio layer over ``azure_protocol``.

Speaks the v1 speech-translation WebSocket protocol (or v2, given a v2 endpoint)
with the ``websockets`` library. Reconnects with exponential backoff when the
service drops or fails a connection, resuming from the last final without losing
or repeating one.
Configuration: ``AZURE_SPEECH_KEY`` or ``AZURE_SPEECH_TOKEN``, ``AZURE_SPEECH_REGION``
or ``AZURE_SPEECH_ENDPOINT``, optional ``AZURE_SPEECH_VOICES`` (see docs/azure.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import random
import urllib.parse
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Any

from django.conf import settings as django_settings
from django.core.exceptions import ImproperlyConfigured
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus

from . import usp
from .azure_languages import (
    DEFAULT_VOICES,
    SOURCE_LOCALES,
    TARGET_CODES,
    same_language,
    source_locale,
    supported_pairs,
    target_code,
)
from .azure_protocol import (
    V1_PATH,
    V2_PATH,
    ServiceFailure,
    TranslationProtocol,
    TranslationSettings,
    TurnEnded,
    build_url,
)
from .base import (
    CaptionResult,
    Engine,
    EngineError,
    EngineNotice,
    EngineResult,
    EngineSession,
    LanguageSupport,
    NoticeKind,
    ResultKind,
    SessionConfig,
)

logger = logging.getLogger(__name__)

PERMANENT_CLOSE_CODES = {1002: "protocol error", 1003: "unsupported data", 1007: "bad request"}
AUTH_STATUSES = {401, 403}
PROFANITY_OPTIONS = frozenset({"masked", "removed", "raw"})
HEALTHY_SECONDS = 30.0  # a connection that lived this long resets the retry count


class AzureConfigError(EngineError, ImproperlyConfigured):
    """The Azure engine is selected but not configured; nothing will work until it is."""

    def __init__(self, message: str) -> None:
        super().__init__(message, permanent=True)


def _setting(name: str, given: str | None) -> str:
    """An explicit option, else the Django setting (read from the environment by settings.py)."""
    if given:
        return given
    return str(getattr(django_settings, name, "") or "").strip()


def parse_voices(raw: str | Mapping[str, str]) -> dict[str, str]:
    """``"de=de-DE-KatjaNeural,es=es-ES-ElviraNeural"`` -> ``{"de": ..., "es": ...}``."""
    if isinstance(raw, Mapping):
        return dict(raw)
    voices: dict[str, str] = {}
    for item in filter(None, (part.strip() for part in raw.split(","))):
        language, sep, voice = item.partition("=")
        if not sep or not language.strip() or not voice.strip():
            raise AzureConfigError(f"AZURE_SPEECH_VOICES: expected language=voice, got {item!r}")
        voices[language.strip()] = voice.strip()
    return voices


def region_url(region: str) -> str:
    """The v1 speech-translation endpoint of a region, sovereign clouds included."""
    suffix = "microsoft.com"
    if region.lower().startswith("china"):
        suffix = "azure.cn"
    elif region.lower().startswith("usgov"):
        suffix = "azure.us"
    return f"wss://{region}.s2s.speech.{suffix}{V1_PATH}"


@dataclass(frozen=True)
class AzureOptions:
    """Everything an Azure session needs that does not change per presenter."""

    url: str
    headers: Mapping[str, str]
    voices: Mapping[str, str]
    max_attempts: int = 6
    backoff: float = 0.5  # seconds before the first retry, doubled each time
    max_backoff: float = 15.0
    open_timeout: float = 10.0


class AzureEngine(Engine):
    """Azure AI Speech translation: streaming recognition, translation and speech output."""

    name = "azure"

    def __init__(
        self,
        *,
        key: str | None = None,
        token: str | None = None,
        region: str | None = None,
        endpoint: str | None = None,
        voices: str | Mapping[str, str] | None = None,
        max_attempts: int = 6,
        backoff: float = 0.5,
        max_backoff: float = 15.0,
        open_timeout: float = 10.0,
    ) -> None:
        """Read the configuration once; raise AzureConfigError when it cannot work."""
        headers = _auth_headers(
            _setting("AZURE_SPEECH_KEY", key), _setting("AZURE_SPEECH_TOKEN", token)
        )
        url = _base_url(
            _setting("AZURE_SPEECH_ENDPOINT", endpoint), _setting("AZURE_SPEECH_REGION", region)
        )
        if not voices:
            voices = _setting("AZURE_SPEECH_VOICES", None)
        self.options = AzureOptions(
            url=url,
            headers=headers,
            voices={**DEFAULT_VOICES, **parse_voices(voices or "")},
            max_attempts=max_attempts,
            backoff=backoff,
            max_backoff=max_backoff,
            open_timeout=open_timeout,
        )

    def language_support(self) -> LanguageSupport:
        """Sources and targets from a static table (see azure_languages), voices configured."""
        speech = frozenset(code for code in self.options.voices if code in TARGET_CODES)
        return LanguageSupport(sources=supported_pairs(), speech=speech)

    async def start_session(self, config: SessionConfig) -> AzureSession:
        """Start connecting in the background; connection failures surface from ``results()``."""
        source = config.source_language
        if source not in SOURCE_LOCALES and source.split("-")[0] not in SOURCE_LOCALES:
            raise EngineError(f"Azure speech translation does not hear {source!r}", permanent=True)
        return AzureSession(self.options, config)


def _auth_headers(key: str, token: str) -> dict[str, str]:
    if not key and not token:
        raise AzureConfigError(
            "The Azure engine needs AZURE_SPEECH_KEY (a Speech resource key) "
            "or AZURE_SPEECH_TOKEN (a bearer token); neither is set."
        )
    headers = {"Ocp-Apim-Subscription-Key": key} if key else {}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    return headers


def _base_url(endpoint: str, region: str) -> str:
    if endpoint:
        return _endpoint_url(endpoint)
    if not region:
        raise AzureConfigError(
            "The Azure engine needs AZURE_SPEECH_REGION (e.g. westeurope) "
            "or AZURE_SPEECH_ENDPOINT (a ws:// or wss:// URL)."
        )
    return region_url(region)


def _endpoint_url(endpoint: str) -> str:
    if not endpoint.startswith(("ws://", "wss://")):
        raise AzureConfigError(f"AZURE_SPEECH_ENDPOINT must be a ws:// or wss:// URL: {endpoint!r}")
    path = endpoint.split("://", 1)[1].partition("/")[2].partition("?")[0]
    return endpoint if path else endpoint.rstrip("/") + V1_PATH


def choose_voice(
    config: SessionConfig, languages: frozenset[str], voices: Mapping[str, str]
) -> tuple[str | None, str | None]:
    """The one language the session speaks (the service allows one voice per session).

    The first target language, in the event's order, that someone listens to and
    that has a voice; other languages get captions only.
    """
    for language in config.target_languages:
        voice = voices.get(language) or voices.get(language.split("-")[0])
        if language in languages and voice:
            return target_code(language), voice
    return None, None


def translation_settings(
    config: SessionConfig, speech: frozenset[str], options: AzureOptions
) -> TranslationSettings:
    """Turn a SessionConfig into Azure codes and options."""
    targets = {
        target_code(lang): lang
        for lang in config.target_languages
        if not same_language(config.source_language, lang)
    }
    voice_language, voice = choose_voice(config, speech, options.voices)
    return TranslationSettings(
        source_locale=source_locale(config.source_language),
        targets=targets,
        phrases=tuple(config.phrases),
        profanity=config.profanity if config.profanity in PROFANITY_OPTIONS else "masked",
        voice_language=voice_language,
        voice=voice,
        v2=urllib.parse.urlsplit(options.url).path.rstrip("/").endswith(V2_PATH),
    )


_DONE = object()


class AzureSession(EngineSession):
    """One presenter's stream through Azure, across reconnections."""

    def __init__(self, options: AzureOptions, config: SessionConfig) -> None:
        self.options = options
        self.config = config
        self.protocol = TranslationProtocol(
            translation_settings(config, config.speech_languages, options)
        )
        self.connection_id = usp.new_request_id()
        self.queue: asyncio.Queue[Any] = asyncio.Queue()
        self.ws: ClientConnection | None = None
        self._send_lock = asyncio.Lock()
        self._restart_after_final = False
        self._restarting = False
        self._failure: EngineError | None = None
        self._closed = False
        self.task = asyncio.create_task(self._run(), name="azure-session")

    # The EngineSession interface.

    async def send_audio(self, pcm: bytes) -> None:
        """Buffer and forward audio; while reconnecting it waits in the replay buffer."""
        self.protocol.send_audio(pcm)
        await self._flush()

    async def results(self) -> AsyncIterator[EngineResult]:
        """Yield results until the last final after ``finish()``; raise EngineError on failure."""
        while True:
            item = await self.queue.get()
            if item is _DONE:
                return
            if isinstance(item, EngineError):
                raise item
            yield item

    async def finish(self) -> None:
        """Send the end of the audio stream; the service finalizes what it heard."""
        self.protocol.send_end()
        await self._flush()

    async def close(self) -> None:
        """Stop at once; safe to call more than once."""
        self._closed = True
        self.task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await self.task
        if self.ws is not None:
            await self.ws.close()

    async def set_speech_languages(self, languages: frozenset[str]) -> None:
        """Switch the voice; the URL and context change, so reconnect at a final boundary."""
        self.config = dataclasses.replace(self.config, speech_languages=languages)
        await self._apply_settings()

    async def update_glossary(
        self, phrases: tuple[str, ...], glossary: Mapping[str, Mapping[str, str]]
    ) -> None:
        """New phrases go in the connection's context: reconnect at a final boundary."""
        await super().update_glossary(phrases, glossary)
        await self._apply_settings()

    async def _apply_settings(self) -> None:
        settings = translation_settings(self.config, self.config.speech_languages, self.options)
        if settings == self.protocol.settings:
            return
        self.protocol.settings = settings
        if self.protocol.in_utterance:
            self._restart_after_final = True
        else:
            await self._restart()

    # The connection loop.

    async def _run(self) -> None:
        try:
            await self._connect_until_done()
        except Exception as exc:  # a bug must end results(), not leave it waiting forever
            logger.exception("Azure session failed")
            self.queue.put_nowait(EngineError(f"Azure session failed: {exc!r}", permanent=False))

    async def _connect_until_done(self) -> None:
        """Connect, serve, and reconnect with backoff until finished or failed for good."""
        attempts = 0
        loop = asyncio.get_running_loop()
        while not self._closed:
            acked_before, opened = self.protocol.acked_ticks, loop.time()
            failure = await self._connect_and_serve()
            if self.protocol.finished:
                self.queue.put_nowait(_DONE)
                return
            if self.protocol.acked_ticks > acked_before or loop.time() - opened > HEALTHY_SECONDS:
                attempts = 0  # that connection worked for a while: a fresh run of trouble
            if failure is None:
                continue  # a planned reconnect (new voice)
            if failure.permanent:
                self.queue.put_nowait(failure)
                return
            attempts += 1
            if attempts > self.options.max_attempts:
                self.queue.put_nowait(
                    EngineError(
                        f"Azure Speech failed {attempts} times in a row, giving up: {failure}",
                        permanent=False,
                    )
                )
                return
            await self._back_off(attempts, failure)

    async def _back_off(self, attempts: int, failure: EngineError) -> None:
        delay = min(self.options.max_backoff, self.options.backoff * 2 ** (attempts - 1))
        delay *= random.uniform(1.0, 1.2)  # jitter, so many presenters do not retry in step
        logger.warning("Azure connection lost (%s); retry %d in %.1fs", failure, attempts, delay)
        self.queue.put_nowait(EngineNotice(NoticeKind.RECONNECTING, str(failure)))
        await asyncio.sleep(delay)

    async def _connect_and_serve(self) -> EngineError | None:
        """One connection's life; returns why it ended (None for a clean or planned end)."""
        url = build_url(self.options.url, self.protocol.settings)
        try:
            ws = await connect(
                url,
                additional_headers={**self.options.headers, "X-ConnectionId": self.connection_id},
                subprotocols=["USP"],  # type: ignore[list-item]
                user_agent_header="live-captions (websockets)",
                open_timeout=self.options.open_timeout,
                compression=None,
                max_size=16 * 2**20,
            )
        except InvalidStatus as exc:
            return _status_error(exc.response.status_code)
        except (OSError, TimeoutError, InvalidHandshake) as exc:
            return EngineError(f"cannot connect to Azure Speech: {exc}", permanent=False)
        logger.info("Azure connection %s open", self.connection_id)
        try:
            return await self._serve(ws)
        finally:
            await ws.close()
            logger.info("Azure connection %s closed (%s)", self.connection_id, ws.close_code)

    async def _serve(self, ws: ClientConnection) -> EngineError | None:
        self.ws, self._failure, self._restarting = ws, None, False
        self.protocol.connection_made()
        try:
            await self._flush()
            # A service that accepts but never starts the turn would hold the audio forever.
            first = await asyncio.wait_for(ws.recv(), self.options.open_timeout)
            if await self._receive(first):
                async for data in ws:
                    if not await self._receive(data):
                        break
        except ConnectionClosed:
            pass
        except TimeoutError:
            wait = self.options.open_timeout
            return EngineError(f"Azure Speech did not answer within {wait:g}s", permanent=False)
        except usp.FramingError as exc:
            return EngineError(f"Azure sent a malformed message: {exc}", permanent=False)
        finally:
            self.ws = None
            self.protocol.connection_lost()
        if self._failure is not None:
            return self._failure
        if self.protocol.finished or self._restarting:
            return None
        return _close_error(ws.close_code, ws.close_reason)

    async def _receive(self, data: str | bytes) -> bool:
        """Handle one message; False when this connection should end."""
        self.protocol.receive(data)
        await self._flush()
        for event in self.protocol.events_received():
            if isinstance(event, TurnEnded):
                if event.finished:
                    return False
            elif isinstance(event, ServiceFailure):
                self._failure = EngineError(
                    f"Azure Speech error: {event.detail}", permanent=event.permanent
                )
                return False
            else:
                await self.queue.put(event)
                if _is_final(event) and self._restart_after_final:
                    self._restart_after_final = False
                    self._restarting = True
                    return False
        return True

    async def _restart(self) -> None:
        ws = self.ws
        if ws is not None:
            self._restarting = True
            await ws.close()

    async def _flush(self) -> None:
        async with self._send_lock:
            ws, messages = self.ws, self.protocol.data_to_send()
            if ws is None:
                return  # the audio is in the replay buffer; the next connection sends it
            for message in messages:
                try:
                    await ws.send(message)
                except ConnectionClosed:
                    return


def _is_final(event: Any) -> bool:
    return isinstance(event, CaptionResult) and event.kind is ResultKind.FINAL


def _status_error(status: int) -> EngineError:
    if status in AUTH_STATUSES:
        return EngineError(
            f"Azure Speech refused the credentials (HTTP {status}): check AZURE_SPEECH_KEY "
            "or AZURE_SPEECH_TOKEN and that it belongs to AZURE_SPEECH_REGION",
            permanent=True,
        )
    return EngineError(f"Azure Speech refused the connection (HTTP {status})", permanent=False)


def _close_error(code: int | None, reason: str) -> EngineError:
    detail = f"close code {code}" + (f": {reason}" if reason else "")
    if code in PERMANENT_CLOSE_CODES:
        return EngineError(
            f"Azure Speech rejected the request ({PERMANENT_CLOSE_CODES[code]}, {detail})",
            permanent=True,
        )
    return EngineError(f"Azure Speech closed the connection ({detail})", permanent=False)
