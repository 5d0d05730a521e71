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


def run_commands(*assignments: str, target: str = "run", env: dict[str, str] | None = None) -> str:
    if not shutil.which("make"):
        pytest.skip("make is not installed")
    return subprocess.run(
        ["make", "-n", "--no-print-directory", target, *assignments],
        cwd=ROOT,
        env={"PATH": "/usr/bin:/bin", "HOME": "/tmp", **(env or {})},
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


# LABELHUB_VAR_DIR moved the database, media and broker, but `make run` and `make warm` stamped
# var/numba-cache/.warmed in the checkout (a read-only checkout failed there; a second machine sharing
# the checkout skipped its own warm-up) while warm_numba compiled elsewhere; `make embedders` wrote
# var/models, where a web or worker given LABELHUB_VAR_DIR did not look.


def test_run_and_warm_stamp_the_numba_cache_in_labelhub_var_dir(tmp_path):
    var = tmp_path / "var"
    for target in ("run", "warm"):
        out = run_commands(target=target, env={"LABELHUB_VAR_DIR": str(var)})
        assert "manage.py warm_numba" in out
        assert f"touch {var}/numba-cache/.warmed" in out
        assert "var/numba-cache" not in out.replace(str(var), "")
    # given on the command line rather than in the environment
    assert f"touch {var}/numba-cache/.warmed" in run_commands(f"LABELHUB_VAR_DIR={var}", target="warm")


def test_an_explicit_numba_cache_dir_holds_the_stamp(tmp_path):
    out = run_commands(
        target="warm", env={"LABELHUB_VAR_DIR": str(tmp_path / "var"), "NUMBA_CACHE_DIR": str(tmp_path / "nc")}
    )
    assert f"touch {tmp_path}/nc/.warmed" in out


def test_without_labelhub_var_dir_the_stamp_stays_in_the_checkout():
    assert "touch var/numba-cache/.warmed" in run_commands(target="warm")


def test_embedders_writes_the_models_where_the_settings_read_them(tmp_path):
    var = tmp_path / "var"
    out = run_commands(target="embedders", env={"LABELHUB_VAR_DIR": str(var)})
    assert f"build_pretrained {var}/models" in out
    assert f"LABELHUB_MODELS_DIR={var}/models " in out
    assert f"{var}/build-venv/bin/python -m analysis.embeddings.build_pretrained" in out
    explicit = run_commands(
        target="embedders", env={"LABELHUB_VAR_DIR": str(var), "LABELHUB_MODELS_DIR": "/srv/models"}
    )
    assert "build_pretrained /srv/models" in explicit
    assert "build_pretrained var/models" in run_commands(target="embedders")


# `make test` put its broker folder, and `make clean` looked for what to remove, in var/ in the checkout
# whatever LABELHUB_VAR_DIR said, while the settings follow it. And LABELHUB_VAR_DIR="" meant var/ to the
# Makefile but the current folder to the settings (and to the numba cache; LABELHUB_MODELS_DIR="" likewise
# var/models to the one, the current folder to the other): an empty value is unset to all of them now.


def test_test_and_clean_use_labelhub_var_dir(tmp_path):
    var = tmp_path / "var"
    for given in ({"env": {"LABELHUB_VAR_DIR": str(var)}}, {"assignments": (f"LABELHUB_VAR_DIR={var}",)}):
        test = run_commands(*given.get("assignments", ()), target="test", env=given.get("env"))
        assert f"CELERY_BROKER_DIR=${{CELERY_BROKER_DIR:-{var}/test-celery}}" in test
        clean = run_commands(*given.get("assignments", ()), target="clean", env=given.get("env"))
        assert f'rm -rf "{var}"/celery "{var}"/test-*' in clean
    assert f"CELERY_BROKER_DIR=${{CELERY_BROKER_DIR:-{ROOT}/var/test-celery}}" in run_commands(target="test")
    assert 'rm -rf "var"/celery "var"/test-*' in run_commands(target="clean")


def test_test_warms_the_numba_cache_before_the_suite_once_per_machine(tmp_path):
    """Each process of the suite that maps (the test process, a browser test's worker) compiled the map's
    kernels itself on a machine whose cache was cold: minutes of CPU a run, twice in CI's two passes."""
    var = tmp_path / "var"
    env = {"LABELHUB_VAR_DIR": str(var)}
    out = run_commands(target="test", env=env)
    assert out.index("manage.py warm_numba") < out.index(f"touch {var}/numba-cache/.warmed") < out.index("-m pytest")
    (var / "numba-cache").mkdir(parents=True)
    (var / "numba-cache" / ".warmed").touch()
    out = run_commands(target="test", env=env)
    assert "warm_numba" not in out and "-m pytest" in out


def test_an_empty_labelhub_var_dir_is_var_in_the_checkout_to_the_makefile_and_the_settings(tmp_path):
    from tests.test_settings import run_settings

    empty = {"LABELHUB_VAR_DIR": "", "LABELHUB_MODELS_DIR": ""}
    for env in (empty, {}):  # as if unset
        assert "touch var/numba-cache/.warmed" in run_commands(target="warm", env=env)
        assert "build_pretrained var/models" in run_commands(target="embedders", env=env)
        assert f"CELERY_BROKER_DIR=${{CELERY_BROKER_DIR:-{ROOT}/var/test-celery}}" in run_commands(
            target="test", env=env
        )
    out = run_settings(
        # the database, the key and the static files elsewhere: the settings then create nothing in var/
        {**empty, "DATABASE_URL": f"sqlite:///{tmp_path}/x.sqlite3", "SECRET_KEY": "x", "STATIC_ROOT": str(tmp_path)},
        code="from django.conf import settings; from analysis.embeddings.projection import default_numba_cache; "
        "print(settings.VAR_DIR.resolve(), settings.LABELHUB_MODELS_DIR, default_numba_cache().resolve())",
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == [str(ROOT / "var"), str(ROOT / "var" / "models"), str(ROOT / "var" / "numba-cache")]


def test_test_runs_the_suite_in_two_processes_unless_told_otherwise():
    """CI's two passes share two cores with browsers, workers and a database the tests wait on: each pass in
    two processes (pytest-xdist, a free process takes the next test) keeps the cores busy."""
    assert "-m pytest -q -n 2 --dist worksteal" in run_commands(target="test")
    assert "-m pytest -q -n 0 --dist worksteal -k maps" in run_commands(
        "TEST_PROCESSES=0", "PYTEST_ARGS=-k maps", target="test"
    )
