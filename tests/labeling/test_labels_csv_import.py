"""Importing answers from a CSV (``format=labels_csv``): a team's spreadsheet of labels for items already
uploaded, or a version's ``manifest.csv``, becomes each named labeler's answers; bad lines are refused with a
400 naming each line, and nothing is stored."""

import pytest
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile

from labeling.choices import JobStatus
from labeling.models import Annotation, Item, Job
from labeling.services.annotations import annotation_save
from tests.conftest import make_project, png_bytes
from tests.labeling.test_label_import import answers, run_import, zip_bytes
from tests.labeling.version_helpers import answer, build, labelers

pytestmark = pytest.mark.django_db

CLASSES = [{"key": "cat", "name": "Cat"}, {"key": "jaguar", "name": "Jaguar (car)"}, {"key": "other", "name": "Other"}]
IMAGES = ["shoot/a.png", "shoot/b.png", "c.png"]


def image_project(manager, name="Photos", **kwargs):
    return make_project(manager, name=name, modality="image", task_type="classification", classes=CLASSES, **kwargs)


def upload_images(project, manager, names=IMAGES):
    content = zip_bytes([(n, png_bytes(seed=i)) for i, n in enumerate(names)])
    job = run_import(project, manager, "photos.zip", content)
    assert job.status == JobStatus.SUCCEEDED and job.result["imported"] == len(names), job.errors
    return {i.original_name: i for i in Item.objects.filter(project=project)}


def post_labels(api, user, project, name, content, labeler=""):
    return api(user).post(
        f"/api/projects/{project.pk}/imports/",
        {"file": SimpleUploadedFile(name, content), "format": "labels_csv", "labeler": labeler},
        format="multipart",
    )


def stored(project):
    return {
        (a.item.original_name, a.labeler.username): (a.value, a.borderline, a.borderline_with, a.uncertain, a.comment)
        for a in Annotation.objects.filter(item__project=project).select_related("item", "labeler")
    }


def test_a_spreadsheet_of_labels_for_uploaded_images_becomes_each_labelers_answers(manager):
    """Images uploaded first, their labels in a CSV afterwards: each line is its labeler's answer (classes by key
    or name in any case, files by path or base name), the labelers become members, and the same file again
    changes nothing."""
    project = image_project(manager)
    upload_images(project, manager)
    content = (
        b"file,label,labeler\n"
        b"shoot/a.png,cat,ana\n"
        b"a.png,JAGUAR (CAR),ben\n"  # a base name, a class by its name
        b"shoot/b.png,Cat,ana\n"
        b"c.png,other,ben\n"
    )
    job = run_import(project, manager, "labels.csv", content, fmt="labels_csv")
    assert job.status == JobStatus.SUCCEEDED and job.errors == [], job.errors
    assert job.result["answers"] == {"created": 4, "revised": 0, "unchanged": 0}
    assert job.result["labelers"] == ["ana", "ben"]
    assert answers(project) == {
        ("shoot/a.png", "ana"): "cat",
        ("shoot/a.png", "ben"): "jaguar",
        ("shoot/b.png", "ana"): "cat",
        ("c.png", "ben"): "other",
    }
    assert set(project.memberships.values_list("user__username", "role")) >= {("ana", "labeler"), ("ben", "labeler")}
    again = run_import(project, manager, "labels.csv", content, fmt="labels_csv")
    assert again.result["answers"] == {"created": 0, "revised": 0, "unchanged": 4}


def test_flags_comments_and_times_go_in_and_a_changed_flag_is_a_new_revision(manager):
    project = image_project(manager, options={"borderline": True, "uncertain": True})
    upload_images(project, manager)
    content = (
        b"file,label,borderline,borderline_with,uncertain,comment,seconds\n"
        b"shoot/a.png,cat,yes,jaguar,,spots or a logo?,4.5\n"
        b"shoot/b.png,,0,,TRUE,too dark,\n"
        b"c.png,other,false,,no,,\n"
    )
    job = run_import(project, manager, "labels.csv", content, fmt="labels_csv", labeler="ana")
    assert job.status == JobStatus.SUCCEEDED and job.errors == [], job.errors
    assert stored(project) == {
        ("shoot/a.png", "ana"): ("cat", True, "jaguar", False, "spots or a logo?"),
        ("shoot/b.png", "ana"): ("", False, "", True, "too dark"),
        ("c.png", "ana"): ("other", False, "", False, ""),
    }
    assert Annotation.objects.get(item__original_name="shoot/a.png").seconds == pytest.approx(4.5)
    changed = content.replace(b"shoot/b.png,,0,,TRUE", b"shoot/b.png,cat,0,,no")
    again = run_import(project, manager, "labels.csv", changed, fmt="labels_csv", labeler="ana")
    assert again.result["answers"] == {"created": 0, "revised": 1, "unchanged": 2}
    assert stored(project)[("shoot/b.png", "ana")] == ("cat", False, "", False, "too dark")


