"""The command line: parse, call the library, print. Errors become one line and an exit code."""

from __future__ import annotations

import asyncio
import errno
import functools
import json
import logging
import os
import signal
import sqlite3
import sys
from collections.abc import Callable
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from .config import Config, dump_toml, load_config, masked_dump
from .errors import DigestError
from .progress import Progress
from .redact import redact_url
from .state import State

if TYPE_CHECKING:
    from .pipeline import RunResult
    from .week.roundup import WeekResult

F = TypeVar("F", bound=Callable[..., Any])
# Errors of the disk itself (full, over quota, read-only, failing), not of the program.
_DISK_ERRORS = {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EIO}


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised like Ctrl-C so a run in progress is marked abandoned and its lock released."""


def _terminate(signum: int, frame: object) -> None:
    raise Terminated


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
        except sqlite3.DatabaseError as e:
            # A query outside a `with State.open(...)` block (which says it better): still one line.
            click.echo(f"Error: the state database cannot be used: {e}", err=True)
            sys.exit(1)
        except OSError as e:
            if e.errno not in _DISK_ERRORS:
                raise
            where = f"{e.filename}: " if e.filename else ""
            click.echo(f"Error: {where}{e.strerror or e}; free some space and run again", err=True)
            sys.exit(1)
        except Terminated:
            click.echo("Terminated.", err=True)
            sys.exit(143)
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


def check_not_future(config: Config, day: date) -> None:
    from .pipeline import today

    # One day of slack: west of US Eastern, the listing dated tomorrow is out this evening.
    if (day - today(config)).days > 1:
        raise click.BadParameter(f"{day} is in the future", param_hint="--date")


def prepare_out(out: Path) -> None:
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        reason = e.strerror or e
        raise click.BadParameter(f"cannot create {out.parent}: {reason}", param_hint="--out") from None
    if not os.access(out if out.exists() else out.parent, os.W_OK) or out.is_dir():
        raise click.BadParameter(f"cannot write {out}", param_hint="--out")


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
        digest now --send          # ...and email it (once per day)
        digest preview --demo      # the email as an HTML file for a browser
        digest config              # the effective configuration
    """


@cli.command()
@config_option
@click.option("--date", "day_text", metavar="YYYY-MM-DD", help="Digest for this day (default: today).")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), help="Also write the body here.")
@click.option("--demo", is_flag=True, help="Offline sample day bundled with digest: no key, no network.")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["md", "html", "text"]),
    default="md",
    show_default=True,
    help="Which body to print: the Markdown section, or the email's HTML or plain text.",
)
@click.option(
    "--send", is_flag=True,
    help="Also email it to [email].to and post it to [channels] (once per day and destination).",
)  # fmt: skip
@click.option("--force", is_flag=True, help="With --send: send again to recipients who already got it.")
@click.option("-q", "--quiet", is_flag=True, help="No progress on stderr.")
@handle_errors
def now(
    config_path: Path | None,
    day_text: str | None,
    out: Path | None,
    demo: bool,
    fmt: str,
    send: bool,
    force: bool,
    quiet: bool,
) -> None:
    """Build today's 데일리 트렌드 and print it as Markdown on stdout.

    Progress goes to stderr, so `digest now > log.md` and `digest now | pbcopy` work.
    With --send the same run is emailed (the LLM is never paid twice).
    """
    if force and not send:
        raise click.UsageError("--force only makes sense with --send")
    progress = Progress(quiet=quiet)
    day = parse_day(day_text)
    # The demo reads the config too: one's own topics, selection and rendering on the sample day.
    config, source = load_config(config_path)
    progress.log(f"config: {source or 'built-in defaults'}")
    if demo and day is not None:
        from .demo import date_conflict

        raise click.UsageError(date_conflict())
    if day is not None and not demo:
        check_not_future(config, day)
    if out:
        prepare_out(out)  # before the run: a bad path must not cost the fetching and the LLM
    if send:
        from .delivery.channels import check_sendable_any

        check_sendable_any(config)  # before the run, so a bad setup costs no fetching and no LLM
    result = _build(config, day, demo, progress)
    progress.done()
    _report(result, progress)
    _suggest_backfill(result, progress)
    body = _body(result, fmt, config)
    click.echo(body, nl=False)
    if send:
        _send(config, result, force, progress)
    if out:
        # Last: the digest is archived, printed and sent whatever happens to this extra copy.
        from .delivery.archive import write_file
        from .errors import ArchiveError

        try:
            write_file(out, body, what=f"the --out copy {out.name}")
        except ArchiveError as e:
            raise DigestError(f"{e} (the digest was printed above)") from None


def _build(config: Config, day: date | None, demo: bool, progress: Progress) -> RunResult:
    if demo:
        return asyncio.run(_demo_run(config, progress))
    from .pipeline import today

    return asyncio.run(_run(config, day or today(config), progress))


def _body(result: RunResult, fmt: str, config: Config) -> str:
    from .reader.privacy import for_destination
    from .rendering.daily import render_html, render_text

    if fmt == "html":  # the email's bodies, as archived and sent
        return render_html(for_destination(result.digest, config, "email"), result.render)
    if fmt == "text":
        return render_text(for_destination(result.digest, config, "email"), result.render)
    return result.markdown


