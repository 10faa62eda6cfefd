"""Content-Security-Policy on every response that Django renders.

Our pages load only their own static scripts and styles; page data travels in a
``<script type="application/json">`` block, which browsers do not run. Three views need more:
the presenter page loads its AudioWorklet from a ``blob:`` URL (fetched early, so the
microphone starts while the server is unreachable), the audience page plays speech clips
and a generated silent ``blob:`` WAV, and the display view may be framed by the origins of
``settings.DISPLAY_FRAME_ANCESTORS``. The admin's pages may use style attributes (ours show
listener counts and statuses with them), never inline scripts or style elements.
"""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.core.exceptions import DisallowedHost
from django.http import HttpRequest, HttpResponse

HEADER = "Content-Security-Policy"
DISPLAY_VIEW = "captions:display"
WORKLET_VIEWS = {"captions:presenter"}

BASE_POLICY: dict[str, list[str]] = {
    "default-src": ["'self'"],
    "script-src": ["'self'"],
    "style-src": ["'self'"],
    "img-src": ["'self'", "data:"],
    "media-src": ["'self'", "blob:"],
    "font-src": ["'self'"],
    "connect-src": ["'self'"],
    "worker-src": ["'self'"],
    "object-src": ["'none'"],
    "base-uri": ["'none'"],
    "form-action": ["'self'"],
    "frame-ancestors": ["'none'"],
}


def policy_for(view_name: str | None, host: str | None) -> dict[str, list[str]]:
    """The policy of one response: the base policy and what its view needs beyond it."""
    policy = {name: list(sources) for name, sources in BASE_POLICY.items()}
    if host:  # CSP3 lets 'self' match ws: and wss: of the same host; older browsers need it said
        policy["connect-src"] += [f"ws://{host}", f"wss://{host}"]
    if view_name in WORKLET_VIEWS:
        policy["script-src"].append("blob:")
    if view_name and view_name.startswith("admin:"):
        policy["style-src-attr"] = ["'unsafe-inline'"]
    if view_name == DISPLAY_VIEW and settings.DISPLAY_FRAME_ANCESTORS:
        policy["frame-ancestors"] = list(settings.DISPLAY_FRAME_ANCESTORS)
    return policy


def serialize(policy: dict[str, list[str]]) -> str:
    """The header value: ``directive source source; ...``."""
    return "; ".join(f"{name} {' '.join(sources)}" for name, sources in policy.items())


def request_host(request: HttpRequest) -> str | None:
    """The request's host if ALLOWED_HOSTS accepts it (the only kind we write into a header)."""
    try:
        return request.get_host()
    except DisallowedHost:
        return None


class ContentSecurityPolicyMiddleware:
    """Add a Content-Security-Policy header to every response that lacks one.

    First in MIDDLEWARE, so that responses made by other middleware (a refused host's 400, a
    redirect) carry it too.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        """Called for every request, after the view has answered."""
        response = self.get_response(request)
        match = getattr(request, "resolver_match", None)
        view_name = match.view_name if match else None
        if HEADER not in response:
            response[HEADER] = serialize(policy_for(view_name, request_host(request)))
        if view_name == DISPLAY_VIEW and settings.DISPLAY_FRAME_ANCESTORS:
            # X-Frame-Options cannot name origins: leave it out rather than contradict the CSP.
            del response["X-Frame-Options"]
        return response
