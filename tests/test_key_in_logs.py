"""No presenter key in any server log after a presenter session (issue 9, item 5).

Real Daphne and uvicorn processes with their access logs on (the test server commands turn
uvicorn's off), a presenter session through the page's link and its socket, then every log
line is searched for the key.
"""

from __future__ import annotations

import json
import time
import urllib.request

import pytest

from captions import protocol
from tests import browser
from tests.fake_engine import silence, tone
from tests.servers import SERVER_COMMANDS, ServerSet, server_set

pytestmark = pytest.mark.timeout(120)

SERVERS = ["daphne", "uvicorn-access-log"]


def uvicorn_with_access_log(port: int) -> list[str]:
    return [arg for arg in SERVER_COMMANDS["uvicorn-sansio"](port) if arg != "--no-access-log"]


@pytest.fixture
def servers(tmp_path, monkeypatch) -> ServerSet:
    monkeypatch.setitem(SERVER_COMMANDS, "uvicorn-access-log", uvicorn_with_access_log)
    servers = server_set(tmp_path)
    yield servers
    servers.stop_all()


def presenter_link(port: int, slug: str, key: str) -> str:
    """The link the admin hands out: the key in the fragment."""
    return f"http://127.0.0.1:{port}/e/{slug}/present/#key={key}"


def open_page(url: str) -> str:
    """GET a page as a browser does: the fragment stays on the client (urllib drops it too)."""
    with urllib.request.urlopen(url, timeout=10) as response:
        return response.read().decode()


def present(port: int, slug: str, key: str) -> None:
    """What the page's script does: a socket with the key as a subprotocol, a short talk, stop."""
    from websockets.sync.client import connect

    url = f"ws://127.0.0.1:{port}/ws/events/{slug}/presenter/"
    origin = f"http://127.0.0.1:{port}"
    with connect(
        url, origin=origin, subprotocols=protocol.presenter_subprotocols(key), open_timeout=10
    ) as socket:
        assert socket.subprotocol == protocol.PRESENTER_SUBPROTOCOL
        socket.send(json.dumps({"type": "start"}))
        while json.loads(socket.recv(timeout=10)).get("status") != "live":
            pass
        for frame in (tone(0.1), tone(0.1), silence(0.1)):
            socket.send(frame)
        socket.send(json.dumps({"type": "pause"}))
        while json.loads(socket.recv(timeout=10)).get("status") != "paused":
            pass


def wait_for_log(servers: ServerSet, port: int, text: str) -> str:
    """The server's log once it mentions ``text`` (access lines are written as requests end)."""
    deadline = time.monotonic() + 10
    while text not in (log := servers.log(port)):
        assert time.monotonic() < deadline, f"{text!r} never reached the log of port {port}"
        time.sleep(0.2)
    return log


@pytest.mark.parametrize("server", SERVERS)
def test_no_server_log_holds_the_key_after_a_presenter_session(servers, server):
    slug, key = browser.create_event(servers)
    port = servers.start(server=server)
    page = open_page(presenter_link(port, slug, key))
    assert key not in page
    present(port, slug, key)
    # The canary proves the access log records query strings, as the old ?key= links were.
    open_page(f"http://127.0.0.1:{port}/e/{slug}/present/?canary=c4n4ry")
    log = wait_for_log(servers, port, "c4n4ry")
    assert f"/ws/events/{slug}/presenter/" in log  # the socket was logged, without the key
    assert key not in log


@pytest.mark.browser
@pytest.mark.skipif(not browser.CHROMIUM.exists(), reason="needs Debian's chromium")
@pytest.mark.parametrize("server", SERVERS)
def test_no_server_log_holds_the_key_after_the_page_presented(servers, server, tmp_path):
    """The real page, from the admin's link: microphone, live captions, end of the event."""
    playwright_sync = pytest.importorskip("playwright.sync_api")
    slug, key = browser.create_event(servers)
    port = servers.start(server=server)
    wav = browser.scripted_speech_wav(tmp_path / "speech.wav")
    with playwright_sync.sync_playwright() as driver:
        chromium = browser.launch(driver, wav)
        context = chromium.new_context(permissions=["microphone"])
        page = context.new_page()
        sockets: list[str] = []
        page.on("websocket", lambda socket: sockets.append(socket.url))
        page.on("dialog", lambda dialog: dialog.accept())
        page.goto(presenter_link(port, slug, key))
        expect = playwright_sync.expect
        expect(page.locator("#connection")).to_have_attribute("data-state", "connected")
        page.locator("#mic").click()
        expect(page.locator("#status")).to_have_attribute("data-state", "live")
        expect(page.locator("#preview .line.final").first).to_be_visible(timeout=15_000)
        page.locator("#end").click()
        expect(page.locator("#status")).to_have_attribute("data-state", "ended")
        chromium.close()
    assert sockets and all(key not in url for url in sockets)
    open_page(f"http://127.0.0.1:{port}/e/{slug}/present/?canary=c4n4ry")
    log = wait_for_log(servers, port, "c4n4ry")
    assert "/static/js/presenter.js" in log
    assert key not in log