def _send(config: Config, result: RunResult, force: bool, progress: Progress) -> None:
    from .delivery import outcome_counts, send_everywhere

    with State.open(config.state_path) as state:
        sent = asyncio.run(send_everywhere(config, state, result.digest, force=force, progress=progress))
        if config.email.enabled and not result.digest.sample:
            state.record_run_delivery(result.run_id, outcome_counts(sent.email))
    sent.check()


@cli.command()
@config_option
@click.option("--date", "day_text", metavar="YYYY-MM-DD", help="Digest for this day (default: today).")
@click.option("--demo", is_flag=True, help="The bundled sample day: no key, no network.")
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Where to write the HTML (default: <state_dir>/archive/<date>.preview.html).",
)
@click.option("-q", "--quiet", is_flag=True, help="No progress on stderr.")
@handle_errors
def preview(
    config_path: Path | None, day_text: str | None, demo: bool, out: Path | None, quiet: bool
) -> None:
    """Build the digest like `now` and write the email's HTML to a file a browser can open.

    Prints the file's file:// URL on stdout.
    """
    from .delivery import write_preview

    progress = Progress(quiet=quiet)
    config, source = load_config(config_path)
    progress.log(f"config: {source or 'built-in defaults'}")
    if demo and parse_day(day_text) is not None:
        from .demo import date_conflict

        raise click.UsageError(date_conflict())
    if out:
        prepare_out(out)
    elif demo:
        # The run itself (in a temporary directory) would not notice an unusable state_dir.
        from .state import ensure_directory

        ensure_directory(config.state_path)
    result = _build(config, parse_day(day_text), demo, progress)
    progress.done()
    _report(result, progress)
    from .reader.privacy import for_destination

    email = for_destination(result.digest, config, "email")
    click.echo(write_preview(config.state_path, email, out, result.render).resolve().as_uri())


@cli.command()
@config_option
@click.option("--pending", is_flag=True, help="Resend deliveries that failed temporarily, from the archive.")
@click.option("-q", "--quiet", is_flag=True, help="No progress on stderr.")
@handle_errors
def send(config_path: Path | None, pending: bool, quiet: bool) -> None:
    """Send email from the archive: no fetching, no LLM.

    \b
    Example:
        digest send --pending      # after the SMTP server is back
    """
    if not pending:
        raise click.UsageError("nothing to send: use --pending (to send today's digest: digest now --send)")
    from .delivery import check_sendable, send_pending_everywhere

    config, _ = load_config(config_path)
    if config.email.enabled or not config.channels:
        check_sendable(config)
    progress = Progress(quiet=quiet)
    with State.open(config.state_path) as state:
        sent = asyncio.run(send_pending_everywhere(config, state, progress=progress))
    progress.done()
    sent.check()


@cli.command("backfill")
@config_option
@click.option(
    "--days", "n", type=click.IntRange(min=1), default=20, show_default=True,  # backfill.DEFAULT_DAYS
    help="How many announcement days to fill (at most 40: older days are outside every baseline).",
)  # fmt: skip
@click.option(
    "--date", "day_text", metavar="YYYY-MM-DD", help="Fill the days before this one (default: today)."
)
@click.option(
    "--force", is_flag=True,
    help="Count again the days already counted from the API by today's rules (a day counted from its "
    "listing by today's rules never is).",
)  # fmt: skip
@click.option("-q", "--quiet", is_flag=True, help="No progress on stderr.")
@handle_errors
def backfill_cmd(config_path: Path | None, n: int, day_text: str | None, force: bool, quiet: bool) -> None:
    """Fill the trend's statistics of the N announcement days before DATE from the arXiv API.

    For a new state, so the trend block has a baseline from its first day. No LLM, no digest,
    nothing marked as shown. One API request per day (two for a very large day), at least
    [arxiv] api_delay_seconds apart. Days already counted are skipped, a day counted from its real
    listing is never replaced (unless it was counted by other topic rules: changed keywords, or a
    newer digest), and a day that fails is left missing (run it again to retry).

    \b
    Example:
        digest backfill --days 20
    """
    from .errors import ConfigError
    from .pipeline import today
    from .state import backfill_lock
    from .trend.backfill import MAX_DAYS, backfill, failed_days_lines, plan

    if n > MAX_DAYS:
        raise click.BadParameter(f"{n} is more than {MAX_DAYS} days", param_hint="--days")
    progress = Progress(quiet=quiet)
    config, source = load_config(config_path)
    progress.log(f"config: {source or 'built-in defaults'}")
    if not config.arxiv.enabled or not config.arxiv.categories:
        raise ConfigError("arxiv: the backfill needs [arxiv] enabled = true and at least one category")
    day = parse_day(day_text) or today(config)
    check_not_future(config, day)
    days = plan(day, n)
    api = redact_url(config.arxiv.api_url)
    progress.log(
        f"backfill: {len(days)} announcement days, {days[0]} to {days[-1]}, from {api} "
        f"(one request a day, {config.arxiv.api_delay_seconds:g}s apart)"
    )
    with backfill_lock(config.state_path), State.open(config.state_path) as state:
        report = backfill(config, days, state=state, progress=progress, force=force)
    click.echo(report.summary())
    if report.failed:
        raise DigestError("\n".join(failed_days_lines(report.failed, len(days))))


