"""The suite's processes (pytest-xdist) keep their Celery jobs apart: each has its own queue and broker
folder, and an installation's workers take the queue ``CELERY_QUEUE`` names."""

from pathlib import Path

from tests.test_settings import run_settings
from tests.xdist_worker import ROOT, isolate

QUEUE = "from labelhub.celery import app; print(app.conf.task_default_queue)"


def test_each_xdist_process_gets_its_own_queue_and_broker_folder(tmp_path):
    envs = []
    for name in ("gw0", "gw1"):
        env = {"PYTEST_XDIST_WORKER": name, "CELERY_BROKER_DIR": str(tmp_path / "broker")}
        isolate(env)
        envs.append(env)
    assert [env["CELERY_QUEUE"] for env in envs] == ["celery-gw0", "celery-gw1"]
    assert [env["CELERY_BROKER_DIR"] for env in envs] == [str(tmp_path / "broker" / n) for n in ("gw0", "gw1")]


def test_the_broker_folder_follows_labelhub_var_dir_and_a_run_without_xdist_is_left_alone(tmp_path):
    env = {"PYTEST_XDIST_WORKER": "gw3", "LABELHUB_VAR_DIR": str(tmp_path), "CELERY_QUEUE": "staging"}
    isolate(env)
    assert env["CELERY_BROKER_DIR"] == str(tmp_path / "test-celery" / "gw3")
    assert env["CELERY_QUEUE"] == "staging-gw3"
    env = {"PYTEST_XDIST_WORKER": "gw0"}
    isolate(env)
    assert Path(env["CELERY_BROKER_DIR"]) == ROOT / "var" / "test-celery" / "gw0"
    plain = {"CELERY_BROKER_DIR": "/somewhere"}
    isolate(plain)
    assert plain == {"CELERY_BROKER_DIR": "/somewhere"}


def test_celery_queue_names_the_queue_jobs_go_to_and_workers_take(tmp_path):
    env = {"LABELHUB_VAR_DIR": str(tmp_path), "CELERY_BROKER_DIR": str(tmp_path / "broker")}
    assert run_settings(env, code=QUEUE).stdout.split() == ["celery"]
    assert run_settings({**env, "CELERY_QUEUE": "labels-staging"}, code=QUEUE).stdout.split() == ["labels-staging"]
    # a worker given no --queues takes the default queue
    code = "from labelhub.celery import app; print(sorted(q.name for q in app.amqp.queues.consume_from.values()))"
    out = run_settings({**env, "CELERY_QUEUE": "labels-staging"}, code=code).stdout
    assert "labels-staging" in out
