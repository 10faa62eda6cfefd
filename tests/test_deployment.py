"""docker-compose.yml and the nginx proxy agree with each other (no Docker engine runs here)."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
NGINX = (ROOT / "deploy" / "nginx.conf").read_text()


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


def test_the_proxy_sends_listener_sockets_to_audience_and_the_rest_to_web():
    upstreams = dict(re.findall(r"set \$(\w+) http://(\w+):8000;", NGINX))
    assert set(upstreams.values()) <= set(COMPOSE["services"])
    audience_path = re.search(r"location ~ (\S+) \{", NGINX).group(1)
    assert re.match(audience_path, "/ws/events/Ab3x9/audience/es/")
    assert not re.match(audience_path, "/ws/events/Ab3x9/presenter/")
