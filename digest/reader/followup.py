"""The run's follow-up stage: news on the papers the reader logged, for the 지난 일지 논문 소식 block.

Costs nothing on a day none of them changed: the listing's replacements and Hugging Face's papers are
matched against the watchlist as they are. When a watched paper was replaced, its comment (where an
acceptance or a code link is said) comes from ONE batched arXiv API request for all of them; a failed
request is one warning, the rest of the news is still said, and the comment is asked again next run.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from datetime import date
from typing import TYPE_CHECKING

from ..config import Config
from ..models import Item, PaperNews
from ..progress import Progress
from ..sources.arxiv_lookup import lookup
from ..state import State
from . import watch
from .notes import load_notes

if TYPE_CHECKING:
    import arxiv


async def follow_up(
    config: Config,
    day: date,
    *,
    replacements: Sequence[Item],
    items: Sequence[Item],
    state: State,
    progress: Progress,
    arxiv_client: arxiv.Client | None = None,
    notes_read: bool = False,
) -> tuple[PaperNews, ...]:
    """The day's news on watched papers (said once: a later day does not repeat it, a re-run does)."""
    reader = config.reader
    if not reader.watch:
        return ()
    folders = reader.folders(config.notes_dir) if reader.enabled else []
    try:
        if folders and not notes_read:  # the ranking did not read them this run (its weight is 0)
            load_notes(state.conn, folders, progress.warn)
        watched = watch.watchlist(state.conn, notes=bool(folders))
        if not watched:
            return watch.news_between(state.conn, day, day)
        waiting = watch.pending(state.conn, day)
        replaced = {i.arxiv_id: i.version or 0 for i in replacements if i.arxiv_id in watched}
        said = watch.versions_said(state.conn)
        # A version said already was looked up when it was said (a re-run of the day asks nothing again);
        # one whose comment the API did not give then is still waiting.
        fresh = [i for i, v in replaced.items() if not v or v > said.get(i, 0)]
        ask = [i for i in dict.fromkeys([*fresh, *waiting]) if i in watched]
        found = await lookup(config, ask, arxiv_client=arxiv_client) if ask else None
        details = found.items if found else {}
        if found is not None:
            papers = f"{len(ask)} watched paper{'' if len(ask) == 1 else 's'}"
            requests = f"{found.requests} arXiv API request{'' if found.requests == 1 else 's'}"
            line = f"watch: {papers} asked in {requests}"
            if found.error:
                progress.warn(f"{line}; {found.error}; their comments are asked again next run")
            else:
                progress.log(line + ("s" if found.requests != 1 else ""))
        facts = watch.news_facts(list(watched), replacements, items, details)
        new_facts = watch.record(state.conn, day, facts, watched)
        if found is not None:
            # Asked again next run: all of them when the request failed, else those past its limit. An id
            # the API answered without is not asked again (a quiet day costs no request).
            again = ask if found.error else found.left_out
            still = {i: replaced.get(i, waiting.get(i, 0)) for i in again}
            watch.set_pending(state.conn, day, still, done=[i for i in ask if i not in again])
        news = watch.news_between(state.conn, day, day)
    except (OSError, sqlite3.Error) as e:
        progress.warn(f"watch: no news on logged papers this run: {e}")
        return ()
    progress.log(
        f"watch: {len(watched)} papers watched, {len(replaced)} replaced today, {new_facts} new facts, "
        f"{len(news)} papers with news"
    )
    return news
