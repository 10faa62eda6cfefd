"""WebSocket URL patterns."""

from channels.auth import AuthMiddlewareStack
from django.urls import re_path

from . import consumers, control
from .security import Refusal

websocket_urlpatterns = [
    # Only the presenter and the control room may log in with a staff session; listeners are
    # anonymous, and leaving the session middleware out of their path saves a wrapper on every
    # send.
    # Slugs are at most 32 characters (Event.slug), language codes 16 (EventLanguage.code):
    # longer ones are refused at the handshake before they reach any lookup or cache.
    re_path(
        r"^ws/events/(?P<slug>[-a-zA-Z0-9_]{1,32})/presenter/$",
        AuthMiddlewareStack(consumers.PresenterConsumer.as_asgi()),
    ),
    re_path(
        r"^ws/events/(?P<slug>[-a-zA-Z0-9_]{1,32})/control/$",
        AuthMiddlewareStack(control.ControlConsumer.as_asgi()),
    ),
    re_path(
        r"^ws/events/(?P<slug>[-a-zA-Z0-9_]{1,32})/audience/(?P<language>[A-Za-z0-9-]{2,16})/$",
        consumers.AudienceConsumer.as_asgi(),
    ),
    # Any other path: refuse the handshake, rather than fail with "No route found".
    re_path(r"", Refusal.as_asgi()),
]
