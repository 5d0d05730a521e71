"""Importing existing labels (COCO, YOLO, Label Studio exports): each annotator's labels become that
person's answers, coordinates become the contract's fractions, bad labels are reported naming the
file and line or annotation, and nothing already stored is lost."""

import io
import json
import tracemalloc
import zipfile

import pytest
from django.contrib.auth import get_user_model
from django.core.files.uploadedfile import SimpleUploadedFile

from labeling.choices import JobStatus
from labeling.models import Annotation, AnnotationRevision, Item, Membership
from labeling.services.annotations import annotation_save
from labeling.services.import_jobs import import_job_create, import_job_retry, import_job_run
from labeling.services.imports import ImportEntry, items_import
from labeling.services.label_imports import labels_parse
from labeling.services.projects import member_add
from tests.conftest import make_project, png_bytes, wav_bytes

pytestmark = pytest.mark.django_db

CLASSES = [{"key": "iguana", "name": "Iguana"}, {"key": "rock", "name": "Rock"}]


def parsed_within_its_size(content: bytes, **kwargs):
    """``labels_parse`` of ``content``, holding the parse's tracemalloc peak below the file's size (a file
    read whole, then decoded and parsed, costs several times its size)."""
    tracemalloc.start()
    try:
        parsed = labels_parse(handle=io.BytesIO(content), **kwargs)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < len(content), f"{peak:,} bytes to read a {len(content):,}-byte file"
    return parsed


def zip_bytes(entries):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in entries:
            archive.writestr(name, data)
    return buffer.getvalue()


def run_import(project, user, name, content, **kwargs):
    job = import_job_create(project=project, user=user, upload=SimpleUploadedFile(name, content), **kwargs)
    import_job_run(job_id=job.pk)
    job.refresh_from_db()
    return job


def answers(project):
    """{(item original name, username): value as stored, parsed}."""
    out = {}
    for a in Annotation.objects.filter(item__project=project).select_related("item", "labeler"):
        try:
            value = json.loads(a.value)
        except ValueError:
            value = a.value
        out[(a.item.original_name, a.labeler.username)] = value
    return out


def approx_boxes(value):
    return [{**b, **{k: pytest.approx(b[k]) for k in ("x", "y", "w", "h")}} for b in value["boxes"]]


@pytest.fixture
def detection(manager, labeler):
    project = make_project(manager, name="Iguanas", modality="image", task_type="detection", classes=CLASSES)
    member_add(project=project, username=labeler.username, role="labeler")
    return project


def import_images(project, names, size=(200, 100)):
    entries = [
        ImportEntry(name=name, load=lambda seed=n: png_bytes(size=size, seed=seed)) for n, name in enumerate(names)
    ]
    report = items_import(project=project, entries=entries)
    assert len(report.imported) == len(names)
    return {e.name: e.item for e in entries}


# --- COCO ----------------------------------------------------------------------------------------


def coco(images, annotations):
    return json.dumps(
        {
            "info": {"description": "exported"},
            "images": images,
            "annotations": annotations,
            "categories": [{"id": 1, "name": "iguana", "supercategory": ""}, {"id": 2, "name": "Rock"}],
        }
    ).encode()


def coco_image(id, name, width=200, height=100):
    return {"id": id, "file_name": name, "width": width, "height": height}


def coco_box(id, image_id, bbox, category_id=1):
    return {"id": id, "image_id": image_id, "category_id": category_id, "bbox": bbox, "area": 1, "iscrowd": 0}


def test_coco_file_matched_to_imported_images_becomes_the_named_labelers_answers(manager, labeler, detection):
    ids = import_images(detection, ["a.png", "b.png"])
    content = coco(
        [coco_image(1, "images/a.png"), coco_image(2, "b.png")],
        [coco_box(10, 1, [20, 10, 50, 40]), coco_box(11, 1, [100, 50, 100, 50], category_id=2)],
    )
    job = run_import(detection, manager, "instances.json", content, fmt="coco", labeler=labeler.username)
    assert job.status == JobStatus.SUCCEEDED, job.errors
    assert job.errors == [] and job.result["answers"] == {"created": 2, "revised": 0, "unchanged": 0}
    got = answers(detection)
    assert got[("a.png", "labeler1")]["boxes"] == approx_boxes(
        {
            "boxes": [
                {"x": 0.1, "y": 0.1, "w": 0.25, "h": 0.4, "label": "iguana"},
                {"x": 0.5, "y": 0.5, "w": 0.5, "h": 0.5, "label": "rock"},  # category "Rock" is the class named Rock
            ]
        }
    )
    assert got[("b.png", "labeler1")] == {"boxes": []}  # listed without boxes: "nothing here"
    assert Item.objects.get(pk=ids["a.png"]).n_answers == 1


def test_coco_zip_with_its_images_creates_the_items_and_a_new_labeler(manager, detection):
    content = zip_bytes(
        [
            ("annotations/instances_default.json", coco([coco_image(1, "a.png")], [coco_box(1, 1, [0, 0, 200, 100])])),
            ("images/a.png", png_bytes(size=(200, 100), seed=7)),
        ]
    )
    job = run_import(detection, manager, "coco.zip", content, fmt="coco", labeler="ana")
    assert job.result["imported"] == 1 and job.result["labelers"] == ["ana"], job.errors
    assert answers(detection) == {
        ("images/a.png", "ana"): {"boxes": [{"x": 0, "y": 0, "w": 1, "h": 1, "label": "iguana"}]}
    }
    assert Membership.objects.get(project=detection, user__username="ana").role == "labeler"


def test_coco_unknown_class_and_box_outside_reject_only_their_images_and_keep_stored_answers(
    manager, labeler, detection
):
    ids = import_images(detection, ["a.png", "b.png", "c.png"])
    item_b = Item.objects.get(pk=ids["b.png"])
    before, _ = annotation_save(item=item_b, labeler=labeler, value={"boxes": []})
    data = json.loads(coco([coco_image(1, "a.png"), coco_image(2, "b.png"), coco_image(3, "c.png")], []))
    data["categories"].append({"id": 3, "name": "cactus"})
    data["annotations"] = [
        coco_box(5, 1, [10, 10, 20, 20]),
        coco_box(6, 2, [150, 10, 60, 20]),  # reaches x = 210 in a 200 px image
        coco_box(7, 3, [10, 10, 20, 20], category_id=3),
        coco_box(8, 9, [10, 10, 20, 20]),
    ]
    job = run_import(detection, manager, "instances.json", json.dumps(data).encode(), fmt="coco", labeler="labeler1")
    reasons = {e["name"]: e["reason"] for e in job.errors}
    assert "outside the 200 x 100 pixel image" in reasons["instances.json image 2 (b.png)"]
    assert "annotation 6" in reasons["instances.json image 2 (b.png)"]
    assert 'unknown class "cactus"' in reasons["instances.json image 3 (c.png)"]
    assert "annotation 7" in reasons["instances.json image 3 (c.png)"]
    assert "not among the images" in reasons["instances.json annotation 8"]
    assert job.result["answers"]["created"] == 1
    assert set(answers(detection)) == {("a.png", "labeler1"), ("b.png", "labeler1")}
    kept = Annotation.objects.get(pk=before.pk)
    assert (kept.value, kept.revision) == (before.value, 1)


