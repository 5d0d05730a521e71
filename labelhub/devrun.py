"""`make run`: the development web server and a Celery worker as one program that Ctrl-C stops cleanly.

Started side by side from a shell, both children sat in the terminal's process group, so Ctrl-C reached
every process at once: the worker's pool processes died under their parent mid-shutdown and the worker
hung in a warm shutdown that had to be killed. Here each child runs in its own session, out of reach of
the terminal's signals; this launcher alone takes Ctrl-C (or SIGTERM), asks both children to stop
(SIGTERM: the worker's warm shutdown, which finishes the task in hand) and, after ``--grace`` seconds,
kills what is left. If either child stops by itself, the other is stopped too and its exit code is ours.

    python -m labelhub.devrun --host 127.0.0.1 --port 8000 --workers 2
"""

import argparse
import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent


def _children(args) -> list[tuple[str, list[str]]]:
    python = sys.executable
    return [
        (
            "worker",
            [python, "-m", "celery", "-A", "labelhub", "worker", "--loglevel=info", f"--concurrency={args.workers}"],
        ),
        ("web", [python, "manage.py", "runserver", f"{args.host}:{args.port}", "--noreload"]),
    ]


LOOPBACK = {"127.0.0.1", "localhost", "::1", "[::1]"}


def allowed_hosts_note(host: str, environ) -> str:
    """What to tell someone serving on an address other people reach (``HOST=0.0.0.0``) without
    ALLOWED_HOSTS: Django then answers 400 Bad Request to every name but localhost's."""
    if host in LOOPBACK or environ.get("ALLOWED_HOSTS"):
        return ""
    return (
        f"labelhub: serving on {host}, but ALLOWED_HOSTS is not set: requests to any name but localhost get "
        "400 Bad Request. Set it to the names or addresses people use, e.g. "
        "`make run HOST=0.0.0.0 ALLOWED_HOSTS=labels.lan,192.168.1.20`."
    )


def _say(message: str) -> None:
    """Print to stderr, which may be a pipe that the same Ctrl-C has already closed (`make run | tee`)."""
    with contextlib.suppress(OSError):
        print(message, file=sys.stderr, flush=True)


def _signal_group(proc: subprocess.Popen, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, sig)


def stop_all(procs: list[tuple[str, subprocess.Popen]], grace: float) -> None:
    """SIGTERM every running child, wait up to `grace` seconds, then SIGKILL what is left of its process
    group. The SIGTERM goes to the child alone: sent to its group, it reached the worker's pool processes
    too, which died under their parent ("ForkPoolWorker-1 exited with signal 15") while it waited for
    them in its warm shutdown, until the grace ran out and it was killed."""
    for _, proc in procs:
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + grace
    for name, proc in procs:
        try:
            proc.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            _say(f"labelhub: the {name} did not stop within {grace:g} s; killing it")
            _signal_group(proc, signal.SIGKILL)
            proc.wait()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", default="8000")
    parser.add_argument("--workers", type=int, default=2, help="the worker's pool size")
    parser.add_argument("--grace", type=float, default=15.0, help="seconds a child may take to stop")
    args = parser.parse_args(argv)

    stopping = []

    def request_stop(signum, frame):
        stopping.append(signum)

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)

    if note := allowed_hosts_note(args.host, os.environ):
        _say(note)
    procs = [(name, subprocess.Popen(cmd, cwd=BASE_DIR, start_new_session=True)) for name, cmd in _children(args)]
    _say("labelhub: " + ", ".join(f"{name} pid {proc.pid}" for name, proc in procs))
    code = 0
    while not stopping:
        ended = [(name, proc) for name, proc in procs if proc.poll() is not None]
        if ended:
            name, proc = ended[0]
            code = proc.returncode or 1
            _say(f"labelhub: the {name} stopped (exit {proc.returncode}); stopping the rest")
            break
        time.sleep(0.2)
    if stopping:
        _say("\nlabelhub: stopping the web server and the worker...")
    stop_all(procs, args.grace)
    if stopping:
        _say("labelhub: stopped")
    return code


if __name__ == "__main__":
    sys.exit(main())
