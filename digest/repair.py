"""``digest repair``: a new state database from a damaged one, with every row that can still be read.

The damaged file (with its WAL, which holds the latest commits) is moved aside, never deleted; a new
state is created and upgraded as usual, and each of its tables is filled from the damaged copy's,
row by row until a damaged page stops the reading. What could not be read is listed with what its loss
means to the reader. The archive is never touched: every digest stays there.
"""

from __future__ import annotations

import os
import sqlite3
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from .errors import StateDamagedError, StateError
from .state import DB_NAME, State, ensure_directory, run_lock

# What losing a table's rows means, in the reader's terms.
LOSS = {
    "seen": "a paper shown before may be shown once more",
    "takeaways": "those cached takeaways are paid for once more",
    "deliveries": "a day whose email was already sent may be sent once more",
    "week_deliveries": "a week whose roundup was already sent may be sent once more",
    "runs": "`digest status` forgets those runs",
    "day_stats": "the trend loses those days: `digest backfill` counts them again",
    "day_phrases": "the emerging terms lose those days: `digest backfill` counts them again",
    "day_candidates": "the weekly roundup loses those days' shortlists",
    "llm_holds": "a digest held for the LLM is no longer held",
}
_BATCH = 500


@dataclass
class TableResult:
    name: str
    kept: int = 0
    error: str = ""  # why reading stopped early; empty when every row was read


@dataclass
class RepairResult:
    damaged_copy: Path
    tables: list[TableResult] = field(default_factory=list)

    def lines(self) -> list[str]:
        out = [f"moved the damaged database to {self.damaged_copy}"]
        whole = [t for t in self.tables if not t.error and t.kept]
        if whole:
            out.append("kept whole: " + ", ".join(f"{t.name} ({t.kept} rows)" for t in whole))
        for t in self.tables:
            if t.error:
                loss = LOSS.get(t.name, "it is rebuilt as digest runs")
                read = f"kept {t.kept} rows read before the damage ({t.error})"
                out.append(f"damaged: {t.name}: {read}; {loss}")
        if not any(t.error for t in self.tables):
            out.append("every row could be read")
        return out


def _move_aside(path: Path) -> Path:
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    target = path.with_name(f"{path.name}.damaged-{stamp}")
    for suffix in ("", "-wal", "-shm"):  # together: the WAL holds the latest commits
        src = path.with_name(path.name + suffix)
        if src.exists():
            os.replace(src, target.with_name(target.name + suffix))
    return target


def _copy_table(old: sqlite3.Connection, new: sqlite3.Connection, table: str) -> TableResult:
    result = TableResult(table)
    columns = [r[1] for r in new.execute(f'pragma table_info("{table}")')]
    try:
        have = {r[1] for r in old.execute(f'pragma table_info("{table}")')}
    except sqlite3.DatabaseError as e:
        result.error = str(e)
        return result
    common = [c for c in columns if c in have]
    if not common:
        return result
    names = ", ".join(f'"{c}"' for c in common)
    insert = f'insert or ignore into "{table}" ({names}) values ({", ".join("?" * len(common))})'
    batch: list[tuple[object, ...]] = []
    try:
        for row in old.execute(f'select {names} from "{table}"'):
            batch.append(tuple(row))
            if len(batch) >= _BATCH:
                new.executemany(insert, batch)
                result.kept += len(batch)
                batch.clear()
    except sqlite3.DatabaseError as e:
        result.error = str(e)
    new.executemany(insert, batch)
    result.kept += len(batch)
    return result


def repair(directory: str | Path) -> RepairResult | None:
    """Rebuild ``directory``'s state database from what can be read; None when it is sound."""
    directory = ensure_directory(Path(directory).expanduser())
    path = directory / DB_NAME
    if not path.exists():
        raise StateError(f"no state database at {path}: nothing to repair")
    with run_lock(directory):  # no run may write the file while it is moved
        try:
            with State.open(directory):
                return None
        except StateDamagedError:
            pass
        damaged = _move_aside(path)
        result = RepairResult(damaged)
        with State.open(directory) as fresh:
            old = sqlite3.connect(damaged, isolation_level=None)
            try:
                tables = [
                    r[0]
                    for r in fresh.conn.execute(
                        "select name from sqlite_master where type = 'table' "
                        "and name not like 'sqlite_%' and name != '_migrations' order by name"
                    )
                ]
                with fresh.transaction() as db:
                    result.tables = [_copy_table(old, db, t) for t in tables]
            finally:
                old.close()
    return result