def test_coco_number_beyond_any_float_rejects_only_its_image(manager, detection):
    """An integer of 400 digits in one bbox failed the whole import (OverflowError)."""
    import_images(detection, ["a.png", "b.png"])
    data = json.loads(coco([coco_image(1, "a.png"), coco_image(2, "b.png")], []))
    data["annotations"] = [coco_box(5, 1, [10, 10, 20, 20]), coco_box(6, 2, [10**400, 10, 20, 20])]
    job = run_import(detection, manager, "instances.json", json.dumps(data).encode(), fmt="coco", labeler="labeler1")
    assert job.status == JobStatus.SUCCEEDED, job.errors
    reasons = {e["name"]: e["reason"] for e in job.errors}
    assert "out of range" in reasons["instances.json image 2 (b.png)"]
    assert set(answers(detection)) == {("a.png", "labeler1")}


def test_coco_file_is_read_in_less_memory_than_its_own_size_annotations_first(manager, detection):
    """A label import's worker read a COCO file whole (json.loads): a train2017-sized file (448 MB) took
    several GB. It is streamed now, a list at a time, whichever order the file's keys come in: the parse
    holds its tasks and boxes, not the file's objects (here about 7x the file's size before)."""
    import_images(detection, ["a.png"])
    polygon = [[float(n % 200) + 0.25 for n in range(150)]]  # COCO's segmentation, read and left out
    annotations = [
        {**coco_box(n, 1 + n % 500, [10.5, 10.5, 20.25, 20.25]), "segmentation": polygon} for n in range(2000)
    ]
    images = [{**coco_image(n, "a.png"), "license": 1, "date_captured": "2013-11-14"} for n in range(1, 501)]
    categories = [{"id": 1, "name": "iguana"}]
    content = json.dumps({"annotations": annotations, "images": images, "categories": categories}).encode()
    parsed = parsed_within_its_size(content, project=detection, fmt="coco", filename="instances.json", labeler="ana")
    assert [t.error for t in parsed.tasks] == [""] * 500
    assert sum(len(t.answers[0].value["boxes"]) for t in parsed.tasks) == 2000
    assert approx_boxes(parsed.tasks[0].answers[0].value)[0] == {
        "x": pytest.approx(10.5 / 200), "y": pytest.approx(10.5 / 100), "w": pytest.approx(20.25 / 200),
        "h": pytest.approx(20.25 / 100), "label": "iguana",
    }  # fmt: skip


# --- YOLO ----------------------------------------------------------------------------------------


def test_yolo_zip_becomes_answers_with_centre_boxes_converted(manager, detection):
    content = zip_bytes(
        [
            ("classes.txt", "iguana\nrock\n"),
            ("images/train/a.png", png_bytes(size=(200, 100), seed=1)),
            ("images/train/b.png", png_bytes(size=(200, 100), seed=2)),
            ("labels/train/a.txt", "0 0.5 0.5 0.2 0.4\n1 0.9 0.25 0.2 0.5\n"),
            ("notes.json", "{}"),
        ]
    )
    job = run_import(detection, manager, "yolo.zip", content, fmt="yolo", labeler="bo")
    assert job.status == JobStatus.SUCCEEDED and job.errors == [], job.errors
    got = answers(detection)
    assert got[("images/train/a.png", "bo")]["boxes"] == approx_boxes(
        {
            "boxes": [
                {"x": 0.4, "y": 0.3, "w": 0.2, "h": 0.4, "label": "iguana"},
                {"x": 0.8, "y": 0.0, "w": 0.2, "h": 0.5, "label": "rock"},
            ]
        }
    )
    assert got[("images/train/b.png", "bo")] == {"boxes": []}  # an image without a label file: no objects


def test_yolo_malformed_line_names_file_and_line_and_stores_nothing_of_that_image(manager, detection):
    content = zip_bytes(
        [
            ("data.yaml", "names:\n  0: iguana\n  1: rock\n"),
            ("images/a.png", png_bytes(size=(64, 64), seed=1)),
            ("images/b.png", png_bytes(size=(64, 64), seed=2)),
            ("images/c.png", png_bytes(size=(64, 64), seed=3)),
            ("labels/a.txt", "0 0.5 0.5 0.2 0.2\n0 0.5 0.5 0.2\n"),
            ("labels/b.txt", "0 0.95 0.5 0.2 0.2\n"),
            ("labels/c.txt", "7 0.5 0.5 0.2 0.2\n"),
        ]
    )
    job = run_import(detection, manager, "yolo.zip", content, fmt="yolo", labeler="bo")
    reasons = {e["name"]: e["reason"] for e in job.errors}
    assert reasons["labels/a.txt"].startswith("line 2: a box is 'class cx cy w h' (5 values), not 4")
    assert reasons["labels/b.txt"].startswith("line 1: the box") and "outside the image" in reasons["labels/b.txt"]
    assert reasons["labels/c.txt"] == "line 1: class 7 is not in data.yaml (2 classes)"
    assert job.result["imported"] == 0 and not Annotation.objects.exists()


def test_yolo_label_and_class_files_over_the_file_limit_are_refused_unread(manager, detection, settings):
    """A zip member is read whole: a label file of gigabytes of spaces (a few megabytes compressed) took
    the worker's memory. Label and class files are held to the per-file limit, as images are."""
    settings.LABELHUB_MAX_FILE_BYTES = 20_000
    line = "0 0.5 0.5 0.2 0.2\n"
    image = png_bytes(size=(64, 64), seed=1)
    content = zip_bytes(
        [
            ("classes.txt", "iguana\nrock\n"),
            ("images/a.png", image),
            ("images/b.png", png_bytes(size=(64, 64), seed=2)),
            ("labels/a.txt", line + "\n" * 21_000),  # one box and blank lines: 21,018 bytes
            ("labels/b.txt", line),
        ]
    )
    job = run_import(detection, manager, "yolo.zip", content, fmt="yolo", labeler="bo")
    reasons = {e["name"]: e["reason"] for e in job.errors}
    assert reasons["labels/a.txt"] == "labels/a.txt is 21,018 bytes, over the limit of 20,000"
    assert set(answers(detection)) == {("images/b.png", "bo")}
    names = zip_bytes([("classes.txt", "iguana\n" * 3000), ("images/a.png", image), ("labels/a.txt", line)])
    job = run_import(detection, manager, "yolo.zip", names, fmt="yolo", labeler="bo")
    assert job.status == JobStatus.FAILED
    assert "classes.txt is 21,000 bytes, over the limit of 20,000" in job.errors[-1]["reason"]


# --- Label Studio --------------------------------------------------------------------------------


def ls_user(id, email):
    return {"id": id, "first_name": "", "last_name": "", "email": email}


def ls_annotation(id, completed_by, result, **extra):
    return {
        "id": id,
        "completed_by": completed_by,
        "result": result,
        "was_cancelled": False,
        "ground_truth": False,
        "created_at": "2024-05-02T10:11:12.000000Z",
        "updated_at": "2024-05-02T10:11:12.000000Z",
        "lead_time": 12.5,
        "prediction": {},
        "result_count": 0,
        "task": 1,
        "parent_prediction": None,
        "parent_annotation": None,
        **extra,
    }


