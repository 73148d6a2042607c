"""Benchmark: SarcoTrial's DVH engine against dicompyler-core 0.5.6, speed and accuracy.

Run on demand, never in the test suite::

    python bench/dvh.py                      # prints Markdown tables (docs/benchmarks/dvh.md)
    python bench/dvh.py --repeat 7

dicompyler-core 0.5.6 needs pydicom < 3, which SarcoTrial does not use: it runs in its own
virtual environment, called through a subprocess. Set it up once::

    python3 -m venv /tmp/dchenv
    /tmp/dchenv/bin/pip install "pydicom<3" dicompyler-core==0.5.6 numpy matplotlib

and point the benchmark at its interpreter with ``--dicompyler-python PATH`` or the environment
variable ``SARCOTRIAL_DICOMPYLER_PYTHON`` (default ``/tmp/dchenv/bin/python``).

What is measured, in one run of this script (so the ratios compare like with like):

- the breast IMRT plan (shared data ``breast-imrt-example``): time per structure, the two engines
  interleaved (``--repeat`` rounds, in each every structure once by SarcoTrial and then once by
  dicompyler-core, whose worker process stays running; each engine's best round kept: a change of
  the shared machine's load falls on both alike), on data already read into memory (dicompyler-core's
  ``get_dvh`` is given pydicom datasets, not file names); SarcoTrial with ``end_cap="none"``
  (as the planning system); the planning system's stored DVHs as the reference for volume and
  mean dose (doses stored as percent of the 14 Gy prescription); the load average is printed;
- the nine in a row: each engine's round of the nine consecutive structures (SarcoTrial in-process,
  dicompyler-core in its worker), the rounds alternating, best of ``--repeat``: how one DVH run of a plan
  computes them, without either engine finding the caches emptied by the other between two structures;
- the whole command on the breast plan: ``sarcotrial dvh rtss.dcm rtdose.dcm --json`` (every
  structure, start-up and file reading included) against a script that does the same with
  dicompyler-core (read both files, ``get_dvh`` of every ROI, print its statistics), the two
  processes alternating, best of ``--repeat`` runs of each;
- the Nelms et al. analytical set (``nelms-dvh``): every case of the authors' table on the 1 and
  2 mm dose grids, both engines, errors of volume, Dmean, D95, D5 and D99 against the analytical
  values (SarcoTrial with ``end_cap="half-slice"``, as the analytical answers; dicompyler-core's
  full slabs are the same extent), and the time of a few cases.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = Path(os.environ.get("SARCOTRIAL_SHARED_DATA", ROOT.parent / "shared" / "data"))
DEFAULT_DCH = os.environ.get("SARCOTRIAL_DICOMPYLER_PYTHON", "/tmp/dchenv/bin/python")
TIMED_NELMS = ["Sphere_10_0", "Cylinder_20_X10", "Cone_10_X05Z05", "RtCone_20_0", "Sphere_02_0"]

# Runs inside dicompyler-core's own environment. Input: JSON {"jobs": [...], "repeat": n} on stdin.
WORKER = r'''
import json, sys, time, warnings
warnings.simplefilter("ignore")
import pydicom
import dicompylercore
from dicompylercore import dvhcalc
args = json.load(sys.stdin)
cache = {}
def load(path):
    if path not in cache:
        cache[path] = pydicom.dcmread(path)
    return cache[path]
out = {"version": dicompylercore.__version__, "pydicom": pydicom.__version__, "results": {}}
for job in args["jobs"]:
    rtss, rtdose = load(job["rtss"]), load(job["rtdose"])
    best = None
    for _ in range(job.get("repeat", 1)):
        t = time.perf_counter()
        d = dvhcalc.get_dvh(rtss, rtdose, job["roi"])
        dt = time.perf_counter() - t
        best = dt if best is None else min(best, dt)
    res = {"time": best, "volume": float(d.volume), "mean": float(d.mean), "min": float(d.min), "max": float(d.max)}
    for q in ("D99", "D95", "D5"):
        try:
            res[q.lower()] = float(d.statistic(q).value)
        except Exception:
            res[q.lower()] = None
    out["results"][job["id"]] = res
json.dump(out, sys.stdout)
'''


# The same, one job a line (JSON in, JSON out), kept running: its jobs are then timed between SarcoTrial's.
LOOP = r'''
import json, sys, time, warnings
warnings.simplefilter("ignore")
import pydicom
import dicompylercore
from dicompylercore import dvhcalc
cache = {}
def load(path):
    if path not in cache:
        cache[path] = pydicom.dcmread(path)
    return cache[path]
print(json.dumps({"version": dicompylercore.__version__, "pydicom": pydicom.__version__}), flush=True)
for line in sys.stdin:
    job = json.loads(line)
    rtss, rtdose = load(job["rtss"]), load(job["rtdose"])
    t, c = time.perf_counter(), time.process_time()
    d = dvhcalc.get_dvh(rtss, rtdose, job["roi"])
    dt, dc = time.perf_counter() - t, time.process_time() - c
    print(json.dumps({"time": dt, "cpu": dc, "volume": float(d.volume), "mean": float(d.mean)}), flush=True)
'''


class Interleaved:
    """dicompyler-core in its own process, asked for one DVH at a time (between SarcoTrial's)."""

    def __init__(self, python: str):
        self.proc = subprocess.Popen([python, "-c", LOOP], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self.info = json.loads(self.proc.stdout.readline())

    def run(self, job: dict) -> dict:
        self.proc.stdin.write(json.dumps(job) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            sys.exit("dicompyler-core worker stopped")
        return json.loads(line)

    def close(self) -> None:
        self.proc.stdin.close()
        self.proc.wait(timeout=60)


# The same job as ``sarcotrial dvh RTSS RTDOSE --json`` with dicompyler-core, as a process of its own.
WHOLE = r'''
import sys, warnings
warnings.simplefilter("ignore")
import pydicom
from dicompylercore import dvhcalc
ss, dose = pydicom.dcmread(sys.argv[1]), pydicom.dcmread(sys.argv[2])
for roi in ss.StructureSetROISequence:
    d = dvhcalc.get_dvh(ss, dose, roi.ROINumber)
    if d.volume > 0:
        print(roi.ROIName, float(d.volume), float(d.min), float(d.mean), float(d.max), float(d.statistic("D95").value))
'''


def best_process(command: list[str], repeat: int, env: dict | None = None) -> float:
    """Wall time of the best of ``repeat`` runs of a process (seconds)."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        subprocess.run(command, check=True, capture_output=True, env=env)
        times.append(time.perf_counter() - start)
    return min(times)


def best_of(fn, repeat: int) -> tuple[float, object]:
    times, result = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return min(times), result


def run_dicompyler(python: str, jobs: list[dict]) -> dict:
    proc = subprocess.run([python, "-c", WORKER], input=json.dumps({"jobs": jobs}), capture_output=True, text=True,
                          timeout=3600)
    if proc.returncode != 0:
        sys.exit(f"dicompyler-core run failed:\n{proc.stderr[-2000:]}")
    return json.loads(proc.stdout)


def nelms_cases(data: Path, grids: tuple[str, ...] = ("1", "2")) -> list[dict]:
    import openpyxl

    book = openpyxl.load_workbook(data / "nelms-dvh" / "analytical_data.xlsx", read_only=True, data_only=True)
    cases = []
    for name, _ct, _shift, voxel, gradient, volume, _dmin, _dmax, dmean, d99, d95, d5, *_ in list(
            book["Analytical"].iter_rows(values_only=True))[1:]:
        if str(voxel) not in grids:
            continue
        direction = "AntPost" if gradient.startswith("Z") else "SupInf"
        sfile = data / "nelms-dvh" / "structures" / f"{name}.dcm"
        dfile = data / "nelms-dvh" / "dose-grids" / f"Linear_{direction}_{voxel}mm_Aligned.dcm"
        if sfile.exists() and dfile.exists():
            cases.append({"id": f"{name} {direction} {voxel}mm", "name": name, "rtss": str(sfile), "rtdose": str(dfile),
                          "expected": {"volume": volume, "mean": dmean / 100, "d95": d95 / 100, "d5": d5 / 100,
                                       "d99": d99 / 100}})
    return cases


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA, help="the shared data folder")
    ap.add_argument("--dicompyler-python", default=DEFAULT_DCH, help="python of the dicompyler-core 0.5.6 venv")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--grids", default="1,2", help="Nelms dose grids (mm) to include, e.g. 1,2,3")
    args = ap.parse_args()
    if not Path(args.dicompyler_python).exists():
        sys.exit(f"no interpreter at {args.dicompyler_python}: set up the venv (see the docstring) or pass "
                 f"--dicompyler-python / SARCOTRIAL_DICOMPYLER_PYTHON")

    from sarcotrial.radiotherapy.dicomrt import read_rtdose, read_rtstruct
    from sarcotrial.radiotherapy.dvh import compute_dvh

    # ------------------------------------------------------------------ breast plan
    breast = args.data / "breast-imrt-example"
    ss, dose = read_rtstruct(breast / "rtss.dcm"), read_rtdose(breast / "rtdose.dcm")
    structures = [s for s in ss.structures if s.has_volume]
    compute_dvh(ss, dose, structures[0].name)  # warm-up (imports, caches)
    # interleaved: in each of ``repeat`` rounds every structure once by SarcoTrial, then once by
    # dicompyler-core (its worker process kept running); each engine's best round per structure. A
    # change of the shared machine's load then falls on both engines alike.
    worker = Interleaved(args.dicompyler_python)
    load_before = os.getloadavg()
    ours: dict[str, tuple[float, object]] = {}
    theirs: dict[str, dict] = {}
    cpu_ours: dict[str, float] = {}
    cpu_theirs: dict[str, float] = {}
    # dicompyler-core's warm-up (reading the files)
    worker.run({"rtss": str(breast / "rtss.dcm"), "rtdose": str(breast / "rtdose.dcm"), "roi": structures[0].number})
    for _ in range(args.repeat):
        for s in structures:
            c0 = time.process_time()
            t, dvh = best_of(lambda s=s: compute_dvh(ss, dose, s.name, end_cap="none"), 1)
            cpu_ours[s.name] = min(cpu_ours.get(s.name, float("inf")), time.process_time() - c0)
            if s.name not in ours or t < ours[s.name][0]:
                ours[s.name] = (t, dvh)
            th = worker.run({"rtss": str(breast / "rtss.dcm"), "rtdose": str(breast / "rtdose.dcm"), "roi": s.number})
            cpu_theirs[s.name] = min(cpu_theirs.get(s.name, float("inf")), th["cpu"])
            if s.name not in theirs or th["time"] < theirs[s.name]["time"]:
                theirs[s.name] = th
    # the nine in a row, as one DVH run of a plan computes them (``sarcotrial dvh``; the first measure,
    # each engine in a pass of its own): in each round SarcoTrial computes the nine one after the other, then
    # dicompyler-core does in its worker; the rounds alternate, so the load still falls on both alike, but
    # neither engine finds the processor's caches emptied by the other between two of its own structures
    row_ours = row_theirs = row_cpu_ours = row_cpu_theirs = float("inf")
    for _ in range(args.repeat):
        t0, c0 = time.perf_counter(), time.process_time()
        for s in structures:
            compute_dvh(ss, dose, s.name, end_cap="none")
        row_ours = min(row_ours, time.perf_counter() - t0)
        row_cpu_ours = min(row_cpu_ours, time.process_time() - c0)
        answers = [worker.run({"rtss": str(breast / "rtss.dcm"), "rtdose": str(breast / "rtdose.dcm"), "roi": s.number})
                   for s in structures]
        row_theirs = min(row_theirs, sum(a["time"] for a in answers))
        row_cpu_theirs = min(row_cpu_theirs, sum(a["cpu"] for a in answers))
    worker.close()
    load_after = os.getloadavg()
    jobs: list[dict] = []

    # ------------------------------------------------------------------ Nelms
    cases = nelms_cases(args.data, tuple(g.strip() for g in args.grids.split(",")))
    grids: dict[str, object] = {}
    our_nelms = {}
    for c in cases:
        if c["rtdose"] not in grids:
            grids[c["rtdose"]] = read_rtdose(c["rtdose"])
        css = read_rtstruct(c["rtss"])
        name = css.by_number(2).name
        reps = args.repeat if c["name"] in TIMED_NELMS else 1
        t, dvh = best_of(lambda: compute_dvh(css, grids[c["rtdose"]], name, end_cap="half-slice"), reps)
        our_nelms[c["id"]] = {"time": t, "volume": dvh.volume_cc, "mean": dvh.mean_gy, "d95": dvh.dose_at_volume_percent(95),
                              "d5": dvh.dose_at_volume_percent(5), "d99": dvh.dose_at_volume_percent(99)}
        jobs.append({"id": c["id"], "rtss": c["rtss"], "rtdose": c["rtdose"], "roi": 2, "repeat": reps})

    dch = run_dicompyler(args.dicompyler_python, jobs)
    theirs_nelms = dch["results"]

    # ------------------------------------------------------------------ the whole command
    sarcotrial = Path(sys.executable).parent / "sarcotrial"
    rtss_path, rtdose_path = str(breast / "rtss.dcm"), str(breast / "rtdose.dcm")
    whole_ours = whole_theirs = float("inf")
    # as installed: SarcoTrial's bytecode cached (a machine that sets PYTHONDONTWRITEBYTECODE would otherwise
    # compile its editable source on every run, which no installed copy does); one run first to write it
    ours_env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    ours_command = [str(sarcotrial), "dvh", rtss_path, rtdose_path, "--json"]
    subprocess.run(ours_command, check=True, capture_output=True, env=ours_env)
    for _ in range(args.repeat):  # the two processes alternating
        whole_ours = min(whole_ours, best_process(ours_command, 1, env=ours_env))
        whole_theirs = min(whole_theirs, best_process([args.dicompyler_python, "-c", WHOLE, rtss_path, rtdose_path], 1))

    import pydicom
    print(f"Machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, numpy {np.__version__}, "
          f"pydicom {pydicom.__version__}; dicompyler-core {dch['version']} with pydicom {dch['pydicom']} (own venv); "
          f"best of {args.repeat} runs each; load average {load_before[0]:.2f} before the breast plan's rounds, "
          f"{load_after[0]:.2f} after, {os.getloadavg()[0]:.2f} at the end.\n")

    print("### Breast IMRT plan: time per structure, and agreement with the planning system's DVHs\n")
    print("| structure | volume cc (TPS) | SarcoTrial ms | dicompyler-core ms | ratio | SarcoTrial vol / mean vs TPS "
          "| dicompyler-core vol / mean vs TPS |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for s in structures:
        t_ours, dvh = ours[s.name]
        th = theirs[s.name]
        stored = dose.stored_dvh(s.number)
        tps_vol, tps_mean = stored.total_volume, stored.mean_dose / 100 * 14.0
        print(f"| {s.name} | {tps_vol:.2f} | {1000 * t_ours:.1f} | {1000 * th['time']:.1f} | {th['time'] / t_ours:.1f}x "
              f"| {100 * (dvh.volume_cc / tps_vol - 1):+.2f} % / {100 * (dvh.mean_gy / tps_mean - 1):+.2f} % "
              f"| {100 * (th['volume'] / tps_vol - 1):+.2f} % / {100 * (th['mean'] / tps_mean - 1):+.2f} % |")
    total_ours = sum(v[0] for v in ours.values())
    total_theirs = sum(theirs[s.name]["time"] for s in structures)
    print(f"| **all {len(structures)}** | | {1000 * total_ours:.0f} | {1000 * total_theirs:.0f} | "
          f"{total_theirs / total_ours:.1f}x | | |")
    print(f"\nSlowest structure, SarcoTrial: {1000 * max(v[0] for v in ours.values()):.1f} ms; slowest against "
          f"dicompyler-core: {min(theirs[s.name]['time'] / ours[s.name][0] for s in structures):.1f}x.\n")
    print("Processor time of the same rounds (each engine's least; less swayed by the load than the wall time):\n")
    print("| structure | SarcoTrial CPU ms | dicompyler-core CPU ms | ratio |")
    print("|---|---:|---:|---:|")
    for s in structures:
        print(f"| {s.name} | {1000 * cpu_ours[s.name]:.1f} | {1000 * cpu_theirs[s.name]:.1f} | "
              f"{cpu_theirs[s.name] / cpu_ours[s.name]:.1f}x |")
    c_ours, c_theirs = sum(cpu_ours.values()), sum(cpu_theirs.values())
    print(f"| **all {len(structures)}** | {1000 * c_ours:.0f} | {1000 * c_theirs:.0f} | {c_theirs / c_ours:.1f}x |\n")

    print(f"### The nine in a row (each engine's round of the {len(structures)} consecutive structures; rounds "
          f"alternating; best of {args.repeat})\n")
    print("| | SarcoTrial ms | dicompyler-core ms | ratio |")
    print("|---|---:|---:|---:|")
    print(f"| wall time | {1000 * row_ours:.0f} | {1000 * row_theirs:.0f} | {row_theirs / row_ours:.1f}x |")
    print(f"| processor time | {1000 * row_cpu_ours:.0f} | {1000 * row_cpu_theirs:.0f} | "
          f"{row_cpu_theirs / row_cpu_ours:.1f}x |\n")

    print("### The whole command on the breast plan (a process each: start-up, reading, every structure)\n")
    print("| command | s | ratio |")
    print("|---|---:|---:|")
    print(f"| `sarcotrial dvh rtss.dcm rtdose.dcm --json` | {whole_ours:.2f} | {whole_theirs / whole_ours:.1f}x |")
    print(f"| dicompyler-core 0.5.6, the same (`get_dvh` of every ROI) | {whole_theirs:.2f} | 1.0x |\n")

    print("### Nelms et al. analytical set: time of a few cases\n")
    print("| case | SarcoTrial ms | dicompyler-core ms | ratio |")
    print("|---|---:|---:|---:|")
    for c in cases:
        if c["name"] in TIMED_NELMS:
            a, b = our_nelms[c["id"]]["time"], theirs_nelms[c["id"]]["time"]
            print(f"| {c['id']} | {1000 * a:.1f} | {1000 * b:.1f} | {b / a:.1f}x |")

    print(f"\n### Nelms et al. analytical set: errors against the analytical values ({len(cases)} cases, "
          f"{args.grids} mm grids)\n")
    print("| metric | SarcoTrial mean abs error | SarcoTrial worst | dicompyler-core mean abs error | dicompyler-core worst |")
    print("|---|---:|---:|---:|---:|")
    for metric in ("volume", "mean", "d95", "d5", "d99"):
        mine = [abs(our_nelms[c["id"]][metric] / c["expected"][metric] - 1) for c in cases]
        dc = [abs((theirs_nelms[c["id"]][metric] or 0.0) / c["expected"][metric] - 1) for c in cases]
        worst_mine = cases[int(np.argmax(mine))]["id"]
        worst_dc = cases[int(np.argmax(dc))]["id"]
        print(f"| {metric} | {100 * np.mean(mine):.2f} % | {100 * max(mine):.2f} % ({worst_mine}) | {100 * np.mean(dc):.2f} % "
              f"| {100 * max(dc):.2f} % ({worst_dc}) |")
    zero_mine = sum(our_nelms[c["id"]]["d99"] <= 0 for c in cases)
    zero_dc = sum((theirs_nelms[c["id"]]["d99"] or 0.0) <= 0 for c in cases)
    over_mine = sum(any(abs(our_nelms[c["id"]][m] / c["expected"][m] - 1) > 0.03 for m in ("volume", "mean", "d95", "d5"))
                    for c in cases)
    over_dc = sum(any(abs((theirs_nelms[c["id"]][m] or 0.0) / c["expected"][m] - 1) > 0.03
                      for m in ("volume", "mean", "d95", "d5"))
                  for c in cases)
    print(f"\nD99 = 0: SarcoTrial {zero_mine} of {len(cases)} cases, dicompyler-core {zero_dc} of {len(cases)}.")
    print(f"Cases with any of volume, Dmean, D95, D5 off by more than 3 %: SarcoTrial {over_mine}, dicompyler-core {over_dc}.")
    worst = sorted(cases, key=lambda c: -abs(our_nelms[c["id"]]["d95"] / c["expected"]["d95"] - 1))[:3]
    print("SarcoTrial's largest D95 errors: " + "; ".join(
        f"{c['id']} {100 * (our_nelms[c['id']]['d95'] / c['expected']['d95'] - 1):+.2f} %" for c in worst))


if __name__ == "__main__":
    main()
