"""`make run` stops cleanly on Ctrl-C: the web server and the worker (and its pool) are gone within seconds."""

import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

BASE_DIR = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.25)
    raise AssertionError(f"timed out waiting for {what}")


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.fixture
def launched(tmp_path):
    port = _free_port()
    log = tmp_path / "run.log"
    env = {
        **os.environ,
        "LABELHUB_VAR_DIR": str(tmp_path / "var"),
        "DATABASE_URL": "",
        "CELERY_BROKER_URL": "filesystem://",
        "CELERY_BROKER_DIR": str(tmp_path / "broker"),
        "PYTHONUNBUFFERED": "1",
    }
    with open(log, "wb") as out:
        # Its own process group, as `make run` is the terminal's foreground group: Ctrl-C signals the group.
        proc = subprocess.Popen(
            [sys.executable, "-m", "labelhub.devrun", "--port", str(port), "--workers", "1"],
            cwd=BASE_DIR,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        yield proc, port, log
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        for pid in re.findall(r"pid (\d+)", log.read_text()):
            if _group_alive(int(pid)):
                os.killpg(int(pid), signal.SIGKILL)


def test_ctrl_c_stops_the_web_server_and_the_worker_within_seconds(launched):
    proc, port, log = launched

    def web_up():
        with socket.socket() as s:
            return s.connect_ex(("127.0.0.1", port)) == 0

    _wait(web_up, 90, "the web server to listen")
    _wait(lambda: "ready." in log.read_text(), 90, "the worker to be ready")
    children = [int(pid) for pid in re.findall(r"pid (\d+)", log.read_text())]
    assert len(children) == 2

    started = time.monotonic()
    os.killpg(proc.pid, signal.SIGINT)  # what the terminal does on Ctrl-C
    assert proc.wait(timeout=30) == 0
    took = time.monotonic() - started

    text = log.read_text()
    assert "Segmentation fault" not in text
    assert "killing it" not in text, text[-2000:]  # both stopped on their own, the worker by a warm shutdown
    # The pool processes were left to their worker (which lets them finish the task in hand), not signalled
    # with it: "Process 'ForkPoolWorker-1' pid:... exited with 'signal 15 (SIGTERM)'".
    assert "exited with 'signal" not in text, text[-2000:]
    assert not web_up()
    for pid in children:  # no process left in either child's group: the worker's pool is gone too
        assert not _group_alive(pid)
    assert took < 20


def test_serving_other_machines_without_allowed_hosts_says_what_to_set():
    from labelhub.devrun import allowed_hosts_note

    note = allowed_hosts_note("0.0.0.0", {})
    assert "ALLOWED_HOSTS is not set" in note and "400 Bad Request" in note
    assert allowed_hosts_note("0.0.0.0", {"ALLOWED_HOSTS": "labels.lan"}) == ""
    assert allowed_hosts_note("127.0.0.1", {}) == ""