def ls_rect(id, x, y, w, h, label, rotation=0):
    return {
        "original_width": 200,
        "original_height": 100,
        "image_rotation": 0,
        "value": {"x": x, "y": y, "width": w, "height": h, "rotation": rotation, "rectanglelabels": [label]},
        "id": id,
        "from_name": "label",
        "to_name": "image",
        "type": "rectanglelabels",
        "origin": "manual",
    }


def test_a_rotated_label_studio_box_becomes_the_upright_box_around_it(manager, detection):
    """A box Label Studio turned about its top-left corner is kept as the upright box that holds it, in
    the image's pixels (200 x 100); without the image's size in the result it is refused naming what is
    missing: the turn was made in the unit square, which distorted any image that is not square."""
    turned = ls_rect("r1", 50, 20, 10, 30, "iguana", rotation=90)  # 20 x 30 px at (100, 20), turned 90°
    sizeless = {k: v for k, v in ls_rect("r2", 50, 20, 10, 30, "iguana", rotation=90).items() if k != "original_width"}
    export = [
        ls_task(
            1,
            {"image": "/data/upload/3/5d4a1c2e-photo.png"},
            [ls_annotation(101, ls_user(1, "lea@example.com"), [turned])],
        ),
        ls_task(
            2,
            {"image": "/data/upload/3/0badf00d-other.png"},
            [ls_annotation(102, ls_user(1, "lea@example.com"), [sizeless])],
        ),
    ]
    content = zip_bytes(
        [
            ("export.json", json.dumps(export)),
            ("photo.png", png_bytes(size=(200, 100), seed=3)),
            ("other.png", png_bytes(size=(200, 100), seed=4)),
        ]
    )
    job = run_import(detection, manager, "project-3.zip", content, fmt="label_studio")
    got = answers(detection)
    # corners (100, 20), (100, 40), (70, 20), (70, 40): x 70-100 of 200, y 20-40 of 100
    assert got[("photo.png", "lea@example.com")]["boxes"] == approx_boxes(
        {"boxes": [{"x": 0.35, "y": 0.2, "w": 0.15, "h": 0.2, "label": "iguana"}]}
    )
    reasons = {e["name"]: e["reason"] for e in job.errors}
    assert "a rotated box needs the image's original_width and original_height" in " ".join(reasons.values())
    assert ("other.png", "lea@example.com") not in got


def ls_task(id, data, annotations, predictions=()):
    return {
        "id": id,
        "annotations": annotations,
        "file_upload": "5d4a1c2e-photo.png",
        "drafts": [],
        "predictions": list(predictions),
        "data": data,
        "meta": {},
        "created_at": "2024-05-02T10:00:00.000000Z",
        "updated_at": "2024-05-02T10:11:12.000000Z",
        "inner_id": id,
        "total_annotations": len(annotations),
        "cancelled_annotations": 0,
        "total_predictions": 0,
        "comment_count": 0,
        "unresolved_comment_count": 0,
        "last_comment_updated_at": None,
        "project": 3,
        "updated_by": 1,
        "comment_authors": [],
    }


def test_label_studio_boxes_by_two_annotators_become_each_persons_answers(manager, labeler, detection):
    labeler.email = "lea@example.com"
    labeler.save()
    export = [
        ls_task(
            1,
            {"image": "/data/upload/3/5d4a1c2e-photo.png"},
            [
                ls_annotation(101, ls_user(1, "LEA@example.com"), [ls_rect("r1", 10, 20, 30, 40, "Iguana")]),
                ls_annotation(
                    102,
                    ls_user(2, "sam@example.com"),
                    [ls_rect("r2", 10, 20, 15, 40, "iguana"), ls_rect("r3", 25, 20, 15, 40, "iguana")],
                ),
                ls_annotation(103, ls_user(3, "skipper@example.com"), [], was_cancelled=True),
            ],
            predictions=[{"model_version": "v1", "score": 0.5, "result": [ls_rect("p1", 0, 0, 10, 10, "rock")]}],
        ),
        ls_task(2, {"image": "/data/upload/3/0badf00d-empty.png"}, [ls_annotation(104, 2, [])]),
    ]
    content = zip_bytes(
        [
            ("export.json", json.dumps(export)),
            ("photo.png", png_bytes(size=(200, 100), seed=3)),
            ("empty.png", png_bytes(size=(200, 100), seed=4)),
        ]
    )
    job = run_import(detection, manager, "project-3.zip", content, fmt="label_studio")
    assert job.status == JobStatus.SUCCEEDED and job.errors == [], job.errors
    got = answers(detection)
    assert got[("photo.png", "labeler1")]["boxes"] == approx_boxes(
        {"boxes": [{"x": 0.1, "y": 0.2, "w": 0.3, "h": 0.4, "label": "iguana"}]}
    )
    assert got[("photo.png", "sam@example.com")]["boxes"] == approx_boxes(
        {
            "boxes": [
                {"x": 0.1, "y": 0.2, "w": 0.15, "h": 0.4, "label": "iguana"},
                {"x": 0.25, "y": 0.2, "w": 0.15, "h": 0.4, "label": "iguana"},
            ]
        }
    )
    assert got[("empty.png", "sam@example.com")] == {"boxes": []}  # completed_by 2: sam, named in task 1
    assert len(got) == 3  # the cancelled annotation and the model's prediction are not answers
    sam = get_user_model().objects.get(username="sam@example.com")
    assert not sam.has_usable_password() and Membership.objects.get(project=detection, user=sam).role == "labeler"
    assert Annotation.objects.get(labeler=sam, item__original_name="photo.png").seconds == 12.5
    assert Item.objects.get(original_name="photo.png").n_answers == 2

    # The same export again stores nothing twice; a changed annotation becomes a revision.
    export[0]["annotations"][0]["result"][0]["value"]["x"] = 12
    again = run_import(
        detection, manager, "project-3.zip", zip_bytes([("export.json", json.dumps(export))]), fmt="label_studio"
    )
    assert again.result["answers"] == {"created": 0, "revised": 1, "unchanged": 2}, again.errors
    assert AnnotationRevision.objects.count() == 1
    assert Item.objects.get(original_name="photo.png").n_answers == 2


