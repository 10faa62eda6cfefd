"""WebSocket URL patterns."""

from django.urls import path, re_path

from . import consumers

websocket_urlpatterns = [
    path("ws/events/<slug:slug>/presenter/", consumers.PresenterConsumer.as_asgi()),
    re_path(
        r"^ws/events/(?P<slug>[-\w]+)/audience/(?P<language>[A-Za-z0-9-]{2,16})/$",
        consumers.AudienceConsumer.as_asgi(),
    ),
]