def test_a_versions_manifest_csv_gives_a_new_project_its_labels_by_content(manager):
    """A version's manifest.csv, imported into a NEW project holding the same images under other names: each
    row's item is found by its sha256 (its item and file cells are the other project's), its label becomes the
    named labeler's answer; the item whose labelers disagreed is not in the version, so it gets none."""
    project = image_project(manager)
    items = upload_images(project, manager)
    ana, ben = labelers(project, 2, prefix="old")
    for name, (a, b) in {
        "shoot/a.png": ("cat", "cat"),
        "shoot/b.png": ("jaguar", "jaguar"),
        "c.png": ("cat", "other"),
    }.items():
        answer(items[name], ana, a)
        answer(items[name], ben, b)
    version = build(project, manager)
    artifact = version.artifacts.get(format="csv")
    with default_storage.open(artifact.name, "rb") as handle:
        manifest_csv = handle.read()
    assert manifest_csv.splitlines()[0].startswith(b'"item","sha256","label"')

    fresh = image_project(manager, name="Photos again")
    upload_images(fresh, manager, names=["x/a.png", "x/b.png", "x/c.png"])  # same content, other names
    job = run_import(fresh, manager, "manifest.csv", manifest_csv, fmt="labels_csv", labeler="v1")
    assert job.status == JobStatus.SUCCEEDED and job.errors == [], job.errors
    assert answers(fresh) == {("x/a.png", "v1"): "cat", ("x/b.png", "v1"): "jaguar"}
    assert job.result["answers"] == {"created": 2, "revised": 0, "unchanged": 0}


def test_bad_lines_are_refused_with_a_400_naming_each_line_and_nothing_is_stored(api, manager):
    project = image_project(manager)
    items = upload_images(project, manager)
    cora = labelers(project, 1, prefix="cora")[0]
    annotation_save(item=items["c.png"], labeler=cora, value="other")
    content = (
        b"file,label,labeler,uncertain\n"
        b"shoot/a.png,cat,ana,\n"  # fine, but the file has bad lines: nothing goes in
        b"shoot/b.png,leopard,ana,\n"  # line 3: unknown class
        b"nowhere.png,cat,ana,\n"  # line 4: no such file
        b"shoot/a.png,jaguar,ana,\n"  # line 5: ana's answer on a.png twice
        b"c.png,cat,ana,perhaps\n"  # line 6: not true or false
        b"c.png,cat,bad/name,\n"  # line 7: no username
        b"a.png,cat,ana,1\n"  # line 8: the project has no uncertain option (and a.png again)
        b"c.png,,cora,\n"  # line 9: no label
    )
    response = post_labels(api, manager, project, "labels.csv", content)
    assert response.status_code == 400
    assert response.json()["file"] == [
        'labels.csv line 3: unknown class "leopard" (the project\'s classes: cat, jaguar, other)',
        "labels.csv line 4: no file 'nowhere.png' among the project's items",
        "labels.csv line 5: ana's answer on shoot/a.png again, which line 2 gives",
        "labels.csv line 6: uncertain 'perhaps' is not true or false (1/0, yes/no)",
        "labels.csv line 7: labeler 'bad/name' is not a valid username",
        "labels.csv line 8: this project has no uncertain option",
        "labels.csv line 9: no label (a version's row that needs review has none)",
        "nothing was imported",
    ]
    assert stored(project) == {("c.png", "cora0"): ("other", False, "", False, "")}
    assert not Job.objects.filter(project=project, params__has_key="format").exists()