def test_label_studio_boxes_give_box_agreement_at_once(manager, detection):
    from analysis.metrics.shapes import box_f1, shape_table

    lea, sam = ls_user(1, "lea@example.com"), ls_user(2, "sam@example.com")
    export = [
        ls_task(
            1,
            {"image": "/data/upload/3/00000001-img1.png"},
            [
                ls_annotation(11, lea, [ls_rect("a", 10, 10, 30, 30, "iguana")]),
                ls_annotation(12, sam, [ls_rect("b", 11, 10, 30, 30, "iguana")]),
            ],
        ),
        ls_task(
            2,
            {"image": "/data/upload/3/00000002-img2.png"},
            [
                ls_annotation(21, lea, [ls_rect("c", 10, 10, 60, 60, "iguana")]),  # one box round two iguanas
                ls_annotation(
                    22, sam, [ls_rect("d", 10, 10, 25, 60, "iguana"), ls_rect("e", 45, 10, 25, 60, "iguana")]
                ),
            ],
        ),
    ]
    content = zip_bytes([("result.json", json.dumps(export))] + [(f"img{n}.png", png_bytes(seed=n)) for n in (1, 2)])
    job = run_import(detection, manager, "ls.zip", content, fmt="label_studio")
    assert job.result["answers"]["created"] == 4, job.errors
    rows = Annotation.objects.filter(item__project=detection).values_list("item_id", "labeler__username", "value")
    report = box_f1(shape_table([(i, u, json.loads(v)) for i, u, v in rows]), n_resamples=20)
    assert report.f1.value == pytest.approx(2 * 1 / (2 + 3))  # one match of five boxes
    assert [(r["one"], r["many"], r["n"]) for r in report.split_merge] == [("lea@example.com", "sam@example.com", 2)]


@pytest.fixture
def segments(manager):
    return make_project(manager, name="Regions", modality="audio", task_type="segments", classes=[{"key": "speech"}])


def ls_region(id, start, end, label):
    return {
        "original_length": 2.0,
        "value": {"start": start, "end": end, "channel": 0, "labels": [label]},
        "id": id,
        "from_name": "label",
        "to_name": "audio",
        "type": "labels",
        "origin": "manual",
    }


def test_label_studio_audio_regions_become_segments_and_a_region_past_the_clip_is_rejected(manager, segments):
    export = [
        ls_task(
            1,
            {"audio": "/data/upload/4/aaaa1111-one.wav"},
            [ls_annotation(1, ls_user(1, "lea@x.org"), [ls_region("s", 0.25, 1.5, "speech")])],
        ),
        ls_task(
            2,
            {"audio": "/data/upload/4/bbbb2222-two.wav"},
            [ls_annotation(2, ls_user(1, "lea@x.org"), [ls_region("t", 0.5, 3.5, "speech")])],
        ),
    ]
    content = zip_bytes(
        [
            ("export.json", json.dumps(export)),
            ("one.wav", wav_bytes(seconds=2.0)),
            ("two.wav", wav_bytes(seconds=2.0, freq=220)),
        ]
    )
    job = run_import(segments, manager, "audio.zip", content, fmt="label_studio")
    assert answers(segments) == {
        ("one.wav", "lea@x.org"): {"segments": [{"start": 0.25, "end": 1.5, "label": "speech"}]}
    }
    assert job.errors == [
        {
            "name": "export.json task 2",
            "reason": "annotation 2 by lea@x.org: segments[0]: end = 3.5 s is after the clip's end (2 s)",
        }
    ]


def test_label_studio_audio_regions_as_its_editor_writes_them(manager):
    """What Label Studio's audio editor writes (its e2e example "audio-regions"): a region per result of
    type ``labels`` with ``start``/``end`` in seconds, a ``channel`` (0 or 1 with ``splitchannels``) and
    several labels with ``choice="multiple"``; a second ``Labels`` control adds its own result with the
    same region id; clip-level ``choices`` and per-region ``textarea`` results ride along, and so may
    ``labels`` of a text shown beside the clip (character offsets, with the span's ``text``). The same
    span and class twice (on both channels, or from two controls) is one segment (the clip's segments have
    no channel), a region with two labels is a segment of each, and the text's spans are no segments."""
    project = make_project(
        manager,
        name="Regions",
        modality="audio",
        task_type="segments",
        classes=[{"key": "speech"}, {"key": "music", "name": "Music"}, {"key": "noise"}],
    )

    def region(id, start, end, labels, channel=0, from_name="label"):
        result = ls_region(id, start, end, labels[0])
        result["value"].update(labels=labels, channel=channel)
        return {**result, "from_name": from_name, "original_length": 3.0}

    results = [
        region("a", 0.25, 1.5, ["speech"], channel=0),
        region("b", 0.25, 1.5, ["speech"], channel=1),  # the same speech on the other channel
        region("c", 1.0, 2.0, ["Music", "speech"]),  # choice="multiple": sung
        region("c", 1.0, 2.0, ["noise"], from_name="background"),  # a second Labels control, same region
        {"id": "g", "from_name": "genre", "to_name": "audio", "type": "choices", "value": {"choices": ["Pop"]}},
        {
            "id": "a",
            "from_name": "transcription",
            "to_name": "audio",
            "type": "textarea",
            "value": {"start": 0.25, "end": 1.5, "channel": 0, "text": ["hello there"]},
        },
        {
            "id": "n",
            "from_name": "entities",
            "to_name": "lyrics",
            "type": "labels",
            "value": {"start": 0, "end": 5, "text": "hello", "labels": ["Greeting"]},
        },
    ]
    export = [
        ls_task(1, {"audio": "/data/upload/4/aaaa1111-one.wav", "lyrics": "hello there"}, [
            ls_annotation(1, ls_user(1, "lea@x.org"), results)
        ])
    ]  # fmt: skip
    content = zip_bytes([("export.json", json.dumps(export)), ("one.wav", wav_bytes(seconds=3.0))])
    job = run_import(project, manager, "audio.zip", content, fmt="label_studio")
    assert job.errors == [], job.errors
    (value,) = answers(project).values()
    assert sorted(value["segments"], key=lambda s: (s["start"], s["label"])) == [
        {"start": 0.25, "end": 1.5, "label": "speech"},
        {"start": 1.0, "end": 2.0, "label": "music"},
        {"start": 1.0, "end": 2.0, "label": "noise"},
        {"start": 1.0, "end": 2.0, "label": "speech"},
    ]


def test_label_studio_per_region_transcripts_join_in_time_order(manager):
    """The "ASR using segments" template writes one ``textarea`` per region, in the order the regions were
    drawn: a transcription project's answer reads them in the clip's order (by ``start``), not drawn order."""
    project = make_project(manager, name="Segments read", modality="audio", task_type="transcription")
    items_import(project=project, entries=[ImportEntry(name="call.wav", load=lambda: wav_bytes(seconds=3.0))])

    def said(id, start, end, text):
        value = {"start": start, "end": end, "channel": 0, "text": [text]}
        return {"id": id, "from_name": "transcription", "to_name": "audio", "type": "textarea", "value": value}

    result = [said("r2", 1.6, 2.4, "the lights"), said("r1", 0.2, 1.4, "turn on"), ls_region("r1", 0.2, 1.4, "Speech")]
    export = [ls_task(1, {"audio": "call.wav"}, [ls_annotation(1, ls_user(5, "tx@x.org"), result)])]
    job = run_import(project, manager, "export.json", json.dumps(export).encode(), fmt="label_studio")
    assert job.errors == [] and answers(project) == {("call.wav", "tx@x.org"): "turn on\nthe lights"}


