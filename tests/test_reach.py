"""Running digest without a server: the GitHub Actions workflow, the crontab and the systemd timer.

What can be checked here without GitHub or systemd: the files parse, they run the documented commands
(the README's recommended way, docs/deployment.md for the others),
their schedules are the weekday mornings after arXiv's announcement, the secrets come from where the
config says, and the state is kept between runs.
"""

from __future__ import annotations

import configparser
import re
import shlex
import shutil
import subprocess
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import yaml

from digest.config import load_config
from digest.cron import crontab_trigger

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")
DEPLOYMENT = (ROOT / "docs" / "deployment.md").read_text(encoding="utf-8")
WORKFLOW = ROOT / ".github" / "workflows" / "digest.yml"
UTC = ZoneInfo("UTC")
SEOUL = ZoneInfo("Asia/Seoul")
NEW_YORK = ZoneInfo("America/New_York")


@pytest.fixture(scope="module")
def workflow() -> dict[str, Any]:
    return yaml.safe_load(WORKFLOW.read_text(encoding="utf-8"))


def triggers(workflow: dict[str, Any]) -> dict[str, Any]:
    return workflow.get("on") or workflow[True]  # YAML 1.1 reads a bare `on` as true


def steps(workflow: dict[str, Any]) -> list[dict[str, Any]]:
    [job] = workflow["jobs"].values()
    return job["steps"]


def fires_after_the_announcement(expr: str, tz: ZoneInfo) -> None:
    """Each fire time of a week is after that day's 20:00 US Eastern announcement, before noon in Seoul."""
    trigger = crontab_trigger(expr, tz)
    fire = trigger.get_next_fire_time(None, datetime(2026, 2, 1, tzinfo=tz))  # a Sunday
    seen = []
    for _ in range(5):
        assert fire is not None
        seoul = fire.astimezone(SEOUL)
        announced = seoul.astimezone(NEW_YORK).replace(hour=20, minute=0)
        if announced > seoul:
            announced = announced.replace(day=announced.day - 1)
        assert 0 < (seoul - announced).total_seconds() < 16 * 3600, seoul
        assert seoul.hour < 12
        seen.append(seoul.strftime("%a"))
        fire = trigger.get_next_fire_time(fire, fire.replace(second=1))
    assert seen == ["Mon", "Tue", "Wed", "Thu", "Fri"]


def test_the_workflow_runs_on_weekday_mornings_after_the_announcement(workflow: dict[str, Any]) -> None:
    on = triggers(workflow)
    [schedule] = on["schedule"]
    fires_after_the_announcement(schedule["cron"], UTC)  # GitHub's cron is in UTC
    assert "workflow_dispatch" in on  # "Run workflow" by hand, to try it
    assert workflow["concurrency"]["cancel-in-progress"] is False
    assert workflow["permissions"] == {"contents": "read"}


def test_the_workflow_steps_are_the_readme_commands(workflow: dict[str, Any]) -> None:
    commands = [s["run"] for s in steps(workflow) if "run" in s]
    digest_commands = [c for c in commands if c.startswith("digest ")]
    assert digest_commands == ["digest send --pending", "digest now --send --out digest.md"]
    for command in [*digest_commands, "pip install ."]:
        assert f"`{command}`" in README and f"`{command}`" in DEPLOYMENT, command


def test_the_workflow_reads_secrets_named_by_its_config(workflow: dict[str, Any]) -> None:
    [job] = workflow["jobs"].values()
    config, _ = load_config(ROOT / job["env"]["DIGEST_CONFIG"])
    today = next(s for s in steps(workflow) if s.get("run", "").startswith("digest now"))
    env = today["env"]
    for name in (config.llm.api_key_env, config.email.password_env):
        assert env[name] == f"${{{{ secrets.{name} }}}}"  # a repository secret, never a value
        assert name in README and name in DEPLOYMENT
    assert config.email.enabled


