"""Configuration by environment."""

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run_settings(
    env_overrides,
    code="from django.conf import settings; print(settings.DATABASES['default']['ENGINE'], settings.CELERY_BROKER_URL)",
    timeout=60,
    cwd=ROOT,
):
    # The start-up environment of a fresh process: nothing the suite set (the browser tests set
    # DJANGO_ALLOW_ASYNC_UNSAFE, which check --deploy rightly refuses; a developer's SQLITE_PATH would
    # put the process's database outside the LABELHUB_VAR_DIR a test gives it, and keep it between runs;
    # so would a developer's LABELHUB_MODELS_DIR or NUMBA_CACHE_DIR the folders in it).
    left_out = (
        "DATABASE_URL",
        "SECRET_KEY",
        "DEBUG",
        "CELERY_BROKER_URL",
        "PYTEST_XDIST_WORKER",  # the suite's process (tests/test_xdist.py)
        "DJANGO_ALLOW_ASYNC_UNSAFE",
        "SQLITE_PATH",
        "LABELHUB_MODELS_DIR",
        "NUMBA_CACHE_DIR",
    )
    env = {k: v for k, v in os.environ.items() if k not in left_out}
    env.update(env_overrides)
    if cwd != ROOT:  # the checkout is then not the current folder python imports from
        env["PYTHONPATH"] = os.pathsep.join([str(ROOT), *filter(None, [env.get("PYTHONPATH")])])
    return subprocess.run(
        [
            sys.executable,
            "-c",
            "import django, os; os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'labelhub.settings'); django.setup(); "
            + code,
        ],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_nothing_set_means_sqlite_and_a_serverless_broker(tmp_path):
    out = run_settings({"LABELHUB_VAR_DIR": str(tmp_path)})
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["django.db.backends.sqlite3", "filesystem://"]


def test_urls_switch_to_postgresql_and_redis():
    out = run_settings(
        {
            "DATABASE_URL": "postgres://u@db.example:5432/lh",
            "CELERY_BROKER_URL": "redis://cache:6379/0",
            "SECRET_KEY": "x",
        }
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["labelhub.postgresql", "redis://cache:6379/0"]


def test_debug_off_without_secret_key_fails_loudly(tmp_path):
    out = run_settings({"DEBUG": "0", "LABELHUB_VAR_DIR": str(tmp_path)})
    assert out.returncode != 0
    assert "SECRET_KEY must be set when DEBUG is off" in out.stderr


def test_a_sqlite_database_url_connects(tmp_path):
    # The PostgreSQL-only connection options (prepared statements) must not reach sqlite3.connect.
    out = run_settings(
        {"DATABASE_URL": f"sqlite:///{tmp_path}/x.sqlite3", "SECRET_KEY": "x"},
        code="from django.db import connection; connection.ensure_connection(); print(connection.vendor)",
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["sqlite"]


def test_a_public_url_without_its_scheme_fails_loudly(tmp_path):
    # Webhook payloads, the external trainer's manifest address and the first-account link start with it.
    out = run_settings({"LABELHUB_PUBLIC_URL": "labels.example.org", "LABELHUB_VAR_DIR": str(tmp_path)})
    assert out.returncode != 0
    assert "LABELHUB_PUBLIC_URL must be an http:// or https:// address" in out.stderr
    ok = run_settings(
        {"LABELHUB_PUBLIC_URL": " https://labels.example.org/lh/ ", "LABELHUB_VAR_DIR": str(tmp_path)},
        code="from django.conf import settings; print(settings.LABELHUB_PUBLIC_URL)",
    )
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.strip() == "https://labels.example.org/lh"


def test_pgbouncer_transaction_mode_settings_come_from_the_environment():
    """Behind PgBouncer in transaction mode: no server-side cursors (a WITH HOLD cursor's next FETCH may
    reach another server connection), no prepared statements, and the connection lifetime chosen.
    Unset, prepared statements are used only where a connection reaches PostgreSQL itself (checked per
    connection: tests/labelhub/test_pgbouncer.py); 1 uses them through a pooler too."""
    code = (
        "from django.conf import settings; db = settings.DATABASES['default']; "
        "print(db['DISABLE_SERVER_SIDE_CURSORS'], db['CONN_MAX_AGE'], db['OPTIONS'].get('prepare_threshold'), "
        "db.get('PREPARE_THROUGH_POOLER'))"
    )
    base = {"DATABASE_URL": "postgres://u@pgbouncer.example:6432/lh", "SECRET_KEY": "x"}
    pooled = run_settings(
        {**base, "DB_SERVER_SIDE_CURSORS": "0", "DB_PREPARED_STATEMENTS": "0", "DB_CONN_MAX_AGE": "0"}, code=code
    )
    assert pooled.returncode == 0, pooled.stderr
    assert pooled.stdout.split() == ["True", "0", "None", "None"]
    unset = run_settings(base, code=code)
    assert unset.returncode == 0, unset.stderr
    assert unset.stdout.split() == ["False", "60", "5", "False"]
    kept = run_settings({**base, "DB_PREPARED_STATEMENTS": "1"}, code=code)
    assert kept.returncode == 0, kept.stderr
    assert kept.stdout.split() == ["False", "60", "5", "True"]


def test_every_variable_the_settings_read_is_documented():
    settings_py = (ROOT / "labelhub" / "settings.py").read_text()
    read = set(
        re.findall(
            r"""(?:os\.environ(?:\.get)?[\[(]|env_bool\(|env_list\(|env_positive_int\()\s*"([A-Z][A-Z0-9_]+)\"""",
            settings_py,
        )
    )
    assert {"DATABASE_URL", "SECRET_KEY", "DB_SERVER_SIDE_CURSORS", "LABELHUB_RESERVATION_SECONDS"} <= read
    readme = (ROOT / "README.md").read_text()
    assert sorted(name for name in read if f"`{name}`" not in readme) == []


MODELS_AND_CACHE = (
    "from django.conf import settings; from analysis.services.embeddings import models_dir; "
    "from analysis.embeddings.projection import default_numba_cache; "
    "print(settings.LABELHUB_MODELS_DIR, models_dir(), default_numba_cache())"
)


def test_the_models_and_the_numba_cache_follow_labelhub_var_dir(tmp_path):
    """A web or worker process given LABELHUB_VAR_DIR looked for the pretrained models in var/models in
    the checkout (where `make embedders` with that variable did not write them); now both in the folder."""
    out = run_settings({"LABELHUB_VAR_DIR": str(tmp_path)}, code=MODELS_AND_CACHE)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == [str(tmp_path / "models"), str(tmp_path / "models"), str(tmp_path / "numba-cache")]


def test_an_explicit_models_dir_still_wins(tmp_path):
    out = run_settings(
        {"LABELHUB_VAR_DIR": str(tmp_path), "LABELHUB_MODELS_DIR": str(tmp_path / "elsewhere")}, code=MODELS_AND_CACHE
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == [
        str(tmp_path / "elsewhere"),
        str(tmp_path / "elsewhere"),
        str(tmp_path / "numba-cache"),
    ]


def test_without_labelhub_var_dir_the_models_stay_in_var_models_of_the_checkout():
    env = {k: v for k, v in os.environ.items() if k not in ("LABELHUB_VAR_DIR", "LABELHUB_MODELS_DIR")}
    out = subprocess.run(
        [sys.executable, "-c", "from labelhub import settings; print(settings.LABELHUB_MODELS_DIR)"],
        cwd=ROOT,
        env=env | {"SECRET_KEY": "x", "DATABASE_URL": "postgres://u@127.0.0.1:5432/unused"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == [str(ROOT / "var" / "models")]


def test_s3_media_without_boto3_fails_at_start_up_naming_what_to_install(tmp_path):
    out = run_settings(
        {"AWS_STORAGE_BUCKET_NAME": "media", "LABELHUB_VAR_DIR": str(tmp_path)},
        code="import importlib.util; print(importlib.util.find_spec('boto3') is not None)",
    )
    if out.returncode == 0:
        assert out.stdout.split() == ["True"]  # boto3 is installed here: S3 storage starts
        return
    assert "AWS_STORAGE_BUCKET_NAME is set but boto3 is not installed" in out.stderr
    assert "EXTRA_PACKAGES=boto3" in out.stderr


def test_a_task_time_limit_of_a_minute_or_less_fails_loudly(tmp_path):
    """The soft limit is a minute before the hard one: CELERY_TASK_TIME_LIMIT=60 gave a soft limit of 0
    (none), 30 one of -30, and the worker started all the same."""
    for limit in ("60", "30"):
        out = run_settings({"CELERY_TASK_TIME_LIMIT": limit, "LABELHUB_VAR_DIR": str(tmp_path)})
        assert out.returncode != 0
        assert "CELERY_TASK_TIME_LIMIT must be more than 60 seconds" in out.stderr and f"got {limit}" in out.stderr
    ok = run_settings(
        {"CELERY_TASK_TIME_LIMIT": "120", "LABELHUB_VAR_DIR": str(tmp_path)},
        code="from django.conf import settings; print(settings.CELERY_TASK_SOFT_TIME_LIMIT)",
    )
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.split() == ["60"]


def test_the_reservation_time_comes_from_the_environment_and_a_bad_one_fails_loudly(tmp_path):
    """How long a labeler holds an item could not be set: LABELHUB_RESERVATION_SECONDS was read by the
    queue but never from the environment. Now it is, and a value that is no whole number above 0 stops
    the start-up naming it (0 or -5 would hand out holds that lapse at once, "5m" would crash later)."""
    code = (
        "from django.conf import settings; from labeling.services.queue import reservation_seconds; "
        "print(settings.LABELHUB_RESERVATION_SECONDS, reservation_seconds())"
    )
    for value, expected in (("", ["300", "300"]), ("900", ["900", "900"])):
        out = run_settings({"LABELHUB_RESERVATION_SECONDS": value, "LABELHUB_VAR_DIR": str(tmp_path)}, code=code)
        assert out.returncode == 0, out.stderr
        assert out.stdout.split() == expected
    for value in ("0", "-5", "5m", "1.5"):
        out = run_settings({"LABELHUB_RESERVATION_SECONDS": value, "LABELHUB_VAR_DIR": str(tmp_path)}, code=code)
        assert out.returncode != 0
        assert f"LABELHUB_RESERVATION_SECONDS must be a whole number above 0 (got '{value}')" in out.stderr


# STATIC_ROOT, MEDIA_ROOT, SQLITE_PATH and CELERY_BROKER_DIR set to "" meant the current folder (the broker's
# queue/, processed/ and control/ were made wherever the process started), while an empty LABELHUB_VAR_DIR
# meant unset; they are unset too now. And every settings import made STATIC_ROOT, which only
# `collectstatic` writes to, to keep WhiteNoise from warning about it.


def test_empty_paths_are_unset_and_a_settings_import_makes_no_static_root(tmp_path):
    var, elsewhere = tmp_path / "var", tmp_path / "elsewhere"
    elsewhere.mkdir()
    paths = ("STATIC_ROOT", "MEDIA_ROOT", "SQLITE_PATH", "CELERY_BROKER_DIR")
    out = run_settings(
        {"LABELHUB_VAR_DIR": str(var), **dict.fromkeys(paths, "")},
        code="from django.conf import settings; "
        f"print(*(os.path.abspath(getattr(settings, name)) for name in {paths!r}))",
        cwd=elsewhere,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == [
        str(var / "staticfiles"),
        str(var / "media"),
        str(var / "labelhub.sqlite3"),
        str(var / "celery"),
    ]
    assert list(elsewhere.iterdir()) == []
    assert not (var / "staticfiles").exists()

    # A web process (DEBUG off, no collectstatic) serves the app folders' files without a word about it.
    out = run_settings(
        {"LABELHUB_VAR_DIR": str(var), "SECRET_KEY": "x", "DEBUG": "0", "ALLOWED_HOSTS": "testserver"},
        code="import warnings; warnings.simplefilter('error'); from django.test import Client; "
        "response = Client().get('/static/labelhub/review/controls.js'); "
        "print(response.status_code, b'keepsEnter' in b''.join(response.streaming_content))",
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["200", "True"]
    assert not (var / "staticfiles").exists()


def test_s3_media_signs_its_urls_in_version_4_for_the_region_the_environment_names(tmp_path):
    """AWS_S3_REGION_NAME was never read (django-storages looks for it among the Django settings), and the
    signed URLs were in version 2, which S3 refuses for buckets made since 2020. Signing needs no network."""
    code = "from django.core.files.storage import default_storage; print(default_storage.url('items/1/a.png'))"
    env = {
        "AWS_STORAGE_BUCKET_NAME": "media",
        "AWS_S3_REGION_NAME": "eu-central-1",
        "AWS_ACCESS_KEY_ID": "key",
        "AWS_SECRET_ACCESS_KEY": "secret",
        "AWS_EC2_METADATA_DISABLED": "true",
        "LABELHUB_VAR_DIR": str(tmp_path),
    }
    out = run_settings(env, code=code)
    assert out.returncode == 0, out.stderr
    url = out.stdout.strip()
    assert "X-Amz-Algorithm=AWS4-HMAC-SHA256" in url
    assert "%2Feu-central-1%2Fs3%2Faws4_request" in url