def test_label_studios_json_min_export_of_audio_regions_gives_the_segments_its_json_export_does(manager):
    """JSON-MIN (Label Studio's other JSON export) writes one record per annotation: the task's data fields,
    then each control's results under its name without their types. Its converter flattens only a single
    choice or text to a plain string; audio regions stay objects with ``start``, ``end`` and ``labels``, so
    they read as the JSON export's: the editor's annotation above gives the same segments, an annotator named
    by id is ``label-studio-<id>``, and the clip-level choice and per-region transcript (plain strings now)
    are no segments."""
    project = make_project(
        manager,
        name="Regions",
        modality="audio",
        task_type="segments",
        classes=[{"key": "speech"}, {"key": "music", "name": "Music"}, {"key": "noise"}],
    )

    def region(start, end, labels, channel=0):
        return {"start": start, "end": end, "channel": channel, "labels": labels}

    def record(task_id, annotator, annotation_id, **results):
        meta = {"created_at": "2024-05-02T10:11:12.000000Z", "updated_at": "2024-05-02T10:11:12.000000Z"}
        data = {"audio": f"/data/upload/4/aaaa111{task_id}-{'one' if task_id == 1 else 'two'}.wav"}
        return {**data, "lyrics": "hello there", "id": task_id, **results, "annotator": annotator,
                "annotation_id": annotation_id, **meta, "lead_time": 12.5}  # fmt: skip

    export = [
        record(
            1,
            "lea@x.org",
            7,
            label=[
                region(0.25, 1.5, ["speech"]),
                region(0.25, 1.5, ["speech"], 1),
                region(1.0, 2.0, ["Music", "speech"]),
            ],
            background=[region(1.0, 2.0, ["noise"])],
            genre="Pop",
            transcription="hello there",
            entities=[{"start": 0, "end": 5, "text": "hello", "labels": ["Greeting"]}],
        ),
        record(1, 9, 8, label=[region(2.5, 2.75, ["noise"])]),
        record(2, "lea@x.org", 9),  # submitted with no region: nothing here
    ]
    content = zip_bytes(
        [
            ("project-4-at-2024-05-02-min.json", json.dumps(export)),
            ("one.wav", wav_bytes(seconds=3.0)),
            ("two.wav", wav_bytes(seconds=1.0, freq=220)),
        ]
    )
    job = run_import(project, manager, "audio.zip", content, fmt="label_studio")
    assert job.status == JobStatus.SUCCEEDED and job.errors == [], job.errors
    got = answers(project)
    assert sorted(got[("one.wav", "lea@x.org")]["segments"], key=lambda s: (s["start"], s["label"])) == [
        {"start": 0.25, "end": 1.5, "label": "speech"},
        {"start": 1.0, "end": 2.0, "label": "music"},
        {"start": 1.0, "end": 2.0, "label": "noise"},
        {"start": 1.0, "end": 2.0, "label": "speech"},
    ]
    assert got[("one.wav", "label-studio-9")] == {"segments": [{"start": 2.5, "end": 2.75, "label": "noise"}]}
    assert got[("two.wav", "lea@x.org")] == {"segments": []}
    assert len(got) == 3


def test_label_studio_choices_on_text_tasks_become_classification_answers(manager, labeler):
    project = make_project(
        manager,
        name="Reviews",
        modality="text",
        classes=[{"key": "pos", "name": "Positive"}, {"key": "neg", "name": "Negative"}],
    )

    def choice(value):
        return [
            {
                "value": {"choices": [value]},
                "id": "c",
                "from_name": "sentiment",
                "to_name": "text",
                "type": "choices",
                "origin": "manual",
            }
        ]

    export = [
        ls_task(
            1,
            {"text": "Great product"},
            [
                ls_annotation(1, ls_user(1, "a@x.org"), choice("Positive")),
                ls_annotation(2, ls_user(2, "b@x.org"), choice("Negative")),
            ],
        ),
        ls_task(2, {"text": "Awful"}, [ls_annotation(3, ls_user(1, "a@x.org"), choice("Neutral"))]),
        ls_task(3, {"text": "So so"}, [ls_annotation(4, ls_user(1, "a@x.org"), [])]),
    ]
    job = run_import(project, manager, "export.json", json.dumps(export).encode(), fmt="label_studio")
    assert answers(project) == {("task 1", "a@x.org"): "pos", ("task 1", "b@x.org"): "neg"}
    assert job.errors[0]["name"] == "export.json task 2"
    assert 'annotation 3 by a@x.org, result c: unknown class "Neutral"' in job.errors[0]["reason"]
    assert Item.objects.filter(project=project).count() == 2  # the rejected task's text is not imported


def test_label_studio_export_is_read_in_less_memory_than_its_own_size(manager):
    """A Label Studio JSON export was read whole (json.loads) by the import's worker: several times the
    file's size in Python objects. Its tasks are streamed now, each read, answered and let go."""
    project = make_project(manager, name="Reviews", modality="text", classes=[{"key": "pos"}, {"key": "neg"}])
    choice = [{"value": {"choices": ["pos"]}, "id": "c", "from_name": "s", "to_name": "text", "type": "choices"}]
    scores = [{"result": choice, "score": 0.5, "model_version": "v1", "logits": [n / 7 for n in range(200)]}]
    export = [
        ls_task(n, {"text": f"review {n}"}, [ls_annotation(n, ls_user(1, "a@x.org"), choice)], predictions=scores)
        for n in range(1, 401)
    ]
    content = json.dumps(export).encode()
    parsed = parsed_within_its_size(content, project=project, fmt="label_studio", filename="e.json")
    assert [(t.text, [a.value for a in t.answers]) for t in parsed.tasks[:2]] == [
        ("review 1", ["pos"]),
        ("review 2", ["pos"]),
    ]
    assert len(parsed.tasks) == 400


def test_label_studio_textarea_becomes_a_transcript_of_an_already_imported_clip(manager):
    project = make_project(manager, name="Speech", modality="audio", task_type="transcription")
    items_import(project=project, entries=[ImportEntry(name="clip-7.wav", load=lambda: wav_bytes(seconds=1.0))])
    result = [
        {
            "value": {"text": ["turn the lights on"]},
            "id": "t",
            "from_name": "transcription",
            "to_name": "audio",
            "type": "textarea",
            "origin": "manual",
        }
    ]
    export = [ls_task(1, {"audio": "s3://bucket/calls/clip-7.wav"}, [ls_annotation(1, ls_user(5, "tx@x.org"), result)])]
    job = run_import(project, manager, "export.json", json.dumps(export).encode(), fmt="label_studio")
    assert job.errors == [] and answers(project) == {("clip-7.wav", "tx@x.org"): "turn the lights on"}


# --- bad uploads ---------------------------------------------------------------------------------


def test_malformed_label_studio_json_fails_the_job_naming_line_and_column(manager, detection):
    job = run_import(
        detection, manager, "export.json", b'[{"id": 1,\n "data": {"image": "x.png"}\n', fmt="label_studio"
    )
    assert job.status == JobStatus.FAILED
    assert "export.json: not valid JSON" in job.errors[-1]["reason"] and "line 3" in job.errors[-1]["reason"]
    assert not Item.objects.exists()


