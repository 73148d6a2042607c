"""``sarcotrial serve`` and ``sarcotrial demo --serve``: start from the command line, answer on
loopback, stop on Ctrl-C; a wrong database is one line and exit status 2, before listening."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request

import pytest

from sarcotrial.services.study import Actor, StudyDB

CLI = [sys.executable, "-m", "sarcotrial.cli.main"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(url: str, process: subprocess.Popen, seconds: float = 30) -> int:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"the server stopped: {process.communicate()}")
        try:
            with urllib.request.urlopen(url, timeout=2) as answer:
                return answer.status
        except OSError:
            time.sleep(0.2)
    raise AssertionError(f"{url} never answered")


def stop(process: subprocess.Popen) -> tuple[str, str]:
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=20)
    return out, err


def test_serve_refuses_a_missing_study_in_one_line(tmp_path):
    done = subprocess.run([*CLI, "serve", "--db", str(tmp_path / "none.sqlite"), "--port", str(free_port())],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert "no study database" in done.stderr and "Traceback" not in done.stderr


def test_serve_answers_and_stops_on_ctrl_c(tmp_path, monkeypatch):
    db = tmp_path / "study.sqlite"
    StudyDB.create(f"sqlite:///{db}", "sprint", Actor("tester", "test"))[0].close()
    port = free_port()
    process = subprocess.Popen([*CLI, "serve", "--db", str(db), "--port", str(port)], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, env={**os.environ, "COLUMNS": "200"})
    try:
        assert wait_for(f"http://127.0.0.1:{port}/signin", process) == 200
    finally:
        out, err = stop(process)
    assert f"http://localhost:{port}/" in out
    assert "Traceback" not in err


def test_demo_serve_reuses_the_study_already_built(tmp_path):
    out_dir = tmp_path / "demo"
    out_dir.mkdir()
    StudyDB.create(f"sqlite:///{out_dir / 'sprint-demo.sqlite'}", "sprint", Actor("tester", "test"),
                   synthetic=True)[0].close()
    logins = [{"user": "admin", "full_name": "A (synthetic)", "role": "admin", "site": None, "password": "demo-x"}]
    (out_dir / "demo-logins.json").write_text(json.dumps(logins), encoding="utf-8")
    port = free_port()
    process = subprocess.Popen([*CLI, "demo", "--serve", "--out", str(out_dir), "--port", str(port)],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp_path,
                               env={**os.environ, "COLUMNS": "200"})
    try:
        assert wait_for(f"http://127.0.0.1:{port}/signin", process) == 200
    finally:
        out, err = stop(process)
    assert "Reusing the demo study" in out and "SYNTHETIC DATA" in out
    assert f"http://localhost:{port}/" in out and "admin" in out and "demo-x" in out


@pytest.mark.parametrize("flag", ["--rebuild"])
def test_demo_serve_help_names_its_options(flag):
    done = subprocess.run([*CLI, "demo", "--help"], capture_output=True, text=True, timeout=60,
                          env={**os.environ, "COLUMNS": "200"})
    assert "--serve" in done.stdout and flag in done.stdout
