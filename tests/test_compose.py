"""The container setup: compose.yaml, Dockerfile, .dockerignore, .env.example and digest.docker.toml agree."""

from __future__ import annotations

import fnmatch
import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from digest.cli import cli
from digest.config import Config, load_config
from digest.service.scheduler import Service

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "compose.yaml").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def digest_service(compose: dict[str, Any]) -> dict[str, Any]:
    return compose["services"]["digest"]


@pytest.fixture
def docker_config() -> Config:
    config, _ = load_config(ROOT / "digest.docker.toml")
    return config


def mounts(service: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """target -> the long-syntax mount (short-syntax strings are expanded to it)."""
    out = {}
    for entry in service.get("volumes", []):
        if isinstance(entry, str):
            # The source may hold ":" itself (${VAR:-default}), so the target is the last absolute path.
            m = re.fullmatch(r"(?P<source>.+):(?P<target>/[^:]*)(?::(?P<mode>ro|rw))?", entry)
            assert m, entry
            kind = "bind" if m["source"].startswith((".", "/", "$")) else "volume"
            entry = {
                "type": kind,
                "source": m["source"],
                "target": m["target"],
                "read_only": m["mode"] == "ro",
            }
        out[entry["target"]] = entry
    return out


def seconds(duration: str) -> int:
    m = re.fullmatch(r"(\d+)s", duration)
    assert m, duration
    return int(m.group(1))


def test_services_and_profiles(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert set(services) == {"digest", "mailpit", "ollama", "ollama-pull"}
    assert "profiles" not in services["digest"]  # the service itself always runs
    assert services["mailpit"]["profiles"] == ["dev"]
    assert services["mailpit"]["image"].startswith("axllent/mailpit:")
    for name in ("ollama", "ollama-pull"):
        assert {"dev", "ollama"} <= set(services[name]["profiles"])
        assert services[name]["image"].startswith("ollama/ollama:")


def test_every_image_is_pinned(compose: dict[str, Any]) -> None:
    for name, service in compose["services"].items():
        if "build" in service:
            continue
        repository, _, tag = service["image"].partition(":")
        assert re.fullmatch(r"v?\d+\.\d+\.\d+", tag), f"{name}: {service['image']} is not a pinned version"
    dockerfile = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    base = re.search(r"^FROM (\S+)", dockerfile, re.M)
    assert base and re.fullmatch(r"python:3\.1[1-3]\.\d+-slim-\w+", base.group(1)), base


def test_digest_waits_for_a_healthy_ollama_and_the_model_is_pulled_once(
    compose: dict[str, Any], docker_config: Config
) -> None:
    services = compose["services"]
    assert services["ollama"]["healthcheck"]["test"][:2] == ["CMD", "ollama"]
    # Optional: without the dev profile (OpenAI), digest starts alone.
    assert services["digest"]["depends_on"]["ollama"] == {"condition": "service_healthy", "required": False}
    pull = services["ollama-pull"]
    assert pull["command"] == ["pull", docker_config.llm.model]
    assert pull["depends_on"]["ollama"]["condition"] == "service_healthy"
    assert pull["environment"]["OLLAMA_HOST"] == "http://ollama:11434"
    assert pull["restart"] == "no"
    assert "ollama-pull" not in services["digest"]["depends_on"]  # the held digest waits, not `up`


def test_digest_service_runs_serve_and_restarts(digest_service: dict[str, Any]) -> None:
    assert digest_service["build"] == "."
    assert (ROOT / "Dockerfile").is_file()
    assert digest_service["command"] == ["digest", "serve"]
    assert digest_service["restart"] == "unless-stopped"
    assert digest_service["stop_signal"] == "SIGTERM"
    # Docker's SIGKILL must not come before the service's own stop timeout for a run in progress.
    default_stop_timeout = Service(Config()).stop_timeout
    assert seconds(digest_service["stop_grace_period"]) > default_stop_timeout


def test_config_is_mounted_read_only_where_digest_config_points(
    digest_service: dict[str, Any], docker_config: Config
) -> None:
    target = digest_service["environment"]["DIGEST_CONFIG"]
    mount = mounts(digest_service)[target]
    assert mount["type"] == "bind" and mount["read_only"] is True
    # A missing host file must fail `up`, not be replaced by an empty directory and a restart loop.
    assert mount["bind"] == {"create_host_path": False}
    default = re.fullmatch(r"\$\{DIGEST_CONFIG_FILE:-(.+)\}", mount["source"])
    assert default, mount["source"]
    assert (ROOT / default.group(1)).resolve() == ROOT / "digest.docker.toml"
    assert docker_config.schedule.cron == Config().schedule.cron


def test_state_lives_on_a_named_volume(compose: dict[str, Any], digest_service: dict[str, Any]) -> None:
    config, _ = load_config(ROOT / "digest.docker.toml")
    mount = mounts(digest_service)[config.state_dir]
    assert mount["type"] == "volume" and not mount["read_only"]
    assert mount["source"] in compose["volumes"]  # named, so `docker compose down` keeps the state
    dockerfile = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    assert f'VOLUME ["{config.state_dir}"]' in dockerfile


def test_secrets_come_from_dot_env_in_a_syntax_every_compose_v2_reads(
    digest_service: dict[str, Any], docker_config: Config
) -> None:
    # env_file with `required: false` needs Compose 2.24; plain `env_file: .env` fails when it is missing.
    assert "env_file" not in digest_service
    example = (ROOT / ".env.example").read_text(encoding="utf-8")
    keys = dict(
        line.split("=", 1) for line in example.splitlines() if line.strip() and not line.startswith("#")
    )
    assert {"OPENAI_API_KEY", "DIGEST_SMTP_PASSWORD"} <= set(keys)
    assert all(value == "" for value in keys.values())  # an example never carries a secret
    environment = digest_service["environment"]
    for name in (docker_config.llm.api_key_env, docker_config.email.password_env):
        assert name in keys
        # Only a reference to the variable Compose reads from .env: the value never sits in compose.yaml.
        assert environment[name] == f"${{{name}:-}}"


def test_healthcheck_calls_a_command_that_exists(digest_service: dict[str, Any]) -> None:
    test = digest_service["healthcheck"]["test"]
    assert test == ["CMD", "digest", "status", "--check"]
    result = CliRunner().invoke(cli, [*test[2:], "--help"])
    assert result.exit_code == 0 and "--check" in result.output


def test_docker_config_points_at_the_dev_services(compose: dict[str, Any], docker_config: Config) -> None:
    mailpit_ports = {p.rsplit(":", 1)[-1] for p in compose["services"]["mailpit"]["ports"]}
    assert {"1025", "8025"} <= mailpit_ports
    email = docker_config.email
    assert (email.enabled, email.smtp_host, email.smtp_port) == (True, "mailpit", 1025)
    assert email.security == "none"
    assert email.username == ""  # Mailpit offers no AUTH over plain SMTP
    assert docker_config.llm.base_url == "http://ollama:11434/v1"
    assert docker_config.llm.model in (ROOT / "compose.yaml").read_text(encoding="utf-8")  # the pull hint


def test_dockerfile(docker_config: Config, digest_service: dict[str, Any]) -> None:
    text = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    instructions = [line for line in text.splitlines() if line and not line.startswith("#")]
    assert instructions[0].startswith("FROM python:3.1")
    assert "ca-certificates" in text and "tzdata" in text
    # tzdata asks for a timezone unless apt runs non-interactively.
    assert re.search(r"DEBIAN_FRONTEND=noninteractive apt-get install", text)
    health = re.search(r"^HEALTHCHECK .*CMD (\[.*\])$", text, re.M)
    assert health and json.loads(health.group(1)) == digest_service["healthcheck"]["test"][1:]
    assert re.search(r"pip install \.(\s|$)", text) and "pip install -e" not in text
    for path in ("pyproject.toml", "README.md", "digest", "prompts", "templates"):
        assert re.search(rf"^COPY .*\b{re.escape(path)}\b", text, re.M), path
    user = re.findall(r"^USER (\S+)", text, re.M)
    assert user and user[-1] not in ("root", "0")
    assert "STOPSIGNAL SIGTERM" in instructions
    assert instructions[-1] == 'CMD ["digest", "serve"]'


def test_dockerignore_keeps_secrets_out_and_the_package_in() -> None:
    patterns = [
        line.strip()
        for line in (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    ]

    def ignored(path: str) -> bool:
        return any(fnmatch.fnmatch(path, p) or path.startswith(p.rstrip("/") + "/") for p in patterns)

    for path in (".env", ".git", ".venv", "digest.egg-info", "tests"):
        assert ignored(path), path
    for path in ("pyproject.toml", "README.md", "digest/cli.py", "prompts", "templates"):
        assert not ignored(path), path


def _compose() -> list[str] | None:
    """Docker Compose v2: the docker plugin, or the standalone `docker-compose` binary of v2."""
    for command in (["docker", "compose"], ["docker-compose"]):
        if shutil.which(command[0]) is None:
            continue
        probe = subprocess.run([*command, "version"], capture_output=True, text=True, timeout=30)
        if probe.returncode == 0 and re.search(r"\bv?2\.\d+", probe.stdout):
            return command
    return None


COMPOSE = _compose()


@pytest.mark.skipif(COMPOSE is None, reason="Docker Compose v2 is not installed")
@pytest.mark.parametrize("profile", [None, "dev"])
def test_docker_compose_config_accepts_the_file(profile: str | None) -> None:
    assert COMPOSE is not None
    args = [*COMPOSE, "-f", str(ROOT / "compose.yaml")]
    if profile:
        args += ["--profile", profile]
    result = subprocess.run([*args, "config", "--services"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    expected = {"digest", "mailpit", "ollama", "ollama-pull"} if profile else {"digest"}
    assert set(result.stdout.split()) == expected