def test_an_unmatched_file_name_is_reported_and_a_bare_user_id_becomes_a_user(manager, detection):
    import_images(detection, ["here.png"])
    export = [
        ls_task(1, {"image": "/data/upload/3/12345678-nowhere.png"}, [ls_annotation(1, 1, [])]),
        ls_task(2, {"image": "/data/upload/3/12345678-here.png"}, [ls_annotation(2, 7, [])]),
    ]
    job = run_import(detection, manager, "export.json", json.dumps(export).encode(), fmt="label_studio")
    assert job.errors == [
        {"name": "export.json task 1", "reason": "no file '12345678-nowhere.png' among the project's items"}
    ]
    assert answers(detection) == {("here.png", "label-studio-7"): {"boxes": []}}


@pytest.mark.parametrize(
    "data, field, words",
    [
        ({"format": "pascal"}, "format", "unknown format 'pascal'"),
        ({"format": "coco"}, "labeler", "names no annotator"),
        ({"format": "coco", "labeler": "a b"}, "labeler", "not a valid username"),
        ({"format": "label_studio", "label_from_folder": "true"}, "label_from_folder", "labels file"),
    ],
)
def test_imports_api_refuses_a_format_that_cannot_fit(api, manager, detection, data, field, words):
    response = api(manager).post(
        f"/api/projects/{detection.pk}/imports/",
        {"file": SimpleUploadedFile("x.json", b"[]"), **data},
        format="multipart",
    )
    assert response.status_code == 400
    assert words in str(response.json()[field])


def test_coco_into_a_classification_project_is_refused(api, manager, project):
    response = api(manager).post(
        f"/api/projects/{project.pk}/imports/",
        {"file": SimpleUploadedFile("x.json", b"{}"), "format": "coco", "labeler": "ana"},
        format="multipart",
    )
    assert response.status_code == 400 and "detection project" in response.json()["format"][0]


def test_a_label_import_runs_again_without_storing_anything_twice(manager, detection, monkeypatch):
    from labeling.services import import_jobs

    monkeypatch.setattr(import_jobs.default_storage, "delete", lambda name: None)  # keep the upload to retry
    content = zip_bytes(
        [("classes.txt", "iguana\n"), ("images/a.png", png_bytes(seed=5)), ("labels/a.txt", "0 0.5 0.5 0.5 0.5\n")]
    )
    job = run_import(detection, manager, "yolo.zip", content, fmt="yolo", labeler="bo")
    job.status = JobStatus.FAILED  # as if its worker had died after storing everything
    job.save()
    import_job_retry(job=job)
    import_job_run(job_id=job.pk)
    job.refresh_from_db()
    assert job.result["imported"] == 1 and job.result["duplicates"] == 0
    assert job.result["answers"] == {"created": 0, "revised": 0, "unchanged": 1}
    assert Annotation.objects.count() == 1 and Item.objects.get().n_answers == 1


def test_import_page_offers_the_label_formats_that_fit_the_project(client, manager, detection, project):
    client.force_login(manager)
    page = client.get(f"/projects/{detection.pk}/import/").content.decode()
    assert 'value="coco"' in page and 'value="yolo"' in page and 'value="label_studio"' in page
    page = client.get(f"/projects/{project.pk}/import/").content.decode()
    assert 'value="coco"' not in page and 'value="label_studio"' in page


# --- exports read back: files that share a name in different folders ----------------------------


SAME_NAMES = {  # original name: (size, the box both labelers draw, in fractions)
    "a/x.png": ((200, 100), [(0.1, 0.2, 0.3, 0.4, "iguana")]),
    "b/x.png": ((160, 120), [(0.5, 0.5, 0.25, 0.25, "rock")]),
    "c/x.jpg": ((100, 200), [(0.05, 0.6, 0.5, 0.3, "iguana"), (0.6, 0.1, 0.2, 0.2, "rock")]),
}


def shapes_value(shapes):
    return {"boxes": [dict(zip(("x", "y", "w", "h", "label"), s, strict=True)) for s in shapes]}


def same_named_version(manager, project, names=SAME_NAMES):
    """The images imported from a zip (folders kept in their names), answered alike by two labelers, and a
    version built: answer {kind: bytes of the artifact read through the storage}, {original name: item}."""
    from django.core.files.storage import default_storage

    from tests.labeling.version_helpers import answer, build, labelers

    content = zip_bytes(
        [
            (name, png_bytes(size=size, seed=n, fmt="JPEG" if name.endswith(".jpg") else "PNG"))
            for n, (name, (size, _)) in enumerate(names.items())
        ]
    )
    job = run_import(project, manager, "photos.zip", content)
    assert job.status == JobStatus.SUCCEEDED and job.result["imported"] == len(names), job.errors
    items = {i.original_name: i for i in Item.objects.filter(project=project)}
    assert sorted(items) == sorted(names)
    for user in labelers(project, 2):
        for name, (_, shapes) in names.items():
            answer(items[name], user, json.dumps(shapes_value(shapes)))
    version = build(project, manager)
    artifacts = {}
    for artifact in version.artifacts.filter(format__in=["coco", "yolo"]):
        with default_storage.open(artifact.name, "rb") as handle:
            artifacts[artifact.format] = handle.read()
    return artifacts, items


def assert_each_box_on_its_item(project, username, names=SAME_NAMES):
    got = {name: value for (name, user), value in answers(project).items() if user == username}
    assert sorted(got) == sorted(names)
    for name, (_, shapes) in names.items():
        expected = shapes_value(shapes)["boxes"]
        assert got[name]["boxes"] == [
            {**b, **{k: pytest.approx(b[k], abs=1e-4) for k in ("x", "y", "w", "h")}} for b in expected
        ], name


def test_a_versions_coco_and_yolo_go_back_onto_same_named_images_in_other_folders(manager, detection):
    """``a/x.png``, ``b/x.png`` and ``c/x.jpg`` share a base name (and a stem): COCO names each image by its
    full name and YOLO mirrors the folders under ``labels/``, so both exports, imported back as another
    labeler's labels, put every box on the item it was drawn on."""
    artifacts, items = same_named_version(manager, detection)
    assert sorted(img["file_name"] for img in json.loads(artifacts["coco"])["images"]) == sorted(SAME_NAMES)
    listed = zipfile.ZipFile(io.BytesIO(artifacts["yolo"])).namelist()
    assert sorted(listed) == ["data.yaml", "labels/a/x.txt", "labels/b/x.txt", "labels/c/x.txt"]

    job = run_import(detection, manager, "coco.json", artifacts["coco"], fmt="coco", labeler="cora")
    assert job.status == JobStatus.SUCCEEDED and job.errors == [], job.errors
    assert job.result["imported"] == 0 and job.result["answers"]["created"] == 3
    assert_each_box_on_its_item(detection, "cora")

    job = run_import(detection, manager, "yolo.zip", artifacts["yolo"], fmt="yolo", labeler="yuri")
    assert job.status == JobStatus.SUCCEEDED and job.errors == [], job.errors
    assert job.result["imported"] == 0 and job.result["answers"]["created"] == 3
    assert_each_box_on_its_item(detection, "yuri")
    assert Item.objects.filter(project=detection).count() == 3


