"""The command line: parse, call the library, print. Errors become one line and an exit code."""

from __future__ import annotations

import asyncio
import functools
import json
import sys
from collections.abc import Callable
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from .config import Config, load_config, masked_dump
from .errors import DigestError
from .progress import Progress
from .state import State

if TYPE_CHECKING:
    from .pipeline import RunResult

F = TypeVar("F", bound=Callable[..., Any])


def handle_errors(fn: F) -> F:
    """Turn DigestError into ``Error: ...`` on stderr with its exit code (2 for config)."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except DigestError as e:
            lines = str(e).splitlines() or [type(e).__name__]
            click.echo(f"Error: {lines[0]}", err=True)
            for line in lines[1:]:
                click.echo(f"       {line}", err=True)
            sys.exit(e.exit_code)
        except KeyboardInterrupt:
            click.echo("Interrupted.", err=True)
            sys.exit(130)

    return wrapper  # type: ignore[return-value]


config_option = click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Config file (default: $DIGEST_CONFIG, ./digest.toml, then the user config dir).",
)


def parse_day(value: str | None) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a date like 2025-10-14", param_hint="--date") from None


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="digest")
def cli() -> None:
    """데일리 트렌드: today's AI papers and posts, one Korean line each.

    \b
    Example usage:
        digest now --demo          # a sample day, offline, no key
        digest now > today.md      # today's section as Markdown
        digest config              # the effective configuration
    """


@cli.command()
@config_option
@click.option("--date", "day_text", metavar="YYYY-MM-DD", help="Digest for this day (default: today).")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), help="Also write the Markdown here.")
@click.option("--demo", is_flag=True, help="Offline sample day bundled with digest: no key, no network.")
@click.option("-q", "--quiet", is_flag=True, help="No progress on stderr.")
@handle_errors
def now(config_path: Path | None, day_text: str | None, out: Path | None, demo: bool, quiet: bool) -> None:
    """Build today's 데일리 트렌드 and print it as Markdown on stdout.

    Progress goes to stderr, so `digest now > log.md` and `digest now | pbcopy` work.
    """
    progress = Progress(quiet=quiet)
    day = parse_day(day_text)
    if demo:
        result = asyncio.run(_demo_run(progress))
    else:
        config, source = load_config(config_path)
        from .pipeline import today

        progress.log(f"config: {source or 'built-in defaults'}")
        result = asyncio.run(_run(config, day or today(config), progress))
    progress.done()
    _report(result, progress)
    if out:
        out.write_text(result.markdown, encoding="utf-8")
    click.echo(result.markdown, nl=False)


async def _run(config: Config, day: date, progress: Progress) -> RunResult:
    # Imported here so `digest config` and `digest --help` stay fast.
    from .pipeline import default_clients, run_digest

    async with default_clients(config) as clients:
        return await run_digest(config, day, clients=clients, progress=progress)


async def _demo_run(progress: Progress) -> RunResult:
    from . import demo

    return await demo.run(progress)


def _report(result: RunResult, progress: Progress) -> None:
    d = result.digest
    u = d.usage
    progress.log(
        f"done: {len(d.entries)} items, {d.fallback_count} fallbacks, "
        f"{u.calls} LLM calls ({u.prompt_tokens}+{u.completion_tokens} tokens)"
        + ("" if d.sample else f", archived {result.archive_path}")
    )
    for s in d.failed_sources:
        progress.warn(f"{s.name} failed: {s.error or s.status} (the rest of the digest was delivered)")


@cli.command("config")
@config_option
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of TOML-like text.")
@handle_errors
def config_cmd(config_path: Path | None, as_json: bool) -> None:
    """Print the effective configuration, with secrets masked."""
    config, source = load_config(config_path)
    data = masked_dump(config)
    if as_json:
        click.echo(
            json.dumps({"source": str(source) if source else None, **data}, ensure_ascii=False, indent=2)
        )
        return
    click.echo(f"# source: {source or 'built-in defaults'}")
    click.echo(_as_toml(data))


def _toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int | float):
        return repr(v)
    if isinstance(v, list):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    return json.dumps(str(v), ensure_ascii=False)


def _as_toml(data: dict[str, Any]) -> str:
    """A readable TOML rendering of the effective config (secrets already masked)."""
    lines: list[str] = []
    tables: list[tuple[str, dict[str, Any]]] = []
    arrays: list[tuple[str, list[dict[str, Any]]]] = []
    for key, value in data.items():
        if isinstance(value, dict):
            if key == "topics":
                tables.extend((f"topics.{k}", v) for k, v in value.items())
            else:
                tables.append((key, value))
        elif isinstance(value, list) and value and isinstance(value[0], dict):
            arrays.append((key, value))
        else:
            lines.append(f"{key} = {_toml_value(value)}")
    for name, table in tables:
        lines += ["", f"[{name}]"] + [f"{k} = {_toml_value(v)}" for k, v in table.items()]
    for name, rows in arrays:
        for row in rows:
            lines += ["", f"[[{name}]]"] + [f"{k} = {_toml_value(v)}" for k, v in row.items()]
    return "\n".join(lines)


@cli.command("eval")
@click.option(
    "--labels",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    required=True,
    help="Hand labels, one JSON object per line: {id, topics}.",
)
@click.option(
    "--papers",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    required=True,
    multiple=True,
    help="Papers as JSONL (the corpus format); repeat for several days.",
)
@config_option
@handle_errors
def eval_cmd(labels: Path, papers: tuple[Path, ...], config_path: Path | None) -> None:
    """Measure the topic matcher against hand labels: precision and recall per topic.

    \b
    Example:
        digest eval --labels labels.jsonl --papers arxiv-2026-02-05.jsonl --papers arxiv-2026-02-06.jsonl
    """
    from .evaluation import evaluate, format_report

    config, _ = load_config(config_path)
    click.echo(format_report(evaluate(labels, list(papers), config)))


@cli.command()
@config_option
@click.option("-n", "limit", default=10, show_default=True, help="How many runs to list.")
@handle_errors
def status(config_path: Path | None, limit: int) -> None:
    """Last runs: date, items, LLM calls and tokens."""
    config, _ = load_config(config_path)
    with State.open(config.state_path) as state:
        runs = state.recent_runs(limit)
    if not runs:
        click.echo("No runs yet. Try `digest now`.")
        return
    click.echo(f"{'day':<12}{'status':<10}{'items':>6}{'fallb.':>7}{'calls':>6}{'tokens':>9}  started")
    for r in runs:
        started = datetime.fromisoformat(r.started_at).astimezone(config.tz).strftime("%m-%d %H:%M")
        click.echo(
            f"{r.day.isoformat():<12}{r.status:<10}{r.items:>6}{r.fallbacks:>7}{r.llm_calls:>6}"
            f"{r.prompt_tokens + r.completion_tokens:>9}  {started}"
        )


def main() -> None:
    cli()


if __name__ == "__main__":
    main()
