"""docker-compose.yml, the image, the scripts and the nginx proxies agree with each other (no
Docker engine runs here), and the servers' frame limits hold on real processes."""

from __future__ import annotations

import asyncio
import ipaddress
import json
import re
from pathlib import Path

import pytest
import yaml
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from tests.servers import SERVER_COMMANDS, server_set
from tests.test_multiprocess import create_event

ROOT = Path(__file__).resolve().parent.parent
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
NGINX = (ROOT / "deploy" / "nginx.conf").read_text()
NGINX_TLS = (ROOT / "deploy" / "nginx-tls.conf").read_text()


def test_redis_and_postgres_have_health_checks_the_services_wait_for():
    services = COMPOSE["services"]
    for name in ("redis", "postgres"):
        assert "healthcheck" in services[name]
    for name in ("web", "audience"):
        assert services[name]["depends_on"]["redis"]["condition"] == "service_healthy"
        assert services[name]["depends_on"]["migrate"] == {
            "condition": "service_completed_successfully"
        }


def test_scalable_services_have_no_fixed_host_port_or_name():
    for name in ("web", "audience"):
        service = COMPOSE["services"][name]
        assert "ports" not in service and "container_name" not in service


def test_web_runs_daphne_and_audience_runs_uvicorn_on_the_same_application():
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert '"daphne"' in dockerfile and "presenter_site.asgi:application" in dockerfile
    command = COMPOSE["services"]["audience"]["command"]
    assert command[:2] == ["uvicorn", "presenter_site.asgi:application"]


def test_only_the_servers_presenters_reach_load_the_engines_models_as_they_start():
    """Listener-only replicas would each hold a Whisper model nobody uses."""
    services = COMPOSE["services"]
    assert compose_value(str(services["audience"]["environment"]["ENGINE_PRELOAD"])) == "false"
    assert "ENGINE_PRELOAD" not in services["web"]["environment"]  # the default: on


def test_the_proxy_sends_listener_sockets_to_audience_and_the_rest_to_web():
    upstreams = dict(re.findall(r"set \$(\w+) http://(\w+):8000;", NGINX))
    assert set(upstreams.values()) <= set(COMPOSE["services"])
    audience_path = re.search(r"location ~ (\S+) \{", NGINX).group(1)
    assert re.match(audience_path, "/ws/events/Ab3x9/audience/es/")
    assert not re.match(audience_path, "/ws/events/Ab3x9/presenter/")


# ---- only the proxy is trusted for forwarded headers ------------------------------------


def compose_value(text: str) -> str:
    """A compose value with its ``${NAME:-default}`` interpolations at their defaults."""
    return re.sub(r"\$\{\w+:-([^}]*)\}", r"\1", text)


def option(command: list[str], name: str) -> str | None:
    """The value of ``--name=value`` in a compose command, or None."""
    for part in command:
        if part.startswith(name + "="):
            return compose_value(part.split("=", 1)[1])
    return None


def test_uvicorn_takes_forwarded_headers_from_the_proxys_fixed_address_only():
    """--forwarded-allow-ips names the proxy's address, which no other container can get."""
    services, front = COMPOSE["services"], COMPOSE["networks"]["front"]["ipam"]["config"][0]
    trusted = option(services["audience"]["command"], "--forwarded-allow-ips")
    proxy_address = compose_value(services["proxy"]["networks"]["front"]["ipv4_address"])
    assert trusted == proxy_address and "*" not in trusted
    subnet = ipaddress.ip_network(compose_value(front["subnet"]))
    dynamic = ipaddress.ip_network(compose_value(front["ip_range"]))
    assert ipaddress.ip_address(trusted) in subnet and ipaddress.ip_address(trusted) not in dynamic


def test_daphne_trusts_forwarded_headers_only_where_only_the_proxy_reaches_it():
    """The image's own command has no --proxy-headers; compose adds it for an unpublished web."""
    assert "--proxy-headers" not in dockerfile_command()
    web = COMPOSE["services"]["web"]
    assert "--proxy-headers" in web["command"] and "ports" not in web
    on_front = {name for name, s in COMPOSE["services"].items() if "front" in s.get("networks", [])}
    assert on_front == {"proxy", "web", "audience"}


def test_the_proxy_sends_the_clients_own_address_never_one_the_client_chose():
    """Daphne reads the first X-Forwarded-For address: the proxy must not append to the client's."""
    for config in (NGINX, NGINX_TLS):
        assert "$proxy_add_x_forwarded_for" not in config
        assert config.count("proxy_set_header X-Forwarded-For $remote_addr;") == 2