def test_a_yolo_stem_made_unique_by_its_item_id_goes_back_onto_that_item(manager, detection):
    """``d/y.png`` and ``d/y.jpg`` would both be ``labels/d/y.txt``: the later is ``labels/d/y-<item id>.txt``
    in the export, and the import reads the id back."""
    names = {
        "d/y.png": ((200, 100), [(0.1, 0.1, 0.2, 0.2, "iguana")]),
        "d/y.jpg": ((200, 100), [(0.6, 0.6, 0.2, 0.2, "rock")]),
    }
    artifacts, items = same_named_version(manager, detection, names)
    later = max(items.values(), key=lambda i: i.pk)
    listed = zipfile.ZipFile(io.BytesIO(artifacts["yolo"])).namelist()
    assert sorted(listed) == sorted(["data.yaml", "labels/d/y.txt", f"labels/d/y-{later.pk}.txt"])
    job = run_import(detection, manager, "yolo.zip", artifacts["yolo"], fmt="yolo", labeler="yuri")
    assert job.status == JobStatus.SUCCEEDED and job.errors == [], job.errors
    assert_each_box_on_its_item(detection, "yuri", names)


def two_x_images(project, manager):
    job = run_import(
        project, manager, "photos.zip", zip_bytes([("a/x.png", png_bytes(seed=1)), ("b/x.png", png_bytes(seed=2))])
    )
    assert job.result["imported"] == 2, job.errors


def test_a_base_name_two_items_end_in_is_refused_naming_both(manager, detection):
    two_x_images(detection, manager)
    content = coco([coco_image(1, "x.png"), coco_image(2, "elsewhere/b/x.png")], [coco_box(1, 1, [0, 0, 10, 10])])
    job = run_import(detection, manager, "coco.json", content, fmt="coco", labeler="cora")
    assert job.errors == [
        {"name": "coco.json image 1 (x.png)", "reason": "'x.png' matches 2 items of the project: a/x.png, b/x.png"}
    ]
    assert answers(detection) == {("b/x.png", "cora"): {"boxes": []}}  # the longer path names one

    content = zip_bytes([("classes.txt", "iguana\nrock\n"), ("labels/x.txt", "0 0.5 0.5 0.2 0.2\n")])
    job = run_import(detection, manager, "yolo.zip", content, fmt="yolo", labeler="yuri")
    assert job.errors == [{"name": "labels/x.txt", "reason": "'x.*' matches 2 items of the project: a/x.png, b/x.png"}]


def test_label_studio_files_are_matched_by_their_folders_too(manager, detection):
    """A local-files URL keeps the folders (``?d=b/x.png``): it names one of two ``x.png``; an upload URL
    keeps only the base name, which two items end in."""
    two_x_images(detection, manager)
    export = [
        ls_task(1, {"image": "/data/local-files/?d=b/x.png"}, [ls_annotation(1, 7, [])]),
        ls_task(2, {"image": "/data/upload/3/1a2b3c4d-x.png"}, [ls_annotation(2, 7, [])]),
    ]
    job = run_import(detection, manager, "export.json", json.dumps(export).encode(), fmt="label_studio")
    assert job.errors == [
        {"name": "export.json task 2", "reason": "'x.png' matches 2 items of the project: a/x.png, b/x.png"}
    ]
    assert answers(detection) == {("b/x.png", "label-studio-7"): {"boxes": []}}


def test_a_manifest_lines_items_go_back_by_the_lines_paths(manager, detection):
    """Items of manifest lines are named ``line 3 (img/a/x.png)``: COCO and YOLO name them by the line's
    path (``img/a/x.png``, ``labels/img/a/x.txt``), as other tools expect, and both find them again."""
    from django.core.files.storage import default_storage

    from tests.labeling.version_helpers import answer, build, labelers

    two_x_images(detection, manager)
    names = {"a/x.png": "line 3 (img/a/x.png)", "b/x.png": "line 4 (img/b/x.png)"}
    drawn = {"line 3 (img/a/x.png)": ["iguana"], "line 4 (img/b/x.png)": ["rock"]}
    for old, new in names.items():
        Item.objects.filter(project=detection, original_name=old).update(original_name=new)
    (lab,) = labelers(detection, 1)
    for item in Item.objects.filter(project=detection):
        answer(item, lab, json.dumps(shapes_value([(0.25, 0.25, 0.5, 0.5, drawn[item.original_name][0])])))
    version = build(detection, manager)
    for fmt, labeler in (("coco", "cora"), ("yolo", "yuri")):
        with default_storage.open(version.artifacts.get(format=fmt).name, "rb") as handle:
            content = handle.read()
        if fmt == "yolo":
            assert sorted(zipfile.ZipFile(io.BytesIO(content)).namelist())[1:] == [
                "labels/img/a/x.txt",
                "labels/img/b/x.txt",
            ]
        else:
            assert sorted(i["file_name"] for i in json.loads(content)["images"]) == ["img/a/x.png", "img/b/x.png"]
        filename = "coco.json" if fmt == "coco" else "yolo.zip"
        job = run_import(detection, manager, filename, content, fmt=fmt, labeler=labeler)
        assert job.errors == [], job.errors
        got = {
            name: [b["label"] for b in v["boxes"]] for (name, user), v in answers(detection).items() if user == labeler
        }
        assert got == drawn


def test_a_label_studio_annotator_whose_email_is_no_address_makes_no_account(manager):
    # The e-mail became a new account's username unchecked: markup or a '/' made a username that the
    # sign-up and member forms never allow.
    project = make_project(
        manager, name="Reviews", modality="text", classes=[{"key": "pos", "name": "Positive"}, {"key": "neg"}]
    )
    choice = [{"value": {"choices": ["Positive"]}, "id": "c", "from_name": "s", "to_name": "text", "type": "choices"}]
    export = [
        ls_task(1, {"text": "Great"}, [ls_annotation(1, ls_user(1, "<img src=x onerror=alert(1)>"), choice)]),
        ls_task(2, {"text": "Fine"}, [ls_annotation(2, ls_user(2, "a/b@x.org"), choice)]),
        ls_task(3, {"text": "Good"}, [ls_annotation(3, ls_user(3, "ann@x.org"), choice)]),
    ]
    job = run_import(project, manager, "export.json", json.dumps(export).encode(), fmt="label_studio")
    assert answers(project) == {("task 3", "ann@x.org"): "pos"}
    reasons = {e["name"]: e["reason"] for e in job.errors}
    assert "is not an e-mail address a username can be made of" in reasons["export.json task 1"]
    assert "is not an e-mail address a username can be made of" in reasons["export.json task 2"]
    assert sorted(get_user_model().objects.values_list("username", flat=True)) == ["ann@x.org", "manager1"]


ROUND_TRIP = {  # original name: (size, the boxes both labelers draw, in fractions of the upright image)
    "field/odd.png": (
        (641, 479),
        [
            (0.123456789, 0.234567891, 0.345678912, 0.456789123, "iguana"),  # nested in nothing, awkward numbers
            (0.2, 0.3, 0.05, 0.05, "rock"),  # nested inside the iguana
            (0.0, 0.0, 0.000123456, 0.0000987654, "rock"),  # tiny, at the corner: a tenth of a pixel
            (0.9, 0.6, 0.1, 0.4, "iguana"),  # at the right and bottom edges
        ],
    ),
    "field/empty.png": ((320, 240), []),  # "nothing here"
    "field/phone.jpg": (None, [(0.7, 0.75, 0.2, 0.2, "iguana"), (0.0, 0.2, 0.3333333333, 0.1, "rock")]),
}