@cli.command("week")
@config_option
@click.option(
    "--date", "day_text", metavar="YYYY-MM-DD",
    help="A day of the week to sum up (default: today; a Saturday or Sunday: the week just ended).",
)  # fmt: skip
@click.option(
    "--format", "fmt", type=click.Choice(["md", "html", "text"]), default="md", show_default=True,
    help="Which body to print: the Markdown, or the email's HTML or plain text.",
)  # fmt: skip
@click.option(
    "--send", is_flag=True,
    help="Also email it to [email].to and post it to [channels] (once per week and destination).",
)  # fmt: skip
@click.option("--force", is_flag=True, help="With --send: send again to recipients who already got it.")
@click.option("--demo", is_flag=True, help="The bundled sample week: no key, no network.")
@click.option("-q", "--quiet", is_flag=True, help="No progress on stderr.")
@handle_errors
def week_cmd(
    config_path: Path | None,
    day_text: str | None,
    fmt: str,
    send: bool,
    force: bool,
    demo: bool,
    quiet: bool,
) -> None:
    """Build the 주간 정리 of the announcement week (Monday to Friday) that holds DATE and print it.

    The week's most important papers from the shortlists each day's run kept (a few per topic, each
    with its takeaway: cached lines are reused), the week's counts per topic with a daily sparkline,
    its emerging terms and a short paragraph. Archived as archive/week-YYYY-Www.md (+ .html, .txt).

    \b
    Example:
        digest week --date 2026-02-06 --send
        digest week --demo         # the sample week, offline, no key
    """
    if force and not send:
        raise click.UsageError("--force only makes sense with --send")
    progress = Progress(quiet=quiet)
    config, source = load_config(config_path)
    progress.log(f"config: {source or 'built-in defaults'}")
    from .pipeline import today

    if demo:
        from . import demo as sample

        if parse_day(day_text) is not None:
            raise click.UsageError(sample.date_conflict("week"))
        if send:
            raise click.UsageError("--send cannot be used with --demo: the sample week is for reading")
        result = asyncio.run(sample.run_week_demo(progress, config))
    else:
        day = parse_day(day_text) or today(config)
        check_not_future(config, day)
        if send:
            from .delivery.channels import check_sendable_any

            check_sendable_any(config, weekly=True)  # before the run: a bad setup costs no LLM
        result = asyncio.run(_week(config, day, progress))
    progress.done()
    from .week.render import render_week_html, render_week_text

    w = result.week
    bodies = {"md": lambda: result.markdown, "html": lambda: render_week_html(w, result.render)}
    bodies["text"] = lambda: render_week_text(w, result.render)
    click.echo(bodies[fmt](), nl=False)
    if send:
        from .delivery import send_everywhere

        with State.open(config.state_path) as state:
            sent = asyncio.run(send_everywhere(config, state, w, force=force, progress=progress))
        sent.check()


async def _week(config: Config, day: date, progress: Progress) -> WeekResult:
    from .pipeline import default_clients
    from .week.roundup import run_week

    async with default_clients(config) as clients:
        return await run_week(config, day, clients=clients, progress=progress)


async def _run(config: Config, day: date, progress: Progress) -> RunResult:
    # Imported here so `digest config` and `digest --help` stay fast.
    from .pipeline import default_clients, run_digest

    async with default_clients(config) as clients:
        return await run_digest(config, day, clients=clients, progress=progress)


async def _demo_run(config: Config, progress: Progress) -> RunResult:
    from . import demo

    return await demo.run(progress, config)


def _report(result: RunResult, progress: Progress) -> None:
    d = result.digest
    u = d.usage
    progress.log(
        f"done: {len(d.entries)} items, {d.fallback_count} fallbacks, "
        f"{u.calls} LLM calls ({u.prompt_tokens}+{u.completion_tokens} tokens)"
        + ("" if d.sample else f", archived {result.archive_path}")
    )
    # Each problem was reported with its reason as it happened; this is the one line on what it means.
    if problems := d.problem_sources:
        failed = [s.name for s in problems if s.status.is_failure]
        partial = [s.name for s in problems if not s.status.is_failure]
        what = "; ".join(
            f"{label}: {', '.join(names)}"
            for label, names in (("failed", failed), ("incomplete", partial))
            if names
        )
        progress.warn(f"the digest was built all the same ({what})")


def _suggest_backfill(result: RunResult, progress: Progress) -> None:
    """On a first run (a counted day with no earlier one to compare with), say how to get a baseline now."""
    trend = result.digest.trend
    if result.digest.sample or trend is None or trend.pool is None:
        return
    if not trend.baseline_days:
        progress.log(
            f"trend: no earlier days to compare with yet (0/{trend.needed_days}); "
            "`digest backfill --days 20` fills them from the arXiv API (about a minute, no LLM)"
        )
        return
    # Days that are there but were counted by other rules (keywords edited, or a digest upgrade whose
    # matcher counts differently) are not compared: each such topic would collect a baseline for a week.
    # The hint is for a topic that has fewer such days than there are (up to what a baseline needs).
    recount = [t.label for t in trend.topics if t.baseline_days < min(trend.baseline_days, trend.needed_days)]
    if recount:
        progress.log(
            f"trend: earlier days were counted by other topic rules ({', '.join(recount)}: keywords changed "
            "or a newer digest); `digest backfill --days 20` counts them again (no LLM)"
        )


