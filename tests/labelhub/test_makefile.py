"""`make run` as the README's first day uses it: an empty instance on a chosen port, without the admin.

`make run` always loaded the demo, whose accounts (a Django admin among them, with a published password)
meant `first_account_link` answered "this instance has accounts already": a team could not start the
README's "First day: from an empty instance" from the README's own command. And the link it printed
named port 8000 whatever `PORT` was served. Read through `make -n`, which prints the recipe's commands
without running them (no virtualenv, database or server needed)."""

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def run_commands(*assignments: str) -> str:
    if not shutil.which("make"):
        pytest.skip("make is not installed")
    return subprocess.run(
        ["make", "-n", "--no-print-directory", "run", *assignments],
        cwd=ROOT,
        env={"PATH": "/usr/bin:/bin", "HOME": "/tmp"},
        capture_output=True,
        text=True,
        check=True,
    ).stdout


def test_demo_0_serves_an_empty_instance_and_prints_its_first_account_link_for_the_port():
    out = run_commands("DEMO=0", "PORT=8765")
    assert "seed_demo" not in out
    assert "migrate --noinput" in out
    assert 'first_account_link --if-empty --base-url "${LABELHUB_PUBLIC_URL:-http://127.0.0.1:8765}"' in out
    assert "--port 8765" in out


def test_the_default_run_still_loads_the_demo_and_the_link_step_prints_nothing_then():
    out = run_commands("PORT=8765")
    # seed_demo before the link step, which --if-empty keeps silent once the demo's accounts exist.
    assert out.index("seed_demo") < out.index("first_account_link --if-empty")


def test_serving_every_address_prints_a_link_the_server_itself_can_open():
    out = run_commands("DEMO=0", "HOST=0.0.0.0", "PORT=8080", "ALLOWED_HOSTS=labels.lan")
    assert '--base-url "${LABELHUB_PUBLIC_URL:-http://127.0.0.1:8080}"' in out
