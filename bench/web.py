"""Benchmark: the web application under simulated users, on SQLite and PostgreSQL.

Run on demand, never in the test suite::

    python bench/web.py                                  # 10 and 50 users on SQLite, 90 s each
    python bench/web.py --postgres postgresql://postgres@127.0.0.1:5432/test
    python bench/web.py --users 10 --seconds 30          # a quicker look

Each run builds the synthetic demo study (``sarcotrial demo``) on the database, starts
``sarcotrial serve`` in its own process on loopback (``--workers``, 2 by default: this machine's
cores), then drives N simulated users from this process. Each user signs in once (through the
sign-in form, as a browser does), then works until the time is up: it picks an action (open the
record status grid, open a patient, save a form, search a CTCAE term), waits for the answer, and
thinks 1 to 4 seconds before the next. Users arrive spread over the first 10 seconds, not all in the same
millisecond. Every answer must be a success (2xx/3xx); failures are
counted and printed.

Reported per action: count, p50, p95, p99 (ms); throughput (actions per second); the weight of
each page with the scripts and styles it loads. Goals (the web application's requirements): p95
under 200 ms at 50 users for every action but sign-in and the report; sign-in p95 under 1 s with
argon2id at the parameters printed; no page over 300 KB. Results: docs/benchmarks/web.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import http.cookiejar
import json
import os
import platform
import random
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

CTCAE_WORDS = ["radiation dermatitis", "fatigue", "oedema limbs", "wound infection", "nausea", "skin reaction",
               "hair loss", "pain", "diarrhoea", "anaemia"]
THINK = (1.0, 4.0)
STAGGER = 10.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# --------------------------------------------------------------------------- the study and the server
def build_demo(folder: Path, db: str | None, env: dict[str, str]) -> tuple[str, list[dict]]:
    command = [sys.executable, "-m", "sarcotrial.cli.main", "demo", "--out", str(folder)]
    if db:
        command += ["--db", db]
    subprocess.run(command, check=True, env=env, stdout=subprocess.DEVNULL)
    logins = json.loads((folder / "demo-logins.json").read_text(encoding="utf-8"))
    return db or f"sqlite:///{(folder / 'sprint-demo.sqlite').resolve()}", logins


def start_server(db: str, port: int, workers: int, env: dict[str, str]) -> subprocess.Popen:
    process = subprocess.Popen([sys.executable, "-m", "sarcotrial.cli.main", "serve", "--db", db, "--port", str(port),
                                "--workers", str(workers)], env=env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/signin", timeout=2):
                return process
        except OSError:
            if process.poll() is not None:
                raise RuntimeError(f"the server stopped: {process.stderr.read()}")
            time.sleep(0.2)
    raise RuntimeError("the server did not start")


# --------------------------------------------------------------------------- one simulated user
class User:
    def __init__(self, base: str, login: dict, subjects: list[str], rng: random.Random,
                 enrolled: dict[str, dt.date] | None = None):
        self.base = base
        self.login = login
        self.subjects = subjects
        self.enrolled = enrolled or {}
        self.rng = rng
        self.jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar),
                                                  _NoRedirect())
        self.csrf = ""

    def request(self, method: str, path: str, data: dict | None = None) -> tuple[int, bytes]:
        body = urllib.parse.urlencode(data, doseq=True).encode() if data is not None else None
        request = urllib.request.Request(self.base + path, data=body, method=method)
        if body is not None:
            request.add_header("Content-Type", "application/x-www-form-urlencoded")
        try:
            with self.opener.open(request, timeout=60) as answer:
                return answer.status, answer.read()
        except urllib.error.HTTPError as error:
            return error.code, error.read()

    def sign_in(self) -> int:
        """The sign-in form's POST, as a browser sends it (what is timed)."""
        status, _ = self.request("POST", "/signin", {"username": self.login["user"],
                                                      "password": self.login["password"], "next": "/"})
        return status

    def fetch_csrf(self) -> None:
        """The session's CSRF token (a browser finds it in the page it is sent to; not timed)."""
        _, body = self.request("GET", "/api/v1/session")
        self.csrf = json.loads(body).get("csrf_token", "")

    # the actions: each returns the HTTP status
    def grid(self) -> int:
        return self.request("GET", "/grid")[0]

    def patient(self) -> int:
        return self.request("GET", f"/patients/{self.rng.choice(self.subjects)}")[0]

    def ctcae(self) -> int:
        return self.request("GET", "/ctcae/search?" + urllib.parse.urlencode({"term": self.rng.choice(CTCAE_WORDS)}))[0]

    def save_form(self) -> int:
        """Record a grade 1 adverse event for one of the patients of the user's sites (a new CRF
        instance of a repeating form: the services' checks, derivations, schedule and audit)."""
        subject = self.rng.choice(self.subjects)
        day = (self.enrolled[subject] + dt.timedelta(days=self.rng.randint(20, 200))).isoformat()
        status, _ = self.request("POST", f"/patients/{subject}/forms/adverse_event",
                                 {"csrf_token": self.csrf, "term": "Fatigue", "grade": "1", "onset_date": day})
        return status


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


