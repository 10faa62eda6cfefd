"""Pages, QR codes, speech clips and transcripts."""

from django.urls import path, register_converter

from . import control_views, views


class SlugConverter:
    """An event's short code: at most 32 characters, as Event.slug allows."""

    regex = "[-a-zA-Z0-9_]{1,32}"

    def to_python(self, value: str) -> str:
        return value

    def to_url(self, value: str) -> str:
        return value


class LanguageConverter(SlugConverter):
    """A language code such as es or pt-BR: at most 16 characters, as EventLanguage.code."""

    regex = "[A-Za-z0-9-]{2,16}"


register_converter(SlugConverter, "event")
register_converter(LanguageConverter, "lang")

app_name = "captions"

urlpatterns = [
    path("e/<event:slug>/", views.audience, name="audience"),
    path("e/<event:slug>/present/", views.presenter, name="presenter"),
    path("e/<event:slug>/control/", control_views.control_room, name="control"),
    path("e/<event:slug>/display/<lang:language>/", views.display, name="display"),
    path("e/<event:slug>/qr.svg", views.qr_code_svg, name="qr-svg"),
    path("e/<event:slug>/qr.png", views.qr_code_png, name="qr-png"),
    path("e/<event:slug>/speech/<lang:language>/<int:seq>", views.speech_clip, name="speech"),
    path("e/<event:slug>/card/", views.join_card, name="join-card"),
    path(
        "e/<event:slug>/transcript/<lang:language>.<str:fmt>",
        views.transcript,
        name="transcript",
    ),
    path("healthz", views.healthz, name="healthz"),
]
