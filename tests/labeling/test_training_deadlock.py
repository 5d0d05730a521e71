"""A training job storing its model run while a labeler answers one of its items with ?next=1 holding a
lower-numbered one, on PostgreSQL. The run's predictions key-share-lock their items (in id order) when
the job's transaction commits; the answer locks the answered item, then the held one. PostgreSQL stopped
the job's transaction, and the retry inside model_run_create never ran (the commit was its caller's): the
job failed with 'deadlock detected' after its whole training, and no run was stored."""

import pytest

from analysis.models import ModelRun
from analysis.services.training import training_job_run, training_job_start
from labeling.choices import Role, Trainer
from labeling.models import Job
from labeling.services.projects import member_add
from tests.concurrency import (
    answer_with_next,
    hold,
    in_a_thread,
    pause_the_first_answer_holding_its_item,
    run_together,
    skip_unless_postgresql,
    wait_until_another_backend_waits_for_a_lock,
)
from tests.labeling.version_helpers import add_texts, answer, build, labelers, text_project

WORDS = {"cat": "meow purr whiskers kitten", "dog": "bark woof puppy fetch"}


@pytest.mark.django_db(transaction=True)
def test_a_training_job_storing_its_run_while_a_labeler_answers_two_of_its_items_succeeds(
    monkeypatch, caplog, api, manager, labeler
):
    skip_unless_postgresql()
    project = text_project(manager, classes=("cat", "dog"))
    member_add(project=project, username=labeler.username, role=Role.LABELER)
    classes = [("cat", "dog")[i % 2] for i in range(20)]
    items = add_texts(project, [f"{WORDS[c]} number {i}" for i, c in enumerate(classes)])
    (first,) = labelers(project, 1)
    for item, c in zip(items, classes, strict=True):
        answer(item, first, c)
    version = build(project, manager, {"splits": {"train": 0.6, "dev": 0.2, "test": 0.2}})
    training = training_job_start(
        project=project, version=version, trainer=Trainer.LOGISTIC_REGRESSION, params={}, user=manager
    )
    held, answered = items[0], items[1]
    hold(project, labeler, held)
    client = api(labeler)
    # The answer holds the higher item until the job's commit waits for it (the job trains first).
    locked, waited = pause_the_first_answer_holding_its_item(
        monkeypatch, lambda: wait_until_another_backend_waits_for_a_lock(timeout=60)
    )
    statuses, errors = {}, []

    def answer_it():
        statuses["answer"] = answer_with_next(client, answered, "cat").status_code

    def train():
        training_job_run(job_id=training.job_id)

    still_running = run_together([in_a_thread(answer_it, then=locked), in_a_thread(train, after=locked, errors=errors)])
    assert not still_running
    assert waited == [True]  # the two did meet
    assert errors == []
    assert statuses == {"answer": 201}
    job = Job.objects.get(pk=training.job_id)
    assert job.status == "succeeded", job.errors
    run = ModelRun.objects.get(training_job=training)
    assert job.result["model_run"] == run.pk and run.n_predictions == len(items)
    assert "chosen as a deadlock victim" in caplog.text
