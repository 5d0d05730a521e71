"""The suite's processes (pytest-xdist: `make test` runs two) keep their Celery jobs apart: each starts its own
worker on its own test database, so each has its own queue and broker folder; and an installation's workers
take the queue ``CELERY_QUEUE`` names."""

from tests.test_settings import run_settings

CELERY = (
    "from django.conf import settings; from labelhub.celery import app; print(app.conf.task_default_queue, "
    "settings.CELERY_BROKER_DIR, app.conf.broker_transport_options['data_folder_in'])"
)


def test_each_test_process_has_its_own_queue_and_broker_folder(tmp_path):
    env = {"LABELHUB_VAR_DIR": str(tmp_path), "CELERY_BROKER_DIR": str(tmp_path / "broker")}
    outs = [run_settings({**env, "PYTEST_XDIST_WORKER": name}, code=CELERY).stdout.split() for name in ("gw0", "gw1")]
    assert outs == [
        [f"celery-{name}", str(tmp_path / "broker" / name), str(tmp_path / "broker" / name / "queue")]
        for name in ("gw0", "gw1")
    ]
    assert (tmp_path / "broker" / "gw1" / "queue").is_dir()
    out = run_settings({**env, "PYTEST_XDIST_WORKER": "gw0", "CELERY_QUEUE": "staging"}, code=CELERY).stdout
    assert out.split()[0] == "staging-gw0"


def test_celery_queue_names_the_queue_jobs_go_to_and_workers_take(tmp_path):
    env = {"LABELHUB_VAR_DIR": str(tmp_path), "CELERY_BROKER_DIR": str(tmp_path / "broker")}
    assert run_settings(env, code=CELERY).stdout.split() == [
        "celery",
        str(tmp_path / "broker"),
        str(tmp_path / "broker" / "queue"),
    ]
    out = run_settings({**env, "CELERY_QUEUE": "labels-staging"}, code=CELERY).stdout
    assert out.split()[0] == "labels-staging"
    # a worker given no --queues takes the default queue
    code = "from labelhub.celery import app; print(sorted(q.name for q in app.amqp.queues.consume_from.values()))"
    assert run_settings({**env, "CELERY_QUEUE": "labels-staging"}, code=code).stdout.split() == ["['labels-staging']"]
