"""Create (or reuse) a demo event and print its presenter and audience URLs."""

from __future__ import annotations

import socket

from django.core.management.base import BaseCommand

from captions.engines import get_engine
from captions.models import Event, EventLanguage

DEMO_TITLE = "Demo talk"


def lan_address() -> str:
    """This machine's address on the local network, for phones in the same room."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("192.0.2.1", 9))  # TEST-NET address: no packet is sent for UDP connect
            return probe.getsockname()[0]
        except OSError:
            return "127.0.0.1"


class Command(BaseCommand):
    help = "Create a demo event on the configured engine and print its URLs."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--port", type=int, default=8000)
        parser.add_argument(
            "--host", default="", help="host name for the URLs (default: LAN address)"
        )
        parser.add_argument("--source", default="en")
        parser.add_argument("--scheme", choices=["http", "https"], default="http")

    def handle(self, *args, port: int, host: str, source: str, scheme: str, **options) -> None:
        event, created = Event.objects.get_or_create(
            title=DEMO_TITLE, defaults={"source_language": source}
        )
        if created:
            supported = get_engine().language_support().targets_for(source)
            for code in sorted(supported & {"es", "pt", "ca", "fr", "de"} or supported)[:4]:
                EventLanguage.objects.get_or_create(
                    event=event, code=code, defaults={"speech": True}
                )
        base = f"{scheme}://{host or lan_address()}:{port}"
        # Over HTTPS a presenter on another laptop in the room gets the microphone too.
        local = f"http://localhost:{port}" if scheme == "http" else base
        languages = ", ".join(event.audience_language_codes())
        self.stdout.write(f"Event: {event.title} ({languages})")
        self.stdout.write(f"Presenter: {local}/e/{event.slug}/present/#key={event.presenter_key}")
        self.stdout.write(f"Audience:  {base}/e/{event.slug}/")
        self.stdout.write(
            f"Organizer panel: {local}/admin/ (create a login: manage.py createsuperuser)"
        )