@cli.command("config")
@config_option
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of TOML-like text.")
@handle_errors
def config_cmd(config_path: Path | None, as_json: bool) -> None:
    """Print the effective configuration as TOML that loads back (`digest config > digest.toml`).

    Secrets are never printed: whether each is set is a comment next to the variable that holds it.
    """
    config, source = load_config(config_path)
    if source is not None and _is_stdout(source):
        # `digest config > digest.toml`: the shell emptied the file before it was read, so what was loaded
        # and is printed are the built-in defaults, whatever the file said before.
        click.echo(
            f"note: the output goes into {source}, which the shell empties before digest reads it: "
            "these are the built-in defaults",
            err=True,
        )
        source = None
    if as_json:
        data = masked_dump(config)
        click.echo(
            json.dumps({"source": str(source) if source else None, **data}, ensure_ascii=False, indent=2)
        )
        return
    click.echo(dump_toml(config, source), nl=False)


def _is_stdout(path: Path) -> bool:
    """Whether stdout is redirected into ``path``."""
    try:
        return os.path.samestat(os.fstat(sys.stdout.fileno()), path.stat())
    except (OSError, ValueError):  # no file descriptor (a test runner's buffer), or no such file
        return False


@cli.command("eval")
@click.option(
    "--labels",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Hand labels, one JSON object per line: {id, topics}.",
)
@click.option(
    "--papers",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    required=True,
    multiple=True,
    help="Papers as JSONL (the corpus format): --papers a.jsonl b.jsonl ...",
)
@click.argument("more_papers", nargs=-1, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--notes",
    "notes_folders",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    multiple=True,
    help="A folder of the reader's notes (repeatable): with --reader-labels, measure the personal ranking.",
)
@click.option(
    "--reader-labels",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Whether the reader wants each on-topic paper, one JSON object per line: {id, relevant}.",
)
@config_option
@handle_errors
def eval_cmd(
    labels: Path | None,
    papers: tuple[Path, ...],
    more_papers: tuple[Path, ...],
    notes_folders: tuple[Path, ...],
    reader_labels: Path | None,
    config_path: Path | None,
) -> None:
    """Measure the topic matcher against hand labels: precision and recall per topic, and for each day
    whose papers are all labelled, the count per topic against the hand count. With --notes and
    --reader-labels, also precision@k of what is shown with and without the reader's notes, and with
    the feedback simulated edits on the other labelled days would teach.

    \b
    Example:
        digest eval --labels labels.jsonl --papers arxiv-2026-02-05.jsonl arxiv-2026-02-06.jsonl
        digest eval --notes ~/vault/daily --reader-labels mine.jsonl --papers arxiv-2026-02-06.jsonl
    """
    from .reader.evaluation import evaluate_personal, format_personal
    from .selection.evaluation import evaluate, format_report

    if bool(notes_folders) != bool(reader_labels):
        raise click.UsageError("the personal ranking needs both --notes and --reader-labels")
    if labels is None and reader_labels is None:
        raise click.UsageError("give --labels (topic labels), or --notes with --reader-labels, or both")
    config, _ = load_config(config_path)
    # `--papers a.jsonl b.jsonl` leaves b.jsonl as an argument: both spellings work.
    paths = [*papers, *more_papers]
    if labels is not None:
        click.echo(format_report(evaluate(labels, paths, config)))
    if reader_labels is not None:
        warn = Progress().warn
        report = evaluate_personal(reader_labels, paths, notes_folders, config, warn=warn)
        click.echo(("\n" if labels is not None else "") + format_personal(report))


@cli.group("topics", invoke_without_command=True)
@config_option
@click.pass_context
@handle_errors
def topics_cmd(ctx: click.Context, config_path: Path | None) -> None:
    """The configured topics and their keywords; `digest topics suggest` proposes more."""
    ctx.ensure_object(dict)
    ctx.obj["config_path"] = config_path
    if ctx.invoked_subcommand is not None:
        return
    config, source = load_config(config_path)
    click.echo(f"Topics ({source or 'built-in defaults'}):")
    for key, topic in config.topics.items():
        click.echo(f"  {key:<12} {topic.label}: {', '.join(topic.keywords)}")
        if topic.exclude:
            click.echo(f"  {'':<12} exclude: {', '.join(topic.exclude)}")


