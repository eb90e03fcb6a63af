"""Running digest without a server: the GitHub Actions workflow, the crontab and the systemd timer.

What can be checked here without GitHub or systemd: the files parse, they run the documented commands
(the README's recommended way, docs/deployment.md for the others),
their schedules are the weekday mornings after arXiv's announcement, the secrets come from where the
config says, and the state is kept between runs.
"""

from __future__ import annotations

import configparser
import os
import re
import shlex
import shutil
import subprocess
import sys
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import yaml

from digest.cli import cli
from digest.config import load_config
from digest.cron import crontab_trigger
from digest.delivery.feed import archive_post
from digest.delivery.notes import write_note
from digest.delivery.post import daily_post
from digest.rendering.daily import render_markdown
from digest.state import State

from .digests import fixed_digest

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")
DEPLOYMENT = (ROOT / "docs" / "deployment.md").read_text(encoding="utf-8")
GUIDE = README + "\n" + DEPLOYMENT  # the README is the short path, docs/deployment.md the recipes
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


def accepted(command: str) -> list[str]:
    """The arguments of a ``digest`` command line, after the CLI itself has parsed them (no run)."""
    args = shlex.split(command)
    assert Path(args[0]).name == "digest", command
    with cli.make_context("digest", args[1:]) as ctx:
        sub = cli.get_command(ctx, args[1])
        assert sub is not None, command
        sub.make_context(args[1], args[2:], parent=ctx)  # raises on an option the command lacks
    return args[1:]


def test_the_workflow_steps_are_the_readme_commands(workflow: dict[str, Any]) -> None:
    commands = [s["run"] for s in steps(workflow) if "run" in s]
    digest_commands = [c for c in commands if c.startswith("digest ")]
    assert digest_commands == [
        "digest backfill --days 20",
        "digest send --pending",
        "digest now --send --out digest.md",
    ]
    for command in [*digest_commands, "pip install ."]:
        assert f"`{command}`" in GUIDE or f"\n{command}\n" in GUIDE, command
    for command in digest_commands:
        accepted(command)


def test_the_workflow_fills_the_history_before_the_digest(workflow: dict[str, Any]) -> None:
    all_steps = steps(workflow)
    runs = [s.get("run", "") for s in all_steps]
    backfill = all_steps[runs.index("digest backfill --days 20")]
    uses = [s.get("uses", "") for s in all_steps]
    restore = next(i for i, u in enumerate(uses) if u.startswith("actions/cache/restore@"))
    assert restore < all_steps.index(backfill) < runs.index("digest now --send --out digest.md")
    # Idempotent and polite by itself; a failure leaves the days for tomorrow and the digest still runs.
    assert backfill["continue-on-error"] is True
    [job] = workflow["jobs"].values()
    assert backfill["timeout-minutes"] < job["timeout-minutes"] / 2  # time left for the digest itself
    assert "env" not in backfill  # no LLM and no SMTP: no secret


BLOG_IF = "vars.BLOG_REPOSITORY != ''"


def test_the_blog_is_optional_and_published_after_the_email(workflow: dict[str, Any]) -> None:
    all_steps = steps(workflow)
    checkout = next(s for s in all_steps if s.get("with", {}).get("path") == "blog")
    publish = next(s for s in all_steps if s.get("working-directory") == "blog")
    assert checkout["if"] == publish["if"] == BLOG_IF
    assert checkout["uses"].startswith("actions/checkout@")
    assert checkout["with"]["repository"] == "${{ vars.BLOG_REPOSITORY }}"
    assert checkout["with"]["token"] == "${{ secrets.BLOG_TOKEN }}"  # a token, never in the file
    runs = [s.get("run", "") for s in all_steps]
    today = runs.index("digest now --send --out digest.md")
    assert all_steps.index(checkout) < today < all_steps.index(publish)
    assert "continue-on-error" not in publish  # a refused push shows as a failed run
    assert workflow["permissions"] == {"contents": "read"}  # the push uses BLOG_TOKEN, not this token


def git(cwd: Path, *args: str) -> str:
    done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, timeout=60, check=True)
    return done.stdout


def publish_step(workflow: dict[str, Any], workspace: Path) -> tuple[str, dict[str, str]]:
    step = next(s for s in steps(workflow) if s.get("working-directory") == "blog")
    env = {k: v.replace("${{ github.workspace }}", str(workspace)) for k, v in step["env"].items()}
    path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"  # `digest` as pip installed it
    return step["run"], {**os.environ, "PATH": path, **env}


