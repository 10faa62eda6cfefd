"""The textbook Channels fan-out, for the fan-out benchmark to measure against our design.

One ``AsyncWebsocketConsumer`` per listener joins the channel-layer group ``bench.<lang>``
and forwards every ``group_send`` message's pre-serialized text; the driver does one
``group_send`` per language per update. The channel layer is the project's, from
settings: ``CHANNEL_LAYER=redis`` (``RedisChannelLayer``) or ``pubsub``
(``RedisPubSubChannelLayer``). Served by Daphne like our application:

    CHANNEL_LAYER=pubsub DJANGO_SETTINGS_MODULE=tests.settings \\
        python -m daphne -p 8001 bench.textbook_app:application

Listeners connect to ws://HOST:PORT/ws/bench/<lang>/ and are told ``history_end`` once they
are in the group (the benchmark's clients wait for it, as they do with our server).
"""

from __future__ import annotations

import os

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")
django.setup()

from channels.generic.websocket import AsyncWebsocketConsumer  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402
from django.urls import re_path  # noqa: E402

READY = '{"type": "history_end", "last_seq": null}'


def group_name(language: str) -> str:
    return f"bench.{language}"


class TextbookListener(AsyncWebsocketConsumer):
    """The listener as the Channels tutorial would write it."""

    group: str | None = None

    async def connect(self) -> None:
        self.group = group_name(self.scope["url_route"]["kwargs"]["language"])
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.accept()
        await self.send(text_data=READY)

    async def disconnect(self, code: int) -> None:
        if self.group is not None:
            await self.channel_layer.group_discard(self.group, self.channel_name)

    async def caption_message(self, message: dict) -> None:
        """A ``group_send`` of ``{"type": "caption.message", "text": ...}``."""
        await self.send(text_data=message["text"])


async def http(scope, receive, send) -> None:
    """Only /healthz, for the benchmark to know the server is up."""
    if scope["type"] != "http":
        return
    status = 200 if scope["path"] == "/healthz" else 404
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"text/plain")],
        }
    )
    await send({"type": "http.response.body", "body": b"ok\n" if status == 200 else b""})


application = ProtocolTypeRouter(
    {
        "http": http,
        "websocket": AllowedHostsOriginValidator(
            URLRouter([re_path(r"^ws/bench/(?P<language>[a-z]{2})/$", TextbookListener.as_asgi())])
        ),
    }
)
