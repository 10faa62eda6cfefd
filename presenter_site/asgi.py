"""ASGI entry point: HTTP through Django, WebSockets through the captions routes."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "presenter_site.settings")
# Django must be set up before the consumers (and their models) are imported.
django_asgi_app = get_asgi_application()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402

from captions.engines import preload  # noqa: E402
from captions.metrics_endpoint import MetricsRoute  # noqa: E402
from captions.routing import websocket_urlpatterns  # noqa: E402
from captions.security import OriginValidator  # noqa: E402

application = ProtocolTypeRouter(
    {
        "http": MetricsRoute(django_asgi_app),
        "websocket": OriginValidator(URLRouter(websocket_urlpatterns)),
    }
)

preload()  # the engine's models load while the server waits for its first presenter
