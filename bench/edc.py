"""Benchmark: the EDC core's write path, and the demo's build time against an earlier version.

Run on demand, never in the test suite::

    python bench/edc.py                        # the write path on SQLite (and the demo, this version)
    python bench/edc.py --baseline 5f01460     # also the demo built by that commit, for the ratio
    python bench/edc.py --postgres URL         # the write path on PostgreSQL too

The write path: a study with one treated patient (enrolled, 25 fractions, surgery), then each
action timed ``--repeat`` times through the services as a user's action runs: one transaction with
its form checks, pathway rules, derived values, protocol edit checks, schedule and audit entries.
The goal is a median under 50 ms for recording one form. The demo is built in a fresh process
(``sarcotrial demo``) so import and start-up count as a user sees them; the baseline is built from
a ``git worktree`` of the given commit with the same interpreter and packages. Results:
docs/benchmarks/edc.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _study(url: str):
    from sarcotrial.services.study import Actor, StudyDB
    from tests.helpers import treated

    study, _ = StudyDB.create(url, "sprint", Actor("bench", "bench"))
    subject = treated(study)
    return study, subject


def write_path(url: str, repeat: int) -> list[tuple[str, float, float]]:
    """(action, median ms, 95th percentile ms) for each timed action."""
    from sarcotrial.services import forms
    from tests.helpers import DOCTOR

    study, subject = _study(url)
    start = dt.date(2025, 4, 20)
    actions = {
        "record adverse_event (placed at a visit by its date)": lambda i: forms.record(
            study, DOCTOR, subject, "adverse_event",
            {"term": "Fatigue", "grade": 1, "onset_date": start + dt.timedelta(days=i % 300)}),
        "record follow_up (edit check ned_after_relapse)": lambda i: forms.record(
            study, DOCTOR, subject, "follow_up",
            {"visit_date": start + dt.timedelta(days=i % 300), "disease_status": "ned"}, visit="unscheduled"),
        "correct surgery (re-derives, deviations, checks, re-plans 25 visits)": lambda i: forms.correct(
            study, DOCTOR, subject, "surgery", {"surgery_date": dt.date(2025, 4, 17 + i % 2)}, reason="bench"),
    }
    out = []
    for label, action in actions.items():
        times = []
        for i in range(repeat):
            t0 = time.perf_counter()
            action(i + 1)
            times.append((time.perf_counter() - t0) * 1000)
        times.sort()
        out.append((label, statistics.median(times), times[int(0.95 * (len(times) - 1))]))
    study.close()
    return out


def demo_seconds(src: Path, out: Path) -> tuple[float, float]:
    """Wall-clock and CPU seconds (user + system, of the demo's process) to build the demo."""
    import resource

    env = {**os.environ, "PYTHONPATH": str(src), "SARCOTRIAL_KEY": "", "SARCOTRIAL_KEY_FILE": ""}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "sarcotrial.cli.main", "demo", "--out", str(out)], env=env, check=True,
                   stdout=subprocess.DEVNULL, cwd=out.parent)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=100)
    parser.add_argument("--baseline", help="a git commit to build the demo with, for the time ratio")
    parser.add_argument("--postgres", help="a PostgreSQL URL (an empty database) for the write path")
    parser.add_argument("--no-demo", action="store_true")
    parser.add_argument("--demo-runs", type=int, default=2, help="demo builds per version (the best is kept)")
    args = parser.parse_args()
    from sarcotrial.store.crypto import generate_key

    os.environ["SARCOTRIAL_KEY"] = generate_key()
    print(f"Machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, Python "
          f"{platform.python_version()}\n")
    targets = [("SQLite", None)] + ([("PostgreSQL", args.postgres)] if args.postgres else [])
    print("| database | action | median ms | 95th pct ms |\n|---|---|---|---|")
    for name, url in targets:
        with tempfile.TemporaryDirectory() as tmp:
            for label, median, p95 in write_path(url or f"sqlite:///{tmp}/bench.sqlite", args.repeat):
                print(f"| {name} | {label} | {median:.1f} | {p95:.1f} |")
    if args.no_demo:
        return
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp) / "baseline"
        if args.baseline:
            subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", str(base), args.baseline],
                           check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            runs: dict[str, list[tuple[float, float]]] = {"now": [], "before": []}
            for i in range(args.demo_runs):  # alternated, so both see the same machine
                runs["now"].append(demo_seconds(ROOT / "src", Path(tmp) / f"demo-now-{i}"))
                if args.baseline:
                    runs["before"].append(demo_seconds(base / "src", Path(tmp) / f"demo-before-{i}"))
        finally:
            if args.baseline:
                subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(base)], check=False)
        now_wall, now_cpu = min(w for w, _ in runs["now"]), min(c for _, c in runs["now"])
        print(f"\nDemo build (this version): {now_wall:.1f} s wall, {now_cpu:.1f} s CPU (best of {args.demo_runs})")
        if args.baseline:
            wall, cpu = min(w for w, _ in runs["before"]), min(c for _, c in runs["before"])
            print(f"Demo build ({args.baseline}): {wall:.1f} s wall, {cpu:.1f} s CPU; ratio {now_wall / wall:.2f} "
                  f"wall, {now_cpu / cpu:.2f} CPU")


if __name__ == "__main__":
    main()
