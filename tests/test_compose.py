"""The container setup: compose.yaml, Dockerfile, .dockerignore, .env.example and digest.docker.toml agree."""

from __future__ import annotations

import fnmatch
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
from digest.scheduler import Service

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


def mounts(service: dict[str, Any]) -> dict[str, tuple[str, str]]:
    """target -> (source, mode) from short-syntax volume strings."""
    out = {}
    for entry in service.get("volumes", []):
        # The source may hold ":" itself (${VAR:-default}), so the target is the last absolute path.
        m = re.fullmatch(r"(?P<source>.+):(?P<target>/[^:]*)(?::(?P<mode>ro|rw))?", entry)
        assert m, entry
        out[m["target"]] = (m["source"], m["mode"] or "rw")
    return out


def seconds(duration: str) -> int:
    m = re.fullmatch(r"(\d+)s", duration)
    assert m, duration
    return int(m.group(1))


def test_services_and_profiles(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert set(services) == {"digest", "mailpit", "ollama"}
    assert "profiles" not in services["digest"]  # the service itself always runs
    assert services["mailpit"]["profiles"] == ["dev"]
    assert services["mailpit"]["image"].startswith("axllent/mailpit")
    assert {"dev", "ollama"} <= set(services["ollama"]["profiles"])
    assert services["ollama"]["image"].startswith("ollama/ollama")


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
    source, mode = mounts(digest_service)[target]
    assert mode == "ro"
    default = re.fullmatch(r"\$\{DIGEST_CONFIG_FILE:-(.+)\}", source)
    assert default, source
    assert (ROOT / default.group(1)).resolve() == ROOT / "digest.docker.toml"
    assert docker_config.schedule.cron == Config().schedule.cron


def test_state_lives_on_a_named_volume(compose: dict[str, Any], digest_service: dict[str, Any]) -> None:
    config, _ = load_config(ROOT / "digest.docker.toml")
    source, mode = mounts(digest_service)[config.state_dir]
    assert mode == "rw"
    assert source in compose["volumes"]  # named, so `docker compose down` keeps the state
    dockerfile = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    assert f'VOLUME ["{config.state_dir}"]' in dockerfile


def test_secrets_come_from_the_env_file(digest_service: dict[str, Any], docker_config: Config) -> None:
    assert {"path": ".env", "required": False} in digest_service["env_file"]
    example = (ROOT / ".env.example").read_text(encoding="utf-8")
    keys = dict(
        line.split("=", 1) for line in example.splitlines() if line.strip() and not line.startswith("#")
    )
    assert {"OPENAI_API_KEY", "DIGEST_SMTP_PASSWORD"} <= set(keys)
    assert {docker_config.llm.api_key_env, docker_config.email.password_env} <= set(keys)
    assert all(value == "" for value in keys.values())  # an example never carries a secret
    # The config names variables; their values never sit in compose.yaml.
    assert not {"OPENAI_API_KEY", "DIGEST_SMTP_PASSWORD"} & set(digest_service.get("environment", {}))


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


def test_dockerfile(docker_config: Config) -> None:
    text = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    instructions = [line for line in text.splitlines() if line and not line.startswith("#")]
    assert re.match(r"FROM python:3\.1[12]-slim$", instructions[0])
    assert "ca-certificates" in text
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


def _compose_usable() -> bool:
    if shutil.which("docker") is None:
        return False
    probe = subprocess.run(["docker", "compose", "version"], capture_output=True, text=True, timeout=30)
    return probe.returncode == 0


@pytest.mark.skipif(not _compose_usable(), reason="the docker compose plugin is not installed")
@pytest.mark.parametrize("profile", [None, "dev"])
def test_docker_compose_config_accepts_the_file(profile: str | None) -> None:
    args = ["docker", "compose", "-f", str(ROOT / "compose.yaml")]
    if profile:
        args += ["--profile", profile]
    result = subprocess.run([*args, "config", "--services"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    expected = {"digest", "mailpit", "ollama"} if profile else {"digest"}
    assert set(result.stdout.split()) == expected
