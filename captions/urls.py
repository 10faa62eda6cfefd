"""Pages, QR codes, speech clips and transcripts."""

from django.urls import path

from . import views

app_name = "captions"

urlpatterns = [
    path("e/<slug:slug>/", views.audience, name="audience"),
    path("e/<slug:slug>/present/", views.presenter, name="presenter"),
    path("e/<slug:slug>/display/<str:language>/", views.display, name="display"),
    path("e/<slug:slug>/qr.svg", views.qr_code_svg, name="qr-svg"),
    path("e/<slug:slug>/qr.png", views.qr_code_png, name="qr-png"),
    path("e/<slug:slug>/speech/<str:language>/<int:seq>", views.speech_clip, name="speech"),
    path("e/<slug:slug>/card/", views.join_card, name="join-card"),
    path(
        "e/<slug:slug>/transcript/<str:language>.<str:fmt>",
        views.transcript,
        name="transcript",
    ),
    path("healthz", views.healthz, name="healthz"),
]