@topics_cmd.command("suggest")
@click.argument("topic", required=False)
@click.option(
    "--papers",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    multiple=True,
    help="Draw and preview on these corpus days (JSONL) instead of the state's stored days: --papers a.jsonl "
    "--papers b.jsonl",
)
@click.option("-n", "limit", default=10, show_default=True, help="Suggestions per topic.")
@click.option("--accept", "accept_text", metavar="N,M", help="Add these numbers without asking.")
@click.option("--yes", is_flag=True, help="Add every suggestion listed without asking.")
@config_option
@click.pass_context
@handle_errors
def topics_suggest(
    ctx: click.Context,
    topic: str | None,
    papers: tuple[Path, ...],
    limit: int,
    accept_text: str | None,
    yes: bool,
    config_path: Path | None,
) -> None:
    """Suggest keywords for TOPIC (a configured topic key, or a new topic's name), each previewed on the
    stored days: papers a day it would add, three of them, and a warning when the word lives outside ML.
    Accepted terms are written into the config file (comments kept), with the diff shown.

    \b
    Example:
        digest topics suggest mamba
        digest topics suggest Diffusion --accept 1,2,4
        digest topics suggest --papers arxiv-2026-02-05.jsonl --yes
    """
    from .config_edit import add_keywords, write
    from .errors import InputError
    from .pipeline import today
    from .reader.topic_terms import note_terms
    from .selection.evaluation import load_papers
    from .selection.suggest import days_from_papers, days_from_state, suggest
    from .selection.suggest_view import header, lines

    config, source = load_config(config_path or (ctx.obj or {}).get("config_path"))
    if accept_text is not None and yes:
        raise click.UsageError("give --accept N,M or --yes, not both")
    if papers:
        days = days_from_papers((p.day, p.candidate) for p in load_papers(papers).values())
    else:
        if not config.state_path.is_dir():
            raise InputError(
                f"no stored days: {config.state_path} does not exist yet (run `digest now` or "
                "`digest backfill` first, or give --papers)"
            )
        # The state stays open while suggestions are drawn: a preview looks up the pools' phrase counts.
        state = ctx.with_resource(State.open(config.state_path))
        days = days_from_state(state, today(config), config.topics)
    if not days.days:
        raise InputError(
            "no stored days to draw suggestions from: run `digest backfill` (or a few `digest now`) first, "
            "or give --papers"
        )
    from .config import Topic

    plan: list[tuple[str, Topic, bool, dict[str, str]]] = []
    if topic is None:
        plan = [(k, t, False, {}) for k, t in config.topics.items()]
    elif topic in config.topics:
        plan = [(topic, config.topics[topic], False, {})]
    else:
        key = "".join(ch if ch.isalnum() or ch in "-_" else "-" for ch in topic.lower()).strip("-")
        wanted = topic.casefold()
        names = {k: (k.casefold(), t.label.casefold()) for k, t in config.topics.items()}
        match = next((k for k, n in names.items() if wanted in n), None)
        if match:
            plan = [(match, config.topics[match], False, {})]
        else:
            folders = config.reader.folders(config.notes_dir)
            related, found = note_terms(folders, topic, Progress().warn) if folders else (0, {})
            if not related:
                known = ", ".join(config.topics)
                raise InputError(
                    f"{topic!r} is not a configured topic ({known}) and no note of yours is about it"
                    + ("" if folders else " (no [reader] notes folder is configured)")
                )
            seed = topic if topic.isupper() else topic.lower()
            seed_topic = Topic(label=topic, keywords=[seed])
            plan = [(key or "topic", seed_topic, True, dict.fromkeys(found, "notes"))]
    numbered: list[tuple[str, str, str]] = []  # (topic key, label, term)
    for key, t, new, extra in plan:
        others = [o for k, o in config.topics.items() if k != key]
        v, found_s = suggest(key, t, days, limit=limit, extra=extra, new=new, others=others)
        click.echo(header(v, new=new))
        if new:
            found_s = [s for s in found_s if s.why == "notes"] + [s for s in found_s if s.why != "notes"]
        if not found_s:
            where = "주어진 논문 파일" if papers else "저장된 날"
            click.echo(f"  더할 만한 말이 없습니다: {where}에서 이 주제의 논문을 더 찾아 줄 말이 없습니다.")
        for line in lines(found_s, len(numbered) + 1, new=new, complete=days.complete):
            click.echo(line)
        numbered += [(key, t.label, s.term) for s in found_s]
    if not numbered:
        return
    chosen: list[tuple[str, str, str]] = []
    if yes:
        chosen = numbered
    elif accept_text is not None:
        try:
            picks = [int(x) for x in accept_text.replace(" ", "").split(",") if x]
        except ValueError:
            raise click.BadParameter(
                f"{accept_text!r} is not a list of numbers like 1,3", param_hint="--accept"
            ) from None
        bad = [n for n in picks if not 1 <= n <= len(numbered)]
        if bad:
            raise click.BadParameter(
                f"{bad[0]} is not one of the numbers above (1-{len(numbered)})", param_hint="--accept"
            )
        chosen = [numbered[n - 1] for n in dict.fromkeys(picks)]
    elif sys.stdin.isatty():
        chosen = [
            n for i, n in enumerate(numbered, 1) if click.confirm(f"{i}. {n[2]!r}를 {n[1]}에 더할까요?")
        ]
    else:
        click.echo("\n설정에 더하려면: --accept 1,3 (번호) 또는 --yes")
        return
    if not chosen:
        click.echo("더한 것이 없습니다.")
        return
    if source is None:
        raise InputError(
            "no config file to write to: create one with `digest config > digest.toml` and run again"
        )
    for key in dict.fromkeys(k for k, _, _ in chosen):
        label = next(lb for k, lb, _ in chosen if k == key)
        terms = [term for k, _, term in chosen if k == key]
        edit = add_keywords(source, key, label, terms, config.topics)
        if not edit.added:
            click.echo(f"[topics.{key}] already has {', '.join(terms)}: nothing written.")
            continue
        click.echo(edit.diff(), nl=False)
        if edit.wrote_defaults:
            click.echo("(the file had no [topics]: the topics in force were written out so none is lost)")
        write(edit)
        config, _ = load_config(source)
        click.echo(f"Added to [topics.{key}] in {source}: {', '.join(edit.added)}")