ACTIONS = {"grid": 3, "patient": 4, "save_form": 2, "ctcae": 2}


def run_users(base: str, logins: list[dict], subjects: dict[str, list[str]], enrolled: dict[str, dt.date],
              users: int, seconds: float, seed: int) -> dict[str, list[float]]:
    timings: dict[str, list[float]] = {name: [] for name in ("sign_in", *ACTIONS)}
    failures: dict[str, int] = {}
    lock = threading.Lock()
    writers = [login for login in logins if login["role"] in ("research_nurse", "investigator")]
    readers = [login for login in logins if login["role"] in ("monitor", "data_manager")]
    stop_at = time.monotonic() + seconds

    def one(index: int) -> None:
        rng = random.Random(seed * 1000 + index)
        login = (writers if index % 2 == 0 else readers)[index // 2 % len(writers if index % 2 == 0 else readers)]
        user = User(base, login, subjects[login["site"] or "*"], rng, enrolled)
        time.sleep(rng.uniform(0, STAGGER))
        started = time.perf_counter()
        status = user.sign_in()
        record("sign_in", started, status)
        user.fetch_csrf()
        names = [name for name, weight in ACTIONS.items() for _ in range(weight)
                 if name != "save_form" or login["role"] in ("research_nurse", "investigator")]
        while time.monotonic() < stop_at:
            name = rng.choice(names)
            started = time.perf_counter()
            status = getattr(user, name)()
            record(name, started, status)
            time.sleep(rng.uniform(*THINK))

    def record(name: str, started: float, status: int) -> None:
        elapsed = (time.perf_counter() - started) * 1000
        with lock:
            timings[name].append(elapsed)
            if not 200 <= status < 400:
                failures[f"{name} {status}"] = failures.get(f"{name} {status}", 0) + 1

    threads = [threading.Thread(target=one, args=(i,)) for i in range(users)]
    began = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    timings["_elapsed"] = [time.monotonic() - began]
    timings["_failures"] = [failures]  # type: ignore[list-item]
    return timings


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered) + 0.5) - 1))]


def page_weights(base: str, login: dict, subject: str) -> dict[str, int]:
    """Bytes of each page with the scripts, styles and images it loads from the server."""
    user = User(base, login, [subject], random.Random(0))
    user.sign_in()
    user.fetch_csrf()
    out = {}
    for name, path in (("dashboard", "/"), ("grid", "/grid"), ("patient", f"/patients/{subject}"),
                       ("adverse event form", f"/patients/{subject}/forms/adverse_event"),
                       ("queries", "/queries"), ("audit trail", "/audit"), ("safety", "/safety")):
        status, html = user.request("GET", path)
        total = len(html)
        for asset in set(re.findall(rb'(?:src|href)="(/(?:static|dashboard|patients)[^"]*)"', html)):
            if asset.endswith((b".css", b".js", b".png", b".svg")):
                total += len(user.request("GET", asset.decode())[1])
        out[f"{name} ({status})"] = total
    return out


