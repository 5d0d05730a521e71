"""A PgBouncer in transaction mode of the tests' own, on loopback, in front of the test database's server.

Started when the ``pgbouncer`` binary is installed (Debian's package; `.ci/run` installs it), skipped
otherwise, except in CI (``CI=true``), where a missing PgBouncer fails the tests instead of hiding them.
``server_round_robin`` hands each transaction the server connection idle longest, so that a client's
consecutive transactions land on different server connections, as they do under load: whatever one of
them leaves in a server session (a prepared statement, a cursor, a setting) is missing from, or found by,
the next.
"""

import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
import time

import pytest
from django.db import connection

CONFIG = """\
[databases]
* = {server}

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = {port}
unix_socket_dir =
auth_type = trust
auth_file = {folder}/users.txt
pool_mode = transaction
default_pool_size = {pool_size}
server_round_robin = 1
ignore_startup_parameters = extra_float_digits
"""

START_SECONDS = 10
POOL_SIZE = 4  # server connections per database and user


def binary():
    """The ``pgbouncer`` program, or a skip (a failure in CI) when it is not installed."""
    found = shutil.which("pgbouncer") or next(
        (p for p in ("/usr/sbin/pgbouncer", "/usr/local/sbin/pgbouncer") if os.access(p, os.X_OK)), None
    )
    if found:
        return found
    if os.environ.get("CI", "").lower() in {"1", "true", "yes"}:
        pytest.fail("pgbouncer is not installed (CI installs Debian's package: apt-get install pgbouncer)")
    pytest.skip("pgbouncer is not installed (apt-get install pgbouncer)")


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _listening(port):
    with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.2):
        return True
    return False


@contextlib.contextmanager
def running(settings_dict):
    """A PgBouncer process in front of ``settings_dict``'s server (every database on it): its port."""
    program = binary()
    folder = tempfile.mkdtemp(prefix="lh-pgbouncer-")
    server = " ".join(
        f"{key}={value}" for key, value in (("host", settings_dict["HOST"]), ("port", settings_dict["PORT"])) if value
    )
    port = _free_port()
    with open(f"{folder}/pgbouncer.ini", "w") as f:
        f.write(CONFIG.format(server=server, port=port, folder=folder, pool_size=POOL_SIZE))
    with open(f"{folder}/users.txt", "w") as f:
        user, password = settings_dict["USER"] or "postgres", settings_dict["PASSWORD"] or ""
        f.write(f'"{user}" "{password}"\n')
    # PgBouncer refuses to run as root (CI's containers): it then drops to nobody, who must read the files.
    os.chmod(folder, 0o755)
    for name in ("pgbouncer.ini", "users.txt"):
        os.chmod(f"{folder}/{name}", 0o644)
    command = [program, *(["-u", "nobody"] if os.geteuid() == 0 else []), f"{folder}/pgbouncer.ini"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + START_SECONDS
        while not _listening(port):
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                pytest.fail(f"pgbouncer did not start: {process.communicate()[0][-2000:]}")
            time.sleep(0.05)
        yield port
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        shutil.rmtree(folder, ignore_errors=True)


@contextlib.contextmanager
def default_connection_through(port):
    """Django's default connection reaches the database through the pooler at ``port`` meanwhile."""
    saved = connection.settings_dict["HOST"], connection.settings_dict["PORT"]
    connection.close()
    connection.settings_dict.update(HOST="127.0.0.1", PORT=str(port))
    try:
        yield
    finally:
        connection.close()
        connection.settings_dict["HOST"], connection.settings_dict["PORT"] = saved