@cli.command("feedback")
@click.option("--reset", is_flag=True, help="Forget what was learned; the notes so far are not read again.")
@config_option
@handle_errors
def feedback_cmd(reset: bool, config_path: Path | None) -> None:
    """What digest learned from your edits to its daily-log notes: items you deleted count against
    what they had (topic, keyword, first author, source, title phrase), items you kept or wrote under
    count for it. Suggests excludes after repeated deletions; never applies one.

    \b
    Example:
        digest feedback
        digest feedback --reset
    """
    from .pipeline import today
    from .reader import feedback
    from .state import run_lock

    config, _ = load_config(config_path)
    if not config.notes_dir or not config.markdown.enabled:
        raise click.UsageError("feedback is learned from the daily-log notes: set [markdown] dir first")
    day = today(config)
    with run_lock(config.state_path), State.open(config.state_path) as state:
        if reset:
            n = feedback.reset(state.conn, day)
            click.echo(f"Forgot {n} judged items; notes up to {day} will not be learned from again.")
            return
        judged = feedback.collect(state.conn, config, state.archive_dir, day + timedelta(days=1))
        learned = feedback.learn(state.conn, day + timedelta(days=1))
    if not config.reader.enabled or not config.reader.feedback:
        click.echo("[reader] feedback is off: what is below is not used in the ranking.")
    if not learned:
        click.echo(
            f"Nothing learned yet ({judged} items judged): edit a daily-log note digest wrote -- delete "
            "the items you do not want, write under the ones you do -- and the next run learns from it."
        )
        return
    days = feedback.FEEDBACK_DAYS
    click.echo(f"Learned from {judged} judged items of the last {days} days (value: -1 … +1):")
    for line in feedback.describe(learned):
        click.echo(f"  {line}")
    for line in learned.suggestions(config):
        click.echo(f"Suggestion: {line}")


@cli.command("watch")
@click.argument("ids", nargs=-1, metavar="[ID]...")
@click.option("--remove", "removed", multiple=True, metavar="ID", help="Stop watching a paper (repeatable).")
@config_option
@handle_errors
def watch_cmd(ids: tuple[str, ...], removed: tuple[str, ...], config_path: Path | None) -> None:
    """Follow-ups on papers you logged: the arXiv ids in your notes ([reader] notes) and those added here
    are watched; a new version, code or an acceptance shows in 지난 일지 논문 소식 (daily and weekly).
    Without arguments, lists what is watched and the news of the last 30 days.

    \b
    Example:
        digest watch 2601.01234 hep-th/9901001
        digest watch --remove 2601.01234
        digest watch
    """
    from .pipeline import today
    from .reader import watch
    from .reader.notes import load_notes
    from .state import run_lock

    config, _ = load_config(config_path)
    try:
        added = [watch.parse_id(i) for i in ids]
        dropped = [watch.parse_id(i) for i in removed]
    except ValueError as e:
        raise DigestError(str(e)) from None
    day = today(config)
    folders = config.reader.folders(config.notes_dir) if config.reader.enabled else []
    warn = Progress().warn
    with run_lock(config.state_path), State.open(config.state_path) as state:
        if added or dropped:
            watch.set_watched(state.conn, dropped, False, day)
            watch.set_watched(state.conn, added, True, day)
            for i in added:
                click.echo(f"Watching {i}.")
            for i in dropped:
                click.echo(f"Not watching {i} any more (even when a note logs it).")
            return
        if folders:
            load_notes(state.conn, folders, warn)
        watched = watch.watchlist(state.conn, notes=bool(folders))
        news = watch.news_between(state.conn, day - timedelta(days=30), day)
    if not config.reader.watch:
        click.echo("[reader] watch is off: the digest shows no news on these papers.")
    if not watched:
        click.echo(
            "Nothing watched: log arXiv ids in your notes ([reader] notes) or add one with digest watch ID."
        )
        return
    click.echo(f"Watching {len(watched)} paper{'' if len(watched) == 1 else 's'}:")
    for w in sorted(watched.values(), key=lambda w: (w.note_day or w.added or day, w.arxiv_id)):
        click.echo(f"  {w.arxiv_id:<17} {w.origin}")
    if news:
        click.echo("News of the last 30 days:")
        for n in news:
            click.echo(f"  {n.arxiv_id:<17} {' · '.join(n.news)} — {n.title}")