def subjects_by_site(db: str) -> tuple[dict[str, list[str]], dict[str, dt.date]]:
    """The enrolled patients still followed (no death, not withdrawn), all ("*") and by site, for
    the users to open and record on; and each one's enrolment date (an event's onset follows it)."""
    from sarcotrial.services import views
    from sarcotrial.services.study import StudyDB

    with StudyDB.open(db) as study:
        records = views.patients(study, None, enrolled_only=True)
    out: dict[str, list[str]] = {"*": []}
    enrolled: dict[str, dt.date] = {}
    for record in records:
        if record.death() is not None or record.status != "enrolled":
            continue
        out["*"].append(record.subject_id)
        out.setdefault(record.site, []).append(record.subject_id)
        enrolled[record.subject_id] = record.enrolment_date
    return out, enrolled


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--users", type=int, nargs="+", default=[10, 50])
    parser.add_argument("--seconds", type=float, default=90)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--postgres", help="also run on this PostgreSQL server (a database of its own is made)")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()

    from sarcotrial.services import access

    hasher = access.PASSWORD_HASHER
    print(f"# SarcoTrial web benchmark, {time.strftime('%Y-%m-%d')}, {platform.platform()}, "
          f"Python {platform.python_version()}, {os.cpu_count()} cores, {args.workers} server workers")
    print(f"argon2id: time_cost={hasher.time_cost}, memory_cost={hasher.memory_cost} KiB, "
          f"parallelism={hasher.parallelism}; think time {THINK[0]:g}-{THINK[1]:g} s; {args.seconds:g} s per run\n")
    databases = [("SQLite", None)]
    if args.postgres:
        databases.append(("PostgreSQL", args.postgres))
    for label, server in databases:
        folder = Path(tempfile.mkdtemp(prefix="sarcotrial-bench-web-"))
        env = {**os.environ, "COLUMNS": "120"}
        db = None
        if server:
            from sqlalchemy import create_engine, text
            from sqlalchemy.engine import make_url

            from sarcotrial.config import resolve_database_url
            from sarcotrial.store.crypto import generate_key

            name = f"sarcotrial_bench_web_{os.getpid()}"
            admin = create_engine(resolve_database_url(server), isolation_level="AUTOCOMMIT")
            with admin.connect() as connection:
                connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
                connection.execute(text(f'CREATE DATABASE "{name}"'))
            db = make_url(resolve_database_url(server)).set(database=name).render_as_string(hide_password=False)
            env["SARCOTRIAL_KEY"] = generate_key()
            os.environ["SARCOTRIAL_KEY"] = env["SARCOTRIAL_KEY"]
        try:
            url, logins = build_demo(folder, db, env)
            subjects, enrolled = subjects_by_site(url)
            for users in args.users:
                port = free_port()
                process = start_server(url, port, args.workers, env)
                try:
                    base = f"http://127.0.0.1:{port}"
                    result = run_users(base, logins, subjects, enrolled, users, args.seconds, args.seed)
                    report(label, users, result)
                    if users == args.users[-1]:
                        weights = page_weights(base, next(lg for lg in logins if lg["role"] == "data_manager"),
                                               subjects["*"][0])
                        print("Page weights (HTML + scripts, styles and images it loads):")
                        for page, size in weights.items():
                            print(f"  {page:<28} {size / 1024:7.1f} KB")
                        print()
                finally:
                    process.terminate()
                    process.wait(timeout=30)
        finally:
            shutil.rmtree(folder, ignore_errors=True)
            if server:
                with admin.connect() as connection:
                    connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def report(label: str, users: int, result: dict) -> None:
    elapsed = result.pop("_elapsed")[0]
    failures = result.pop("_failures")[0]
    done = sum(len(v) for k, v in result.items() if k != "sign_in")
    print(f"## {label}, {users} users: {done} actions in {elapsed:.0f} s ({done / elapsed:.1f} per second)")
    print(f"{'action':<12} {'count':>6} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8}")
    for name, values in result.items():
        if values:
            print(f"{name:<12} {len(values):>6} {statistics.median(values):>8.1f} {percentile(values, 95):>8.1f} "
                  f"{percentile(values, 99):>8.1f}")
    print(f"failures: {failures or 'none'}\n")


if __name__ == "__main__":
    main()