def test_a_versions_coco_and_yolo_give_a_new_project_the_same_boxes_within_a_millionth(manager, detection):
    """The round trip a team makes: a version's COCO and YOLO imported into a NEW project holding the same
    images give back every box (tiny, nested, at the edges, on an EXIF-rotated photo) with the same class
    and coordinates within 1e-6 of the drawn ones, and an image answered "nothing here" stays empty. COCO
    bboxes rounded to hundredths of a pixel moved a box on a 641-pixel image by up to 8e-6, and a box a
    tenth of a pixel wide came out 0.1 or 0.0 pixels (refused as not positive)."""
    from tests.conftest import rotated_jpeg

    def image(name, size, seed):
        return rotated_jpeg(6) if size is None else png_bytes(size=size, seed=seed)

    content = zip_bytes([(name, image(name, size, n)) for n, (name, (size, _)) in enumerate(ROUND_TRIP.items())])
    job = run_import(detection, manager, "photos.zip", content)
    assert job.result["imported"] == 3, job.errors
    items = {i.original_name: i for i in Item.objects.filter(project=detection)}
    assert (items["field/phone.jpg"].stats["width"], items["field/phone.jpg"].stats["height"]) == (200, 400)
    from tests.labeling.version_helpers import answer, build, labelers

    for user in labelers(detection, 2):
        for name, (_, shapes) in ROUND_TRIP.items():
            answer(items[name], user, json.dumps(shapes_value(shapes)))
    from django.core.files.storage import default_storage

    version = build(detection, manager)
    artifacts = {}
    for artifact in version.artifacts.filter(format__in=["coco", "yolo"]):
        with default_storage.open(artifact.name, "rb") as handle:
            artifacts[artifact.format] = handle.read()

    fresh = make_project(manager, name="Iguanas again", modality="image", task_type="detection", classes=CLASSES)
    assert run_import(fresh, manager, "photos.zip", content).result["imported"] == 3
    for fmt, name, who in (("coco", "coco.json", "cora"), ("yolo", "yolo.zip", "yuri")):
        job = run_import(fresh, manager, name, artifacts[fmt], fmt=fmt, labeler=who)
        assert job.status == JobStatus.SUCCEEDED and job.errors == [], (fmt, job.errors)
        got = {item: value for (item, user), value in answers(fresh).items() if user == who}
        assert sorted(got) == sorted(ROUND_TRIP), fmt
        for item, (_, shapes) in ROUND_TRIP.items():
            expected = sorted(shapes_value(shapes)["boxes"], key=lambda b: (b["label"], b["x"], b["y"]))
            assert sorted(got[item]["boxes"], key=lambda b: (b["label"], b["x"], b["y"])) == [
                {**b, **{k: pytest.approx(b[k], abs=1e-6, rel=0) for k in ("x", "y", "w", "h")}} for b in expected
            ], (fmt, item)


def test_labels_naming_a_class_the_taxonomy_merged_or_renamed_go_in_as_the_class_it_became(manager, detection):
    """A COCO file (and a YOLO zip) made before "lizard" was merged into "iguana" and "rock" renamed
    "stone" imports after the changes: each box is stored as the class its old one counts as now, as a
    labeler's answer saved from a page opened before the change is; the import refused every image
    naming the old classes ("unknown class")."""
    from labeling.services.taxonomy import taxonomy_apply

    taxonomy_apply(project=detection, op="add", payload={"key": "lizard", "name": "Lizard"})
    import_images(detection, ["a.png", "b.png"])
    taxonomy_apply(project=detection, op="merge", payload={"classes": ["lizard", "iguana"], "into": "iguana"})
    taxonomy_apply(project=detection, op="rename", payload={"key": "rock", "new_key": "stone", "name": "Stone"})
    content = json.dumps(
        {
            "images": [coco_image(1, "a.png"), coco_image(2, "b.png")],
            "annotations": [
                coco_box(1, 1, [20, 10, 40, 30], category_id=3),
                coco_box(2, 1, [100, 50, 20, 20], category_id=2),
                coco_box(3, 2, [0, 0, 10, 10], category_id=1),
            ],
            "categories": [{"id": 1, "name": "iguana"}, {"id": 2, "name": "Rock"}, {"id": 3, "name": "lizard"}],
        }
    ).encode()
    job = run_import(detection, manager, "coco.json", content, fmt="coco", labeler="cora")
    assert job.status == JobStatus.SUCCEEDED and job.errors == [], job.errors
    got = answers(detection)
    assert [b["label"] for b in got[("a.png", "cora")]["boxes"]] == ["iguana", "stone"]
    assert [b["label"] for b in got[("b.png", "cora")]["boxes"]] == ["iguana"]

    content = zip_bytes([("classes.txt", "lizard\nrock\n"), ("labels/a.txt", "0 0.5 0.5 0.2 0.2\n1 0.1 0.1 0.1 0.1\n")])
    job = run_import(detection, manager, "yolo.zip", content, fmt="yolo", labeler="yuri")
    assert job.status == JobStatus.SUCCEEDED and job.errors == [], job.errors
    assert [b["label"] for b in answers(detection)[("a.png", "yuri")]["boxes"]] == ["iguana", "stone"]


def test_a_coco_image_declared_in_the_photos_stored_frame_is_rejected_not_turned(manager, detection):
    """A phone photo stored 400x200 with EXIF orientation 6 is 200x400 upright, as it is labeled and
    exported. A COCO file from a tool that read the stored pixels declares it 400x200 and puts its boxes
    in that frame: taken as fractions, every box landed turned a quarter on the image the labelers see.
    That image is rejected naming both sizes; the same file declaring the upright size goes in."""
    from tests.conftest import rotated_jpeg

    def content(width, height):
        labels = coco([coco_image(1, "phone.jpg", width, height)], [coco_box(1, 1, [300, 20, 80, 40])])
        return zip_bytes([("coco.json", labels), ("phone.jpg", rotated_jpeg(6))])

    job = run_import(detection, manager, "labels.zip", content(400, 200), fmt="coco", labeler="cora")
    assert job.errors == [
        {
            "name": "coco.json image 1 (phone.jpg)",
            "reason": "the image is declared 400 x 200 pixels, but it is 200 x 400 as labeled (upright, its EXIF "
            "orientation applied): its boxes would land turned a quarter; declare the upright size and boxes",
        }
    ]
    assert answers(detection) == {}
    job = run_import(
        detection,
        manager,
        "labels.zip",
        zip_bytes(
            [
                ("coco.json", coco([coco_image(1, "phone.jpg", 200, 400)], [coco_box(1, 1, [140, 300, 40, 80])])),
                ("phone.jpg", rotated_jpeg(6)),
            ]
        ),
        fmt="coco",
        labeler="cora",
    )
    assert job.errors == [], job.errors
    assert answers(detection)[("phone.jpg", "cora")] == {
        "boxes": [{"x": 0.7, "y": 0.75, "w": 0.2, "h": 0.2, "label": "iguana"}]
    }