def run_step(script: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    # As GitHub runs a `run:` step: bash with -e and pipefail.
    return subprocess.run(
        ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", script],
        cwd=cwd, env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


@pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")
def test_the_days_post_lands_in_the_blog_and_jekyll_builds_it(
    workflow: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The reader's blog: a repository (a bare one stands for GitHub) checked out into blog/, as the
    # workflow's checkout step does.
    remote = tmp_path / "blog.git"
    git(tmp_path, "init", "-q", "--bare", "-b", "main", str(remote))
    workspace = tmp_path / "workspace"
    blog = workspace / "blog"
    git(tmp_path, "clone", "-q", str(remote), str(blog))
    (blog / "_layouts").mkdir(parents=True)
    (blog / "_config.yml").write_text("title: my study log\ntimezone: Asia/Seoul\n", encoding="utf-8")
    (blog / "_layouts" / "post.html").write_text("<article>{{ content }}</article>\n", encoding="utf-8")
    git(blog, "add", ".")
    git(blog, "-c", "user.name=me", "-c", "user.email=me@example.test", "commit", "-q", "-m", "blog")
    git(blog, "push", "-q", "origin", "HEAD:main")

    # The workflow's config with its [markdown] table uncommented, as its comment says.
    text = (ROOT / ".github" / "digest.toml").read_text(encoding="utf-8")
    (workspace / ".github").mkdir()
    config_file = workspace / ".github" / "digest.toml"
    config_file.write_text(text.replace("# [markdown]\n# dir = ", "[markdown]\ndir = "), encoding="utf-8")
    config, _ = load_config(config_file)
    assert config.markdown.dir == "blog/_posts"

    # `digest now` runs in the workspace and writes the day's note where the config says.
    monkeypatch.chdir(workspace)
    digest = fixed_digest()
    run_at = datetime(2025, 10, 14, 11, 17, tzinfo=SEOUL)  # the workflow's 02:17 UTC
    note = write_note(config.markdown, digest.day, render_markdown(digest), tz=config.tz, now=run_at)
    assert note.resolve() == (blog / "_posts" / "2025-10-14-daily-trend.md").resolve()

    script, env = publish_step(workflow, workspace)
    first = run_step(script, blog, env)
    assert first.returncode == 0, first.stdout + first.stderr
    log = git(remote, "log", "--format=%s", "--name-only", "main")
    assert log.startswith("데일리 트렌드 ") and "_posts/2025-10-14-daily-trend.md" in log
    # The same day again (a re-run): the post is there already, so nothing is committed twice.
    again = run_step(script, blog, env)
    assert again.returncode == 0 and "the post is already on the blog" in again.stdout
    assert git(remote, "rev-list", "--count", "main").strip() == "2"

    jekyll = shutil.which("jekyll")
    if jekyll is not None:  # Debian: apt-get install jekyll
        site = tmp_path / "site"
        git(tmp_path, "clone", "-q", str(remote), str(site))
        built = subprocess.run(
            [jekyll, "build", "--source", str(site), "--destination", str(site / "_site")],
            capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip
        assert built.returncode == 0, built.stdout + built.stderr
        post = (site / "_site" / "2025" / "10" / "14" / "daily-trend.html").read_text(encoding="utf-8")
        assert post.startswith("<article>") and "데일리 트렌드 — 2025-10-14 (화)" in post


def test_a_blog_without_the_markdown_table_fails_the_publish_step(
    workflow: dict[str, Any], tmp_path: Path
) -> None:
    workspace = tmp_path / "workspace"
    (workspace / "blog").mkdir(parents=True)
    (workspace / ".github").mkdir()
    shutil.copy(ROOT / ".github" / "digest.toml", workspace / ".github" / "digest.toml")  # as shipped
    script, env = publish_step(workflow, workspace)
    result = run_step(script, workspace / "blog", env)
    assert result.returncode == 1
    assert "::error::BLOG_REPOSITORY is set, but .github/digest.toml has no [markdown]" in result.stdout


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


PAGES_WORKFLOW = ROOT / "docs" / "github-pages.yml"
SITE_STEPS = ("Build the site", "Upload the site")


@pytest.fixture(scope="module")
def pages_workflow() -> dict[str, Any]:
    return yaml.safe_load(PAGES_WORKFLOW.read_text(encoding="utf-8"))


def test_the_pages_workflow_is_the_daily_workflow_plus_the_site(
    workflow: dict[str, Any], pages_workflow: dict[str, Any]
) -> None:
    # A copy that drifts from digest.yml would send differently: apart from the site, the same workflow.
    for key in ("name", "concurrency", "permissions"):
        assert pages_workflow[key] == workflow[key], key
    assert triggers(pages_workflow) == triggers(workflow)
    digest_job, pages_job = pages_workflow["jobs"]["digest"], pages_workflow["jobs"]["pages"]
    [daily_job] = workflow["jobs"].values()
    daily_steps = [s for s in digest_job["steps"] if s.get("name") not in SITE_STEPS]
    assert daily_steps == daily_job["steps"]
    assert {k: v for k, v in digest_job.items() if k not in ("steps", "outputs")} == {
        k: v for k, v in daily_job.items() if k != "steps"
    }
    build, upload = (next(s for s in digest_job["steps"] if s.get("name") == n) for n in SITE_STEPS)
    names = [s.get("name") for s in digest_job["steps"]]
    # After today's digest (its archive is in the site), before the state is saved; also after a failure.
    assert names.index("Today's digest") < names.index(SITE_STEPS[0]) < names.index("Keep the state")
    assert build["run"] == "digest site --out _site" and build["if"] == "${{ !cancelled() }}"
    assert upload["uses"].startswith("actions/upload-pages-artifact@") and upload["with"]["path"] == "_site"
    assert digest_job["outputs"]["site"] == f"${{{{ steps.{build['id']}.outcome }}}}"
    # Only the job that deploys may: the digest job keeps the workflow's read-only token.
    assert pages_job["needs"] == "digest" and "needs.digest.outputs.site == 'success'" in pages_job["if"]
    assert pages_job["permissions"] == {"pages": "write", "id-token": "write"}
    assert pages_job["environment"]["name"] == "github-pages"
    [deploy] = pages_job["steps"]
    assert deploy["uses"].startswith("actions/deploy-pages@")
    assert pages_job["environment"]["url"] == f"${{{{ steps.{deploy['id']}.outputs.page_url }}}}"
    assert "docs/github-pages.yml" in DEPLOYMENT and "`digest site --out _site`" in DEPLOYMENT
    accepted(build["run"])


def test_the_pages_site_step_builds_the_archive_of_the_cached_state(
    pages_workflow: dict[str, Any], tmp_path: Path
) -> None:
    # The workspace as the runner has it after the digest: the checkout's config and the state restored.
    workspace = tmp_path / "workspace"
    (workspace / ".github").mkdir(parents=True)
    shutil.copy(ROOT / ".github" / "digest.toml", workspace / ".github" / "digest.toml")
    config, _ = load_config(workspace / ".github" / "digest.toml")
    d = fixed_digest()
    with State.open(workspace / config.state_dir) as state:
        archive_post(state.archive_dir, daily_post(d))
    job = pages_workflow["jobs"]["digest"]
    build = next(s for s in job["steps"] if s.get("name") == SITE_STEPS[0])
    path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"  # `digest` as pip installed it
    env = {**os.environ, "PATH": path, **job["env"]}

    result = run_step(build["run"], workspace, env)

    assert result.returncode == 0, result.stdout + result.stderr
    site = workspace / "_site"
    index = (site / "index.html").read_text(encoding="utf-8")
    page = f"d/{d.day.isoformat()}.html"
    assert f'href="{page}"' in index and (site / page).is_file() and (site / "feed.xml").is_file()
    # Served from https://<you>.github.io/<repo>/: no link may lead to the host's root.
    for html_file in site.rglob("*.html"):
        assert not re.search(r'(?:href|src)="/(?!/)', html_file.read_text(encoding="utf-8")), html_file


def test_the_crontab_example(tmp_path: Path) -> None:
    text = (ROOT / "docs" / "crontab.example").read_text(encoding="utf-8")
    jobs = [line for line in text.splitlines() if line and not line.startswith("#") and "=" not in line[:8]]
    assert len(jobs) == 2
    daily = jobs[0].split(None, 5)
    fires_after_the_announcement(" ".join(daily[:5]), SEOUL)  # for a machine on Seoul time
    commands = []
    for job in jobs:
        command = job.split(None, 5)[5]
        assert shlex.split(command)  # the shell can read it
        found = re.findall(r"\.venv/bin/(digest [^;&}>]+?)\s*(?:;|&&|\}|>|$)", command)
        assert found, command
        for digest in found:
            assert digest.removesuffix(" -q") in GUIDE
            commands.append(accepted(digest))
    # The history first (a failure of it does not stop the digest: `;`, not `&&`), then the digest.
    assert commands == [
        ["backfill", "--days", "20", "-q"], ["now", "--send", "-q"], ["send", "--pending", "-q"]
    ]
    # Its summary (stdout) is dropped: with -q, cron then mails only a problem (stderr).
    assert "digest backfill --days 20 -q >/dev/null; .venv/bin/digest now" in jobs[0]


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
    commands = [service["Service"][k] for k in ("ExecStart", "ExecStart2", "ExecStart3")]
    assert [c.split("/.venv/bin/")[1] for c in commands] == [
        "digest backfill --days 20 -q",
        "digest send --pending -q",
        "digest now --send -q",
    ]
    # Neither the history (filled on the first run, then only a day still missing) nor a lasting SMTP
    # refusal stops today's run.
    assert commands[0].startswith("-") and commands[1].startswith("-")
    for command in commands:
        digest = command.split("/.venv/bin/")[1]
        assert digest.removesuffix(" -q") in GUIDE
        accepted(digest)


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