def test_the_workflow_keeps_the_state_between_runs(workflow: dict[str, Any]) -> None:
    [job] = workflow["jobs"].values()
    config, _ = load_config(ROOT / job["env"]["DIGEST_CONFIG"])
    all_steps = steps(workflow)
    uses = [s.get("uses", "") for s in all_steps]
    restore = all_steps[next(i for i, u in enumerate(uses) if u.startswith("actions/cache/restore@"))]
    save = all_steps[next(i for i, u in enumerate(uses) if u.startswith("actions/cache/save@"))]
    run_at = next(i for i, s in enumerate(all_steps) if s.get("run", "").startswith("digest now"))
    assert all_steps.index(restore) < run_at < all_steps.index(save)
    assert restore["with"]["path"] == save["with"]["path"] == config.state_dir
    # A new entry each run (they are immutable), the newest restored by prefix.
    assert "github.run_id" in save["with"]["key"] and save["with"]["key"] == restore["with"]["key"]
    assert save["with"]["key"].startswith(restore["with"]["restore-keys"])
    assert save["if"] == "always()"  # a pending email survives a failed step
    assert not Path(config.state_dir).is_absolute()


def test_the_crontab_example(tmp_path: Path) -> None:
    text = (ROOT / "docs" / "crontab.example").read_text(encoding="utf-8")
    jobs = [line for line in text.splitlines() if line and not line.startswith("#") and "=" not in line[:8]]
    assert len(jobs) == 2
    daily = jobs[0].split(None, 5)
    fires_after_the_announcement(" ".join(daily[:5]), SEOUL)  # for a machine on Seoul time
    for job in jobs:
        command = job.split(None, 5)[5]
        digest = command.rsplit("&& ", 1)[-1]
        assert digest.startswith(".venv/bin/digest ")
        assert f"\n{digest.removeprefix('.venv/bin/')}\n" in DEPLOYMENT
        assert shlex.split(command)  # the shell can read it


def read_unit(name: str) -> configparser.ConfigParser:
    unit = configparser.ConfigParser(strict=False, interpolation=None)
    unit.optionxform = str  # type: ignore[assignment,method-assign]
    unit.read_string(_join_repeated((ROOT / "docs" / "systemd" / name).read_text(encoding="utf-8")))
    return unit


def _join_repeated(text: str) -> str:
    # systemd allows a key twice (two ExecStart=); configparser keeps the last, so number them.
    seen: dict[str, int] = {}
    out = []
    for line in text.splitlines():
        m = re.match(r"(\w+)=", line)
        if m:
            seen[m.group(1)] = seen.get(m.group(1), 0) + 1
            if seen[m.group(1)] > 1:
                line = f"{m.group(1)}{seen[m.group(1)]}{line[len(m.group(1)) :]}"
        out.append(line)
    return "\n".join(out)


def test_the_systemd_timer_and_service() -> None:
    timer = read_unit("digest.timer")
    assert timer["Timer"]["OnCalendar"] == "Mon..Fri 10:30 Asia/Seoul"
    assert timer["Timer"]["Persistent"] == "true"  # a laptop asleep at 10:30 runs it on waking
    service = read_unit("digest.service")
    assert service["Service"]["Type"] == "oneshot"
    assert "EnvironmentFile" in service["Service"]  # secrets outside the unit
    commands = [service["Service"][k] for k in ("ExecStart", "ExecStart2")]
    assert [c.split("/.venv/bin/")[1] for c in commands] == [
        "digest send --pending -q",
        "digest now --send -q",
    ]
    assert commands[0].startswith("-")  # a lasting SMTP refusal does not stop today's run
    for command in commands:
        assert f"\n{command.split('/.venv/bin/')[1]}\n" in DEPLOYMENT


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed")
def test_systemd_accepts_the_units(tmp_path: Path) -> None:
    units = [ROOT / "docs" / "systemd" / n for n in ("digest.service", "digest.timer")]
    for unit in units:
        shutil.copy(unit, tmp_path / unit.name)
    result = subprocess.run(
        ["systemd-analyze", "verify", *(str(tmp_path / u.name) for u in units)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    # The venv this example points at does not exist here; anything else would be a real mistake.
    problems = [
        line
        for line in (result.stdout + result.stderr).splitlines()
        if line.strip() and "is not executable" not in line
    ]
    assert problems == []
    calendar = subprocess.run(
        ["systemd-analyze", "calendar", read_unit("digest.timer")["Timer"]["OnCalendar"]],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert calendar.returncode == 0, calendar.stderr