@pytest.mark.parametrize(
    ("content", "words"),
    [
        (b"path,label\na.png,cat\n", "unknown column 'path'"),
        (b"file,labeler\na.png,ana\n", "the header lacks label"),
        (b"label,labeler\ncat,ana\n", "the header lacks file, item or sha256"),
        (b"file,label\na.png,cat\n", "no labeler column, so give the labeler whose answers these are"),
        (b"file,transcript,labeler\na.png,cat,ana\n", "a transcript column is for a transcription project"),
        (b"\xff\xfe", "is UTF-16 (it starts with a UTF-16 byte-order mark), not UTF-8: save it as UTF-8"),
    ],
)
def test_a_labels_csv_whose_header_cannot_serve_is_refused_naming_why(api, manager, content, words):
    project = image_project(manager)
    upload_images(project, manager)
    response = post_labels(api, manager, project, "labels.csv", content)
    assert response.status_code == 400
    assert words in " ".join(response.json()["file"])
    assert not Annotation.objects.filter(item__project=project).exists()


def test_a_transcription_projects_csv_takes_transcripts(manager):
    project = make_project(
        manager, name="Queries", modality="text", task_type="transcription", options={"uncertain": True}
    )
    items = Item.objects.bulk_create(
        [Item(project=project, text=t, sha256=f"{n:064x}") for n, t in enumerate(["call mom", "weather"])]
    )
    content = (
        f'item,transcript,labeler,uncertain\n{items[0].pk},"Call mom, please.",ana,\n{items[1].pk},,ana,yes\n'
    ).encode()
    job = run_import(project, manager, "transcripts.csv", content, fmt="labels_csv")
    assert job.status == JobStatus.SUCCEEDED and job.errors == [], job.errors
    got = {(a.item_id, a.value, a.uncertain) for a in Annotation.objects.filter(item__project=project)}
    assert got == {(items[0].pk, "Call mom, please.", False), (items[1].pk, "", True)}


def test_a_zip_of_images_and_their_labels_csv_makes_the_items_and_the_answers(manager):
    project = image_project(manager)
    content = zip_bytes(
        [
            ("labels.csv", "file,label,labeler\nimg/one.png,cat,ana\nimg/two.png,other,ana\n"),
            ("img/one.png", png_bytes(seed=1)),
            ("img/two.png", png_bytes(seed=2)),
        ]
    )
    job = run_import(project, manager, "set.zip", content, fmt="labels_csv")
    assert job.status == JobStatus.SUCCEEDED and job.errors == [], job.errors
    assert job.result["imported"] == 2
    assert answers(project) == {("img/one.png", "ana"): "cat", ("img/two.png", "ana"): "other"}


def test_labels_csv_imports_into_classification_and_transcription_projects_only(api, manager):
    detection = make_project(manager, name="Boxes", modality="image", task_type="detection", classes=CLASSES)
    response = post_labels(api, manager, detection, "labels.csv", b"file,label\na.png,cat\n", labeler="ana")
    assert response.status_code == 400
    assert response.json()["format"] == [
        "a labels_csv file holds one class or transcript per answer: it imports into a classification or "
        "transcription project, not a detection one"
    ]


def test_the_import_page_offers_a_labels_csv_to_a_classification_project_only(client, manager):
    client.force_login(manager)
    page = client.get(f"/projects/{image_project(manager).pk}/import/").content.decode()
    assert 'value="labels_csv"' in page
    detection = make_project(manager, name="Boxes", modality="image", task_type="detection", classes=CLASSES)
    page = client.get(f"/projects/{detection.pk}/import/").content.decode()
    assert 'value="labels_csv"' not in page


def test_the_raw_answers_export_written_as_csv_brings_back_answers_changed_since_keeping_the_history(api, manager):
    """A team keeps the raw answers export (JSON Lines) and writes it out as CSV (its columns as they are);
    imported back after a labeler changed an answer, it makes the exported answer current again as a new
    revision, the changed one kept in the history, and leaves the others as they are."""
    import csv
    import io
    import json

    from labeling.models import AnnotationRevision

    project = image_project(manager, options={"uncertain": True})
    items = upload_images(project, manager)
    ana, ben = labelers(project, 2, prefix="r")
    answer(items["shoot/a.png"], ana, "cat", comment="spots")
    answer(items["shoot/b.png"], ana, "", uncertain=True)
    answer(items["c.png"], ben, "other")
    export = api(manager).get(f"/api/projects/{project.pk}/annotations/export?format=jsonl")
    rows = [json.loads(line) for line in b"".join(export.streaming_content).decode().splitlines()]
    assert set(rows[0]) >= {"item", "labeler", "value", "guideline", "created"}
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)

    answer(items["shoot/a.png"], ana, "jaguar")  # changed after the export
    job = run_import(project, manager, "answers.csv", out.getvalue().encode(), fmt="labels_csv")
    assert job.status == JobStatus.SUCCEEDED and job.errors == [], job.errors
    assert job.result["answers"] == {"created": 0, "revised": 1, "unchanged": 2}
    assert stored(project) == {
        ("shoot/a.png", "r0"): ("cat", False, "", False, "spots"),
        ("shoot/b.png", "r0"): ("", False, "", True, ""),
        ("c.png", "r1"): ("other", False, "", False, ""),
    }
    history = AnnotationRevision.objects.filter(annotation__item=items["shoot/a.png"]).order_by("pk")
    assert [r.value for r in history] == ["cat", "jaguar"]


