"""Benchmark: how fast the ``sarcotrial`` command answers (start-up included).

Run on demand, never in the test suite::

    python bench/cli.py                     # every command below, 15 runs each
    python bench/cli.py --runs 30           # steadier medians
    python bench/cli.py --floor             # also Python alone, Typer alone and a bare Typer app
    python bench/cli.py --baseline 0e75508  # also the same commands as that commit's source runs them

Each command runs in a fresh process (as a user's shell starts it), with its output thrown away;
the table gives the median, the fastest and the slowest wall-clock time over the runs, and the
goal where there is one (``--help`` under 0.3 s, a ``rules``/``ctcae`` search under 0.5 s). With
``--baseline COMMIT`` the source of that commit (``git archive``, into a temporary folder) runs each
command too, with the same interpreter and packages, run for run alternating with today's, so that
both see the same load. The floor rows show what the interpreter and the command-line library cost before any of SarcoTrial's
own code runs. Where the time goes inside one command::

    python -X importtime -m sarcotrial.cli.main --help 2> imports.txt

Results: docs/benchmarks/cli.md.
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# (label, arguments after the program, goal in seconds or None)
COMMANDS = [
    ("sarcotrial --help", ["--help"], 0.3),
    ("sarcotrial --version", ["--version"], None),
    ("sarcotrial rules --help", ["rules", "--help"], 0.3),
    ("sarcotrial rules histotype leiomyo", ["rules", "histotype", "leiomyo"], 0.5),
    ("sarcotrial rules fnclcc --differentiation 3 --mitoses 12 --necrosis-percent 30",
     ["rules", "fnclcc", "--differentiation", "3", "--mitoses", "12", "--necrosis-percent", "30"], 0.5),
    ("sarcotrial rules stage --site extremity --size-cm 8 --grade 3",
     ["rules", "stage", "--site", "extremity", "--size-cm", "8", "--grade", "3"], 0.5),
    ("sarcotrial rules eqd2 --dose 50 --fractions 25", ["rules", "eqd2", "--dose", "50", "--fractions", "25"], 0.5),
    ('sarcotrial ctcae show "Dermatitis radiation"', ["ctcae", "show", "Dermatitis radiation"], 0.5),
    ("sarcotrial stats binomial --successes 7 --n 33 --null 0.1",
     ["stats", "binomial", "--successes", "7", "--n", "33", "--null", "0.1"], None),
    ("sarcotrial status (an empty study)", ["status", "--db", "{db}"], None),
]

FLOOR = [
    ("python -c pass", ["-c", "pass"]),
    ("python -c 'import typer'", ["-c", "import typer"]),
    ("python -c 'import typer, rich.console'", ["-c", "import typer, rich.console"]),
    ("a Typer app of 60 commands: --help", ["-c", "{bare}"]),
]

BARE_APP = """
import typer
app = typer.Typer(no_args_is_help=True, add_completion=False)
for i in range(60):
    def f(x: str = typer.Option('a', '--x', help='An option.')) -> None:
        'A command.'
    app.command(f'command-{i}')(f)
app(['--help'])
"""


def sarcotrial_command() -> list[str]:
    """The installed entry point beside this interpreter, else ``python -m sarcotrial.cli.main``."""
    script = Path(sys.executable).with_name("sarcotrial")
    return [str(script)] if script.exists() else [sys.executable, "-m", "sarcotrial.cli.main"]


def once(argv: list[str], env: dict[str, str]) -> tuple[float, float]:
    """Wall-clock and CPU (user + system) seconds of one run."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, check=False)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def timed(argv: list[str], runs: int, env: dict[str, str], other: tuple[list[str], dict[str, str]] | None = None):
    """``runs`` (wall, CPU) times of ``argv`` (and of ``other``, run for run alternating with it)."""
    once(argv, env)  # warm the caches
    if other:
        once(*other)
    times, others = [], []
    for _ in range(runs):
        times.append(once(argv, env))
        if other:
            others.append(once(*other))
    return times, others


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=15, help="Runs per command (default 15).")
    parser.add_argument("--floor", action="store_true", help="Also time Python alone, Typer alone and a bare Typer app.")
    parser.add_argument("--baseline", help="A git commit whose source runs each command too (for before/after).")
    args = parser.parse_args()

    program = sarcotrial_command()
    load = [os.getloadavg()[0]]
    with tempfile.TemporaryDirectory() as folder:
        env = {**os.environ, "COLUMNS": "100", "SARCOTRIAL_HOME": folder}
        for key in ("DATABASE_URL", "SARCOTRIAL_KEY", "SARCOTRIAL_KEY_FILE"):
            env.pop(key, None)
        base_env = None
        if args.baseline:
            source = Path(folder) / "baseline"
            source.mkdir()
            archive = subprocess.run(["git", "-C", str(ROOT), "archive", args.baseline, "src"], capture_output=True,
                                     check=True).stdout
            subprocess.run(["tar", "-x", "-C", str(source)], input=archive, check=True)
            base_env = {**env, "PYTHONPATH": str(source / "src")}
        db = str(Path(folder) / "bench.sqlite")
        subprocess.run(program + ["init", "--protocol", "sprint", "--db", db], stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL, env=env, check=True)
        rows = []
        if args.floor:
            for label, argv in FLOOR:
                argv = [a.replace("{bare}", BARE_APP) for a in argv]
                rows.append((label, *timed([sys.executable, *argv], args.runs, env), None))
        for label, argv, goal in COMMANDS:
            argv = [a.replace("{db}", db) for a in argv]
            other = ([sys.executable, "-m", "sarcotrial.cli.main", *argv], base_env) if base_env else None
            rows.append((label, *timed(program + argv, args.runs, env, other), goal))
        load.append(os.getloadavg()[0])

    print(f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}; load average "
          f"{load[0]:.2f} at the start, {load[1]:.2f} at the end; {args.runs} runs each; seconds")
    print("wall: wall clock (median, min, max); cpu: user + system time of the process (median), which the "
          "machine's other load disturbs less")
    width = max(len(label) for label, *_ in rows)
    base = f"  {'wall ' + args.baseline:>14} {'cpu':>6}" if args.baseline else ""
    print(f"{'command':<{width}}    wall    min    max    cpu{base}  goal (wall)")
    for label, times, others, goal in rows:
        wall = [w for w, _ in times]
        verdict = "" if goal is None else f"< {goal:g} {'met' if statistics.median(wall) < goal else 'NOT MET'}"
        before = (f"  {statistics.median(w for w, _ in others):14.3f} {statistics.median(c for _, c in others):6.3f}"
                  if others else (" " * 23 if args.baseline else ""))
        print(f"{label:<{width}}  {statistics.median(wall):6.3f} {min(wall):6.3f} {max(wall):6.3f} "
              f"{statistics.median(c for _, c in times):6.3f}{before}  {verdict}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
