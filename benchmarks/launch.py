"""Run one command and print its wall time, CPU time and peak RSS as JSON (used by benchmarks/run.py).

    python -S benchmarks/launch.py STDOUT STDERR -- COMMAND...

Why a separate process: a child's peak RSS as the kernel reports it (wait4's ru_maxrss) includes the
process it was forked from up to its exec, so a command started by the benchmark itself, which holds a
whole scaled day in memory, would inherit the benchmark's size. Started from this small process, the
figure is the command's own.
"""

import json
import os
import subprocess
import sys
import time


def main() -> None:
    out, err, sep, *cmd = sys.argv[1:]
    if sep != "--" or not cmd:
        sys.exit("usage: launch.py STDOUT STDERR -- COMMAND...")
    with open(out, "wb") as stdout, open(err, "wb") as stderr:
        started = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=stdout, stderr=stderr, stdin=subprocess.DEVNULL)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - started
    proc.returncode = os.waitstatus_to_exitcode(status)
    json.dump(
        {
            "wall": wall,
            "cpu": usage.ru_utime + usage.ru_stime,
            "rss_mb": usage.ru_maxrss / 1024,
            "returncode": proc.returncode,
        },
        sys.stdout,
    )


if __name__ == "__main__":
    main()
