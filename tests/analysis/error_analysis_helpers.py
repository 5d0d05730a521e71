"""A project whose model run has a per-slice accuracy and HLP known by construction.

Three labelers answer every item. Slices (tags):

* ``clean`` — 10 items, the labelers all agree (HLP 1); the model is right on 7 (accuracy 0.7);
* ``noisy`` — 3 items, two labelers of three agree (HLP 1/3); the model is right on 1 (1/3);
* ``beats`` — 2 items, two of three agree (HLP 1/3); the model is right on both (1.0): it beats HLP;
* one untagged item where the three labelers say three different classes: a tie, no resolved label.

16 items in all, 15 with a resolved label, 10 model answers right: "all" has accuracy 10/15 and HLP
(10 + 5 × 1/3 + 0) / 16 = 35/48.
"""

from analysis.services.training import model_run_create
from labeling.choices import Role
from labeling.models import Item
from labeling.services.annotations import annotation_save
from labeling.services.imports import ImportEntry, items_import
from labeling.services.projects import member_add
from tests.conftest import make_user, png_bytes

EXPECTED = {
    # slice: (n_items, accuracy, hlp)
    "clean": (10, 0.7, 1.0),
    "noisy": (3, 1 / 3, 1 / 3),
    "beats": (2, 1.0, 1 / 3),
    "all": (16, 10 / 15, 35 / 48),
}
EXPECTED_ORDER = ["clean", "all", "noisy", "beats"]  # weighted gaps 0.1875, 0.0625, 0, -0.0833
CLASSES = ("cat", "dog", "other")


def _import(project, n, tag, seed):
    entries = [
        ImportEntry(
            name=f"{tag or 'untagged'}-{i}.png", load=lambda s=seed + i: png_bytes(seed=s), tags=[tag] if tag else []
        )
        for i in range(n)
    ]
    ids = items_import(project=project, entries=entries).imported
    return list(Item.objects.filter(pk__in=ids).order_by("pk"))


def build_error_analysis_project(project, labelers):
    """Items, answers and a model run on ``project`` (classes cat/dog/other, three ``labelers``).

    Answers ``(run, truth, predictions)``: the resolved label and the prediction per item id.
    """
    truth, predictions = {}, {}

    def answer(item, values):
        for user, value in zip(labelers, values, strict=True):
            annotation_save(item=item, labeler=user, value=value, seconds=6.0)

    for i, item in enumerate(_import(project, 10, "clean", 1000)):
        label = CLASSES[i % 2]  # cat, dog, cat, ...
        answer(item, [label] * 3)
        truth[item.pk] = label
        predictions[item.pk] = label if i < 7 else "other"
    for i, item in enumerate(_import(project, 3, "noisy", 2000)):
        answer(item, ["dog", "dog", "cat"])
        truth[item.pk] = "dog"
        predictions[item.pk] = "dog" if i == 0 else "cat"
    for item in _import(project, 2, "beats", 3000):
        answer(item, ["cat", "cat", "other"])
        truth[item.pk] = "cat"
        predictions[item.pk] = "cat"
    (tie,) = _import(project, 1, None, 4000)
    answer(tie, ["cat", "dog", "other"])
    truth[tie.pk] = None
    predictions[tie.pk] = "cat"
    run = model_run_create(
        project=project,
        name="resnet-v1",
        predictions=[{"item": pk, "label": label, "confidence": 0.9} for pk, label in predictions.items()],
    )
    return run, truth, predictions


def three_labelers(project, labeler, labeler2):
    third = make_user("labeler3")
    member_add(project=project, username=third.username, role=Role.LABELER)
    return [labeler, labeler2, third]