def test_a_labels_csv_with_two_answer_columns_is_refused(api, manager):
    project = image_project(manager)
    upload_images(project, manager)
    response = post_labels(api, manager, project, "labels.csv", b"file,label,value,labeler\nc.png,cat,cat,ana\n")
    assert response.status_code == 400
    assert response.json()["file"] == ["labels.csv: label and value name the same thing, the answer: keep one column"]


def test_a_transcript_holding_a_nul_character_is_refused_naming_its_line(api, manager):
    """PostgreSQL stores no NUL character: an imported transcript holding one failed its whole batch of answers
    there (and SQLite kept it). It is refused by line, as any other bad answer."""
    project = make_project(manager, name="Queries", modality="text", task_type="transcription")
    items = Item.objects.bulk_create([Item(project=project, text="call mom", sha256="0" * 64)])
    content = f"item,transcript,labeler,comment\n{items[0].pk},call\x00 mom,ana,\n{items[0].pk},call mom,ben,\x00\n"
    response = post_labels(api, manager, project, "t.csv", content.encode())
    assert response.status_code == 400
    reason = "it holds a NUL character (\\u0000), which the database cannot store: remove it"
    assert response.json()["file"] == [f"t.csv line 2: {reason}", f"t.csv line 3: {reason}", "nothing was imported"]


def test_a_bad_line_holding_a_comment_over_several_lines_is_named_by_the_line_it_starts_on(api, manager):
    """A spreadsheet cell may hold line breaks (a comment of two paragraphs): the line named was the
    answer's last, so the file opened there showed the middle of the comment, not the bad class."""
    project = image_project(manager)
    upload_images(project, manager)
    content = (
        b"file,label,labeler,comment\n"
        b'shoot/a.png,cat,ana,"first paragraph\r\n\r\nsecond"\n'  # lines 2-4
        b'shoot/b.png,leopard,ana,"why\nnot"\n'  # lines 5-6: unknown class
    )
    response = post_labels(api, manager, project, "labels.csv", content)
    assert response.status_code == 400
    assert response.json()["file"][0] == (
        'labels.csv line 5: unknown class "leopard" (the project\'s classes: cat, jaguar, other)'
    )


def test_a_labels_csv_separated_by_semicolons_is_refused_saying_commas_separate_it(api, manager):
    """A spreadsheet saved where the decimal mark is a comma writes semicolons: the refusal named one
    column 'file;label;labeler' and listed the columns a labels CSV has, which the file does have."""
    project = image_project(manager)
    upload_images(project, manager)
    response = post_labels(api, manager, project, "labels.csv", b"\xef\xbb\xbfFile;Label;Labeler\nc.png;cat;ana\n")
    assert response.status_code == 400
    (message,) = response.json()["file"]
    assert message.startswith("labels.csv: unknown column 'file;label;labeler'")
    assert message.endswith("; the columns of a CSV are separated by commas, not semicolons)")


def test_a_labels_csv_saved_in_a_windows_encoding_is_refused_naming_its_byte_and_line(api, manager):
    """Excel's "CSV (Windows)" is cp1252: the refusal said "not UTF-8 text", with no line and nothing to do."""
    project = image_project(manager)
    upload_images(project, manager)
    content = "file,label,labeler,comment\nc.png,cat,ana,café\n".encode("cp1252")
    response = post_labels(api, manager, project, "labels.csv", content)
    assert response.status_code == 400
    assert response.json()["file"] == ["labels.csv is not UTF-8 (byte 44, 0xe9, on line 2): save it as UTF-8"]