@cli.command()
@config_option
@click.option("-n", "limit", default=10, show_default=True, help="How many runs to list.")
@click.option(
    "--check",
    "health",
    is_flag=True,
    help="Only say whether `digest serve` is alive (fresh heartbeat); exit 1 if not. For healthchecks.",
)
@handle_errors
def status(config_path: Path | None, limit: int, health: bool) -> None:
    """Last runs (date, items, tokens, deliveries), the next scheduled run and the service's state."""
    from .service.schedule import heartbeat_problem, status_report

    config, _ = load_config(config_path)
    current = datetime.now(config.tz)
    if health:
        problem = heartbeat_problem(config.state_path, current)
        if problem:
            click.echo(f"unhealthy: {problem}", err=True)
            sys.exit(1)
        click.echo("healthy")
        return
    with State.open(config.state_path) as state:
        click.echo(status_report(config, state, current, limit))


@cli.command()
@config_option
@handle_errors
def repair(config_path: Path | None) -> None:
    """Rebuild a damaged state database: a new one with every row that can still be read.

    The damaged file is moved aside (digest.sqlite3.damaged-DATE-TIME), never deleted, and what could
    not be read is listed with what its loss means. The archive is not touched. Does nothing to a sound
    database.
    """
    from .repair import repair as rebuild

    config, _ = load_config(config_path)
    result = rebuild(config.state_path)
    if result is None:
        click.echo(f"nothing to repair: {config.state_path / 'digest.sqlite3'} passes its integrity check")
        return
    for line in result.lines():
        click.echo(line)


@cli.command()
@config_option
@click.option(
    "--no-backfill", is_flag=True,
    help="Do not fill the trend's missing days from the arXiv API at start (as `digest backfill` does).",
)  # fmt: skip
@handle_errors
def serve(config_path: Path | None, no_backfill: bool) -> None:
    """Run the daily digest at [schedule].cron until stopped (SIGTERM or Ctrl-C).

    Each run is `digest now --send` (the email only when [email] enabled = true) plus a retry of
    pending sends. At start it fills the trend's statistics of the 20 announcement days before today
    that are not counted yet (`digest backfill`; nothing to do once they are), so the first digest
    already compares with a baseline. Started after today's scheduled time with today's digest not yet
    sent, it then catches up once right away. With [schedule].weekly_cron set it also sends the weekly
    roundup (`digest week --send`) at that time. Logs go to stderr.
    """
    import logging
    import os

    from .config import check_secrets
    from .service.scheduler import Service, configure_logging

    config, source = load_config(config_path)
    check_secrets(config, email=True)  # fail now, not at the first tick hours from now
    configure_logging()
    logging.getLogger("digest.serve").info("config: %s", source or "built-in defaults")
    service = Service(config)
    code = service.run(before=None if no_backfill else functools.partial(_serve_backfill, config))
    if service.stuck:
        # A run ignored cancellation: exiting normally would wait for its thread forever.
        logging.shutdown()
        os._exit(code)
    if code:
        sys.exit(code)


def _serve_backfill(config: Config) -> None:
    """The trend's days still missing before today, from the arXiv API: idempotent, so a restart asks for
    nothing once they are counted. A failure is logged and the service starts all the same."""
    from .pipeline import today
    from .service.scheduler import LoggingProgress
    from .state import backfill_lock
    from .trend.backfill import DEFAULT_DAYS, backfill, failed_days_lines, still_missing

    log = logging.getLogger("digest.serve")
    if not config.arxiv.enabled or not config.arxiv.categories:
        return
    try:
        with backfill_lock(config.state_path), State.open(config.state_path) as state:
            days = still_missing(config, state, today(config))
            if not days:
                log.info("trend history: the %d announcement days before today are counted", DEFAULT_DAYS)
                return
            log.info(
                "trend history: %d of the %d announcement days before today are not counted; filling them "
                "from the arXiv API (one request a day, %gs apart)",
                len(days), DEFAULT_DAYS, config.arxiv.api_delay_seconds,
            )  # fmt: skip
            report = backfill(config, days, state=state, progress=LoggingProgress())
    except DigestError as e:  # a backfill already running on this state, say
        log.warning("trend history not filled: %s", e)
        return
    log.info(report.summary())
    if report.failed:
        for line in failed_days_lines(report.failed, len(days))[:-1]:
            log.warning("trend history: %s", line)
        log.warning("trend history: the next start (or `digest backfill`) asks for these days again")


@cli.command()
@config_option
@click.option("--timeout", default=10.0, show_default=True, help="Seconds each probe may take.")
@handle_errors
def check(config_path: Path | None, timeout: float) -> None:
    """Probe the config, sources, LLM endpoint and SMTP server; exit 1 if an essential one fails.

    Nothing is summarized or sent: sources get one GET, the LLM `GET /models` and one small chat
    request (which response format it accepts, how long a request takes), SMTP a login and QUIT.
    """
    from .check import exit_code, format_table, run_checks

    config, source = load_config(config_path)
    probes = run_checks(config, source, timeout=timeout)
    click.echo(format_table(probes))
    if code := exit_code(probes):
        sys.exit(code)