# ---- frame limits in the servers' own configuration ----------------------------------------


def dockerfile_command() -> list[str]:
    text = (ROOT / "Dockerfile").read_text().replace("\\\n", " ")
    return json.loads(re.search(r"^CMD (\[.*\])$", text, re.M).group(1))


def test_listener_servers_take_frames_of_4_KiB_without_compression_everywhere():
    """Compose, the README's commands and the test servers run uvicorn with the listener limits."""
    audience = COMPOSE["services"]["audience"]["command"]
    assert option(audience, "--ws-max-size") == "4096"
    assert option(audience, "--ws-per-message-deflate") == "false"
    readme = (ROOT / "README.md").read_text()
    commands = [line for line in readme.splitlines() if re.match(r"\S*uvicorn presenter", line)]
    assert commands
    for line in commands:
        assert "--ws-max-size 4096" in line and "--ws-per-message-deflate false" in line
        assert "--proxy-headers" not in line or "--forwarded-allow-ips" in line
    for name in ("uvicorn", "uvicorn-sansio"):
        command = " ".join(SERVER_COMMANDS[name](8000))
        assert "--ws-max-size 4096 --ws-per-message-deflate false" in command


def test_daphne_takes_frames_and_messages_of_64_KiB_everywhere():
    """Compose, the image, scripts/run.sh and the test servers cap Daphne at 64 KiB."""
    web = COMPOSE["services"]["web"]["command"]
    assert option(web, "--websocket-max-message-size") == "65536"
    assert option(web, "--websocket-max-frame-size") == "65536"
    image = " ".join(dockerfile_command())
    run_script = (ROOT / "scripts" / "run.sh").read_text()
    for command in (image, run_script, " ".join(SERVER_COMMANDS["daphne"](8000))):
        assert "--websocket-max-message-size 65536" in command
        assert "--websocket-max-frame-size 65536" in command


async def probe(port: int, slug: str, payload: str | list[str], compression=None) -> dict:
    """Send one message to a listener socket; report the extension agreed and how it ended."""
    url = f"ws://127.0.0.1:{port}/ws/events/{slug}/audience/es/"
    origin = f"http://127.0.0.1:{port}"
    async with connect(url, origin=origin, compression=compression, max_size=None) as socket:
        result = {"extensions": socket.response.headers.get("Sec-WebSocket-Extensions")}
        await socket.send(payload)
        try:
            while True:
                await asyncio.wait_for(socket.recv(), 3)
        except ConnectionClosed as closed:
            result["code"] = closed.rcvd.code if closed.rcvd else 1006
        except TimeoutError:
            result["code"] = None  # still open
    return result


@pytest.fixture
def servers(tmp_path):
    servers = server_set(tmp_path)
    yield servers
    servers.stop_all()


@pytest.mark.timeout(90)
async def test_a_listener_frame_over_4_KiB_closes_the_socket_under_uvicorn(servers):
    """The 15 MiB frames of the report, and anything over 4 KiB, end with 1009 at the server."""
    slug = create_event(servers)[0]
    port = servers.start(server="uvicorn-sansio")
    assert (await probe(port, slug, "x" * 4097))["code"] == 1009
    assert (await probe(port, slug, ["x" * 3000, "x" * 3000]))["code"] == 1009


@pytest.mark.timeout(90)
@pytest.mark.parametrize("server", ["uvicorn-sansio", "daphne"])
async def test_permessage_deflate_is_never_agreed(servers, server):
    """A compression offer is declined, so no small upload can inflate to megabytes."""
    slug = create_event(servers)[0]
    port = servers.start(server=server)
    result = await probe(port, slug, '{"type":"ping"}', compression="deflate")
    assert result["extensions"] is None


@pytest.mark.timeout(90)
async def test_daphne_drops_a_message_over_64_KiB_before_the_application_sees_it(servers):
    """Daphne's cap: one frame or a fragmented message past 64 KiB ends the connection."""
    slug = create_event(servers)[0]
    port = servers.start()
    assert (await probe(port, slug, "x" * 65537))["code"] == 1006  # autobahn drops, no close frame
    assert (await probe(port, slug, ["x" * 40000, "x" * 40000]))["code"] == 1006


# ---- TLS in front of it all -------------------------------------------------------------


class ComposeLoader(yaml.SafeLoader):
    """YAML with compose's ``!override`` tag (a list that replaces, not extends, the base's)."""


ComposeLoader.add_constructor("!override", lambda loader, node: loader.construct_sequence(node))


