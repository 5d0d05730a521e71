"""A small project with one of everything the API can point at, for the schema-driven tests."""

from analysis.services.embeddings import embeddings_push
from analysis.services.maps import map_create
from analysis.services.training import model_run_create, training_job_start
from labeling.models import Job
from labeling.services.campaigns import campaign_create
from labeling.services.guidelines import guideline_publish
from labeling.services.sources import source_create
from labeling.services.taxonomy import taxonomy_apply
from labeling.services.webhooks import webhook_create
from tests.labeling.version_helpers import add_texts, answer, build, labelers, text_project


def seed_project(manager):
    """Answer ``{"project", "token", "path": {path parameter name: a real id}}`` for ``manager``'s project.

    Text items (no files to decode), three labelers who disagree on some, a guideline, a source, a
    campaign, a taxonomy change, a built version, a webhook, a training job, a model run and a map.
    """
    from accounts.services import token_create

    project = text_project(manager, name="Fuzzed")
    source = source_create(project=project, name="forum", kind="public")
    items = add_texts(project, [f"review number {i}" for i in range(12)], tags=["night"], source=source)
    people = labelers(project, 3)
    for i, item in enumerate(items):
        for j, person in enumerate(people):
            answer(item, person, "cat" if (i + j) % 4 else "dog")
    guideline = guideline_publish(project=project, text="# Cats\nWhiskers mean cat.", author=manager)
    campaign = campaign_create(project=project, name="again", item_ids=[items[0].pk], user=manager)
    change = taxonomy_apply(project=project, op="add", payload={"key": "bird"}, author=manager)
    version = build(project, manager)
    webhook = webhook_create(project=project, url="https://hooks.example.org/labelhub", user=manager)
    training = training_job_start(project=project, version=version, trainer="external", params={}, user=manager)
    run = model_run_create(
        project=project, name="baseline", predictions=[{"item": items[1].pk, "label": "cat"}], user=manager
    )
    embeddings_push(project=project, model="mine", vectors=[{"item": i.pk, "vector": [i.pk, 1.0]} for i in items])
    emap = map_create(project=project, embedder="mine", user=manager)
    _, token = token_create(user=manager, name="fuzzing")
    path = {
        "project_id": project.pk,
        "item_id": items[2].pk,
        "source_id": source.pk,
        "campaign_id": campaign.pk,
        "number": change.number,
        "version": guideline.version,
        "ref": str(version.number),
        "job_id": Job.objects.filter(project=project).order_by("pk").values_list("pk", flat=True).first(),
        "webhook_id": webhook.pk,
        "training_id": training.pk,
        "run_id": run.pk,
        "map_id": emap.pk,
    }
    return {"project": project, "token": token, "path": path}