@cli.command("site")
@config_option
@click.option(
    "--out", type=click.Path(file_okay=False, path_type=Path),
    help="Where to write the site (default: <state_dir>/site).",
)  # fmt: skip
@handle_errors
def site_cmd(config_path: Path | None, out: Path | None) -> None:
    """Build the static web archive: every digest as a page, the topic trends as a chart, a search.

    Static files only (no server, no CDN): open index.html, or publish the folder (GitHub Pages).
    Prints the index's file:// URL.

    \b
    Example:
        digest site --out public/
    """
    from .site import build_site

    config, _ = load_config(config_path)
    target = out or config.state_path / "site"
    try:
        written = build_site(config, target)
    except OSError as e:
        raise DigestError(f"{target}: cannot write the site: {e.strerror or e}") from None
    click.echo(f"{len(written)} files", err=True)
    click.echo((target / "index.html").resolve().as_uri())


NOT_ARCHIVED = (
    "a demo (--demo) runs in a temporary state and archives nothing; `digest now` builds and archives "
    "today's digest"
)

# The archive files of one day, by --format: archive/YYYY-MM-DD.md (pipeline), .html and .txt (email).
_ARCHIVE_SUFFIXES = {"md": ".md", "html": ".html", "text": ".txt"}


def _archived_days(archive_dir: Path) -> dict[date, list[str]]:
    """Archived days, newest first, with the formats each has (sample and preview files left out)."""
    days: dict[date, list[str]] = {}
    for path in archive_dir.glob("????-??-??.*") if archive_dir.is_dir() else []:
        stem, _, suffix = path.name.partition(".")
        fmt = next((f for f, s in _ARCHIVE_SUFFIXES.items() if s == f".{suffix}"), None)
        try:
            day = date.fromisoformat(stem)
        except ValueError:
            continue
        if fmt:
            days.setdefault(day, []).append(fmt)
    order = list(_ARCHIVE_SUFFIXES)
    return {d: sorted(days[d], key=order.index) for d in sorted(days, reverse=True)}


@cli.command()
@config_option
@click.option("-n", "limit", default=30, show_default=True, help="How many days to list.")
@handle_errors
def history(config_path: Path | None, limit: int) -> None:
    """List the archived digests, newest first: items, deliveries and the formats kept."""
    from .rendering.daily import day_label
    from .service.schedule import delivery_counts

    config, _ = load_config(config_path)
    with State.open(config.state_path) as state:
        days = list(_archived_days(state.archive_dir).items())[:limit]
        # Oldest first, so the latest successful run of a day wins.
        items = {r.day: r.items for r in reversed(state.recent_runs(1000)) if r.status in ("ok", "partial")}
        sent = {d: delivery_counts(state, d) for d, _ in days}
    if not days:
        click.echo(f"No archived digests in {config.state_path / 'archive'} yet: {NOT_ARCHIVED}.")
        return
    click.echo(f"{'day':<18}{'items':>6}{'sent':>6}{'pend.':>6}{'fail':>6}  formats")
    for day, formats in days:
        c = sent[day]
        n = str(items[day]) if day in items else "?"
        click.echo(
            f"{day_label(day):<18}{n:>6}{c['sent']:>6}{c['pending']:>6}{c['failed']:>6}  {' '.join(formats)}"
        )


@cli.command()
@click.argument("day_text", metavar="DATE")
@config_option
@click.option(
    "--format",
    "fmt",
    type=click.Choice(list(_ARCHIVE_SUFFIXES)),
    default="md",
    show_default=True,
    help="The Markdown section, or the email's HTML or plain text.",
)
@handle_errors
def show(day_text: str, config_path: Path | None, fmt: str) -> None:
    """Print the archived digest of DATE (YYYY-MM-DD, or `latest`)."""
    config, _ = load_config(config_path)
    with State.open(config.state_path) as state:
        archive_dir = state.archive_dir
    days = _archived_days(archive_dir)
    if day_text == "latest":
        day = next((d for d, formats in days.items() if fmt in formats), None)
        if day is None:
            hint = f" ({NOT_ARCHIVED})" if not days else ""
            raise DigestError(f"no archived digest with a {fmt} file in {archive_dir}{hint}")
    else:
        try:
            day = date.fromisoformat(day_text)
        except ValueError:
            msg = f"{day_text!r} is not a date like 2025-10-14"
            raise click.BadParameter(msg, param_hint="DATE") from None
    if fmt not in days.get(day, []):
        have = days.get(day)
        hint = f"it has {', '.join(have)}" if have else "`digest history` lists the archived days"
        hint = hint if days else NOT_ARCHIVED
        raise DigestError(f"no {fmt} archive for {day} in {archive_dir} ({hint})")
    path = archive_dir / f"{day.isoformat()}{_ARCHIVE_SUFFIXES[fmt]}"
    click.echo(path.read_text(encoding="utf-8"), nl=False)


def main() -> None:
    # Libraries log retries at WARNING; the run reports them itself, one plain line each.
    logging.basicConfig(level=logging.WARNING, format="%(name)s: %(message)s")
    logging.getLogger("stamina").setLevel(logging.ERROR)
    signal.signal(signal.SIGTERM, _terminate)  # `digest serve` installs its own
    cli()


if __name__ == "__main__":
    main()
