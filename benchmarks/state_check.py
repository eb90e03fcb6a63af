"""What the integrity check on open costs: ``State.open`` and its ``PRAGMA quick_check`` on states of
growing size (every command opens the state once or a few times).

    python benchmarks/state_check.py                 # 10, 40 and 160 MB states, 5 opens each
    python benchmarks/state_check.py --sizes 40 --repeat 20

The state is filled the way a long-running one grows: compressed HTTP bodies (listings, feeds), one
day's phrases a day for 60 days, and the seen/takeaway rows of those days. The first open after writing
is not timed (the page cache is warm, as it is for a command run after another).
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import statistics
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

from digest.state import DB_NAME, State


def fill(directory: Path, megabytes: int) -> None:
    rng = os.urandom
    with State.open(directory) as state:
        day0 = date(2026, 1, 1)
        phrases_per_day = 400 * megabytes // 10
        with state.transaction() as db:
            for d in range(60):
                day = (day0 + timedelta(days=d)).isoformat()
                db.executemany(
                    "insert into day_phrases values (?, ?, ?, ?)",
                    [(day, f"phrase {d} {i} {rng(4).hex()}", 2, 2) for i in range(phrases_per_day)],
                )
                db.executemany(
                    "insert or ignore into seen values (?, 1, ?, ?)",
                    [(f"arxiv:26{d:02d}.{i:05d}", f"Title {i}", day) for i in range(10)],
                )
        # The rest as HTTP bodies: random bytes do not compress, as a compressed listing would not again.
        n = 0
        while (directory / DB_NAME).stat().st_size < megabytes * 1_000_000:
            state.store_response(f"https://feed.invalid/{n}", None, None, rng(500_000))
            n += 1


def measure(directory: Path, repeat: int) -> tuple[float, float]:
    opens, checks = [], []
    for _ in range(repeat + 1):
        started = time.perf_counter()
        State.open(directory).close()
        opens.append(time.perf_counter() - started)
        conn = sqlite3.connect(directory / DB_NAME)
        started = time.perf_counter()
        conn.execute("pragma quick_check(20)").fetchall()
        checks.append(time.perf_counter() - started)
        conn.close()
    return statistics.median(opens[1:]), statistics.median(checks[1:])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10, 40, 160], help="state sizes in MB")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    print(f"{'state':>8}  {'open (ms)':>10}  {'quick_check (ms)':>17}")
    for size in args.sizes:
        with tempfile.TemporaryDirectory() as tmp:
            directory = Path(tmp)
            fill(directory, size)
            real = (directory / DB_NAME).stat().st_size / 1e6
            opened, checked = measure(directory, args.repeat)
            print(f"{real:>6.0f}MB  {opened * 1000:>10.1f}  {checked * 1000:>17.1f}")


if __name__ == "__main__":
    main()