def test_the_tls_proxy_routes_like_the_plain_one_and_forwards_websockets():
    """deploy/nginx-tls.conf: the same upstreams and paths, upgrades and https for both services."""
    for pattern in (r"set \$(\w+) http://(\w+):8000;", r"location ~ (\S+) \{"):
        assert re.findall(pattern, NGINX_TLS) == re.findall(pattern, NGINX)
    locations = re.findall(r"location [^{]*\{([^}]*proxy_pass[^}]*)\}", NGINX_TLS)
    assert len(locations) == 2
    for block in locations:
        assert "proxy_set_header Upgrade $http_upgrade;" in block
        assert "proxy_set_header Connection $connection_upgrade;" in block
        assert "proxy_set_header X-Forwarded-Proto https;" in block


def test_the_tls_proxy_redirects_plain_http_and_sends_hsts_as_settings_do():
    """Port 80 only redirects; every HTTPS answer has HSTS with the production max-age."""
    plain, tls = re.split(r"\nserver \{", NGINX_TLS)[1:]
    assert "return 301 https://$host$request_uri;" in plain and "proxy_pass" not in plain
    assert re.search(r"listen 443 ssl;", tls)
    production = (ROOT / "deploy" / "production.env.example").read_text()
    seconds = re.search(r"^SECURE_HSTS_SECONDS=(\d+)$", production, re.M).group(1)
    assert (
        f'add_header Strict-Transport-Security "max-age={seconds}; includeSubDomains; preload"'
        " always;" in tls
    )
    assert "proxy_hide_header Strict-Transport-Security;" in tls  # one header, not two


def test_the_tls_compose_file_mounts_the_certificate_where_nginx_reads_it():
    """deploy/compose.tls.yml publishes 443 and mounts the TLS config and certificates."""
    proxy = yaml.load((ROOT / "deploy" / "compose.tls.yml").read_text(), ComposeLoader)
    proxy = proxy["services"]["proxy"]
    assert any(compose_value(port).endswith(":443") for port in proxy["ports"])
    mounts = {volume.split(":")[1]: volume.split(":")[0] for volume in proxy["volumes"]}
    assert mounts["/etc/nginx/conf.d/default.conf"] == "./deploy/nginx-tls.conf"
    for path in re.findall(r"ssl_certificate(?:_key)? (\S+);", NGINX_TLS):
        assert any(path.startswith(target + "/") for target in mounts), path


def test_every_production_variable_reaches_the_services():
    """What deploy/production.env.example sets, compose hands to web, audience and migrate."""
    production = (ROOT / "deploy" / "production.env.example").read_text()
    names = re.findall(r"^(\w+)=", production, re.M)
    environment = COMPOSE["x-web-environment"]
    assert set(names) <= set(environment)
    for name in names:
        assert "${" + name in str(environment[name]), name


def test_the_rooms_proxy_sends_every_presenter_socket_of_an_event_to_one_web_replica():
    """deploy/nginx-rooms.conf: presenter sockets through a consistent hash of the event's
    slug over web's replicas; the rest routed as deploy/nginx.conf does."""
    rooms = (ROOT / "deploy" / "nginx-rooms.conf").read_text()
    overlay = yaml.load((ROOT / "deploy" / "compose.rooms.yml").read_text(), ComposeLoader)
    assert (
        "./deploy/nginx-rooms.conf:/etc/nginx/conf.d/default.conf:ro"
        in (overlay["services"]["proxy"]["volumes"])
    )
    assert "ENGINE_MAX_SESSIONS" in overlay["services"]["web"]["environment"]
    upstream = re.search(r"upstream presenters \{(.*?)\}", rooms, re.S).group(1)
    assert "hash $presenter_event consistent;" in upstream
    assert re.search(r"server web:8000 resolve;", upstream)
    slug_pattern = re.search(r"~(\^/ws/events/\S+presenter/\$) \$slug;", rooms).group(1)
    nginx_pcre = slug_pattern.replace("(?<slug>", "(?P<slug>")
    assert re.match(nginx_pcre, "/ws/events/Ab3x9_k-2/presenter/").group("slug") == "Ab3x9_k-2"
    assert not re.match(nginx_pcre, "/ws/events/Ab3x9/audience/es/")
    locations = dict(re.findall(r"location ~ (\S+) \{\s*proxy_pass (\S+);", rooms))
    presenter_path = next(
        path for path, target in locations.items() if target == "http://presenters"
    )
    assert re.match(presenter_path, "/ws/events/Ab3x9/presenter/")
    audience_path = next(path for path, target in locations.items() if target == "$audience")
    assert re.match(audience_path, "/ws/events/Ab3x9/audience/es/")
