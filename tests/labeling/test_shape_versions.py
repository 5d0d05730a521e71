"""Dataset versions of detection and segments projects: consensus shapes with support in the manifest,
COCO / YOLO / segments CSV / RTTM downloads, formats that do not fit refused, and shape diffs."""

import csv
import io
import json
import zipfile

import numpy as np
import pytest
import yaml

from labeling.services.projects import member_add
from tests.conftest import make_project, rotated_jpeg
from tests.labeling.queue_helpers import make_items
from tests.labeling.test_versions_api import run_build
from tests.labeling.version_helpers import answer, labelers, manifest

pytestmark = pytest.mark.django_db

CLASSES = [{"key": "iguana", "name": "Iguana"}, {"key": "rock", "name": "Rock"}]


def boxes(*shapes):
    return json.dumps({"boxes": [dict(zip(("x", "y", "w", "h", "label"), s, strict=True)) for s in shapes]})


def download(api, user, project, fmt, number=1):
    return api(user).get(f"/api/projects/{project.pk}/versions/{number}/download?format={fmt}")


def body(response):
    return b"".join(response.streaming_content)


@pytest.fixture
def iguanas(manager, reviewer):
    """Two images, three labelers. Image 1: all three draw the big iguana (slightly apart); two draw a
    rock, one splits the iguana into two boxes (the iguana disagreement). Image 2: one labeler only."""
    project = make_project(manager, name="Iguanas", modality="image", task_type="detection", classes=CLASSES)
    member_add(project=project, username=reviewer.username, role="reviewer")
    first, second = make_items(project, 2, stats={"width": 200, "height": 100})
    a, b, c = labelers(project, 3)
    answer(first, a, boxes((0.1, 0.1, 0.4, 0.6, "iguana"), (0.7, 0.7, 0.2, 0.2, "rock")))
    answer(first, b, boxes((0.12, 0.1, 0.4, 0.6, "iguana"), (0.7, 0.72, 0.2, 0.2, "rock")))
    answer(first, c, boxes((0.08, 0.1, 0.18, 0.6, "iguana"), (0.35, 0.1, 0.2, 0.6, "iguana")))
    answer(second, a, boxes((0.5, 0.5, 0.25, 0.5, "rock")))
    return project, (first, second), (a, b, c)


def test_detection_manifest_holds_the_consensus_boxes_with_support(api, manager, iguanas):
    project, (first, second), _ = iguanas
    run_build(api, manager, project, {"splits": {"train": 1.0, "dev": 0.0, "test": 0.0}})
    from labeling.models import DatasetVersion

    version = DatasetVersion.objects.get(project=project, number=1)
    rows = {r["item"]: r for r in manifest(version)}
    shapes = rows[first.pk]["label"]["boxes"]
    assert [(s["label"], s["support"]) for s in shapes] == [("iguana", 2), ("rock", 2)]
    assert shapes[0]["x"] == pytest.approx(0.11) and shapes[0]["w"] == pytest.approx(0.4)
    assert rows[first.pk]["n_annotations"] == 3 and rows[first.pk]["answers"] == {"iguana": 4, "rock": 2}
    assert rows[second.pk]["label"] == {
        "boxes": [{"x": 0.5, "y": 0.5, "w": 0.25, "h": 0.5, "label": "rock", "support": 1}]
    }
    assert version.counts["shapes"] == 3 and version.counts["classes"] == {"iguana": 1, "rock": 2}


def test_coco_download_loads_with_pycocotools_in_pixels(api, manager, iguanas, tmp_path):
    from pycocotools.coco import COCO

    project, (first, second), _ = iguanas
    run_build(api, manager, project)
    response = download(api, manager, project, "coco")
    assert response.status_code == 200 and response["Content-Type"] == "application/json"
    path = tmp_path / "coco.json"
    path.write_bytes(body(response))
    coco = COCO(str(path))
    assert coco.loadImgs(first.pk)[0]["width"] == 200 and coco.loadImgs(first.pk)[0]["height"] == 100
    names = {c["id"]: c["name"] for c in coco.loadCats(coco.getCatIds())}
    assert names == {1: "iguana", 2: "rock"}
    anns = coco.loadAnns(coco.getAnnIds(imgIds=[first.pk]))
    assert [(names[a["category_id"]], a["bbox"], a["iscrowd"]) for a in anns] == [
        ("iguana", [22.0, 10.0, 80.0, 60.0], 0),
        ("rock", [140.0, 71.0, 40.0, 20.0], 0),
    ]
    assert anns[0]["area"] == pytest.approx(4800.0)
    (only,) = coco.loadAnns(coco.getAnnIds(imgIds=[second.pk]))
    assert only["bbox"] == [100.0, 50.0, 50.0, 50.0] and only["category_id"] == 2


def test_coco_of_an_exif_rotated_photo_is_in_the_upright_frame_the_labeler_saw(api, manager, tmp_path):
    """A 400x200 JPEG with EXIF Orientation 6 is shown 200x400 (upright) on the labeling page, and its box
    is saved in fractions of that: COCO declares the upright size, and its bbox, cut out of the upright
    image, holds the white patch the labeler boxed."""
    from django.core.files.storage import default_storage
    from django.core.files.uploadedfile import SimpleUploadedFile
    from PIL import Image, ImageOps
    from pycocotools.coco import COCO

    from labeling.models import Item

    project = make_project(manager, name="Phones", modality="image", task_type="detection", classes=CLASSES)
    upload = api(manager).post(
        f"/api/projects/{project.pk}/items/",
        {"files": [SimpleUploadedFile("phone.jpg", rotated_jpeg(6))]},
        format="multipart",
    )
    assert upload.status_code == 201, upload.json()
    item = Item.objects.get(pk=upload.json()["imported"][0])
    assert (item.stats["width"], item.stats["height"]) == (200, 400)
    (a,) = labelers(project, 1)
    answer(item, a, boxes((0.7, 0.75, 0.2, 0.2, "iguana")))  # the patch, at x 140-180, y 300-380 upright
    run_build(api, manager, project)
    path = tmp_path / "coco.json"
    path.write_bytes(body(download(api, manager, project, "coco")))
    coco = COCO(str(path))
    image = coco.loadImgs(item.pk)[0]
    assert (image["file_name"], image["width"], image["height"]) == ("phone.jpg", 200, 400)
    (ann,) = coco.loadAnns(coco.getAnnIds(imgIds=[item.pk]))
    assert ann["bbox"] == [140.0, 300.0, 40.0, 80.0] and ann["area"] == pytest.approx(3200.0)
    with default_storage.open(item.file.name, "rb") as handle:
        upright = ImageOps.exif_transpose(Image.open(handle)).convert("L")
    assert upright.size == (image["width"], image["height"])
    x, y, w, h = (int(v) for v in ann["bbox"])
    pixels = np.asarray(upright)
    assert pixels[y : y + h, x : x + w].mean() > 240  # the patch fills the box
    assert pixels.sum() - pixels[y : y + h, x : x + w].sum() < 0.02 * pixels.sum()  # and nothing else is lit
    yolo = zipfile.ZipFile(io.BytesIO(body(download(api, manager, project, "yolo"))))
    assert yolo.read("labels/phone.txt").decode() == "0 0.800000 0.850000 0.200000 0.200000\n"


def test_yolo_zip_has_one_label_file_per_image_and_the_class_names(api, manager, iguanas):
    project, (first, second), _ = iguanas
    run_build(api, manager, project)
    response = download(api, manager, project, "yolo")
    assert response.status_code == 200 and response["Content-Type"] == "application/zip"
    archive = zipfile.ZipFile(io.BytesIO(body(response)))
    assert sorted(archive.namelist()) == ["data.yaml", f"labels/{first.original_name[:-4]}.txt", "labels/i1.txt"]
    assert archive.read("labels/i0.txt").decode().splitlines() == [
        "0 0.310000 0.400000 0.400000 0.600000",
        "1 0.800000 0.810000 0.200000 0.200000",
    ]
    assert archive.read("labels/i1.txt").decode() == "1 0.625000 0.750000 0.250000 0.500000\n"
    assert yaml.safe_load(archive.read("data.yaml"))["names"] == {0: "iguana", 1: "rock"}


def test_a_format_that_does_not_fit_the_task_type_is_a_400_naming_it(api, manager, iguanas):
    project, _, _ = iguanas
    run_build(api, manager, project)
    for fmt in ("rttm", "imagefolder", "segments_csv"):
        response = download(api, manager, project, fmt)
        assert response.status_code == 400, fmt
        assert f"{fmt} does not fit this detection project" in response.json()["detail"]
    refused = api(manager).post(f"/api/projects/{project.pk}/versions/", {"formats": ["rttm"]}, format="json")
    assert refused.status_code == 400 and "rttm" in json.dumps(refused.json())


def test_the_diff_counts_boxes_added_removed_and_moved_after_a_relabel(api, manager, iguanas):
    project, (first, second), (a, b, c) = iguanas
    run_build(api, manager, project)
    # The third labeler redraws the iguana as one box (now all three agree) and moves the rock by a bit;
    # the only labeler of image 2 decides there is nothing there.
    answer(first, c, boxes((0.1, 0.1, 0.4, 0.6, "iguana"), (0.7, 0.7, 0.2, 0.2, "rock")))
    answer(second, a, json.dumps({"boxes": []}))
    run_build(api, manager, project)
    diff = api(manager).get(f"/api/projects/{project.pk}/versions/2/diff?against=1").json()
    assert diff["shapes"] == {"added": 0, "removed": 1, "moved": 2, "relabeled": 0}
    assert diff["n_relabeled"] == 2
    relabeled = {r["item"]: r for r in diff["relabeled"]}
    assert relabeled[second.pk]["to"] == {"boxes": []}
    assert {c["class"]: c["change"] for c in diff["classes"]} == {"iguana": 0, "rock": -1}
    from labeling.models import DatasetVersion

    assert DatasetVersion.objects.get(project=project, number=2).changes["shapes"] == diff["shapes"]


def test_the_diff_page_reads_boxes_as_class_names_and_counts_the_boxes_changed(client, api, manager, iguanas):
    """The diff page printed each relabeled item's boxes as a Python dict ("{'boxes': [{'h': 0.6, ...") and
    left the boxes added, removed and moved out."""
    import re

    project, (first, second), (a, b, c) = iguanas
    run_build(api, manager, project)
    answer(first, c, boxes((0.1, 0.1, 0.4, 0.6, "iguana"), (0.7, 0.7, 0.2, 0.2, "rock")))
    answer(second, a, json.dumps({"boxes": []}))
    run_build(api, manager, project)
    client.force_login(manager)
    page = client.get(f"/projects/{project.pk}/versions/2/diff/?against=1").content.decode()
    table = page[page.index('id="relabeled"') :].split("</table>")[0]
    rows = {
        int(item): [re.sub(r"<[^>]+>", "", cell).strip() for cell in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)]
        for item, row in re.findall(r'<tr data-item="(\d+)"[^>]*>(.*?)</tr>', table, re.S)
    }
    assert rows[second.pk][1:] == ["1 box: Rock", "nothing here", "by the labelers&#x27; answers"]
    assert rows[first.pk][1:] == ["2 boxes: Iguana, Rock", "2 boxes: Iguana, Rock", "by the labelers&#x27; answers"]
    assert "{&#x27;boxes" not in page and "{'boxes" not in page
    shapes = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", page[page.index('id="shape-changes"') :].split("</p>")[0]))
    assert "Boxes: 0 added, 1 removed, 2 moved" in shapes


def test_more_labelers_drawing_the_same_box_is_no_relabel(api, manager, reviewer):
    """A diff compared the whole shipped label, ``support`` included: an item whose box did not change
    but was drawn by one more labeler counted as relabeled."""
    project = make_project(manager, name="Boxes", modality="image", task_type="detection", classes=[{"key": "dog"}])
    (image,) = make_items(project, 1, stats={"width": 100, "height": 100})
    a, b = labelers(project, 2)
    answer(image, a, boxes((0.1, 0.1, 0.5, 0.5, "dog")))
    run_build(api, manager, project)
    answer(image, b, boxes((0.1, 0.1, 0.5, 0.5, "dog")))
    run_build(api, manager, project)
    diff = api(manager).get(f"/api/projects/{project.pk}/versions/2/diff?against=1").json()
    assert (diff["n_relabeled"], diff["relabeled"]) == (0, [])
    assert diff["shapes"] == {"added": 0, "removed": 0, "moved": 0, "relabeled": 0}
    for user in (a, b):  # a second dog, drawn by both: that is a relabel
        answer(image, user, boxes((0.1, 0.1, 0.5, 0.5, "dog"), (0.7, 0.7, 0.2, 0.2, "dog")))
    run_build(api, manager, project)
    assert api(manager).get(f"/api/projects/{project.pk}/versions/3/diff?against=2").json()["n_relabeled"] == 1


@pytest.fixture
def speech(manager):
    project = make_project(
        manager, name="Speech regions", modality="audio", task_type="segments", classes=[{"key": "speech"}]
    )
    (clip,) = make_items(project, 1, stats={"duration": 4.0})
    a, b, c = labelers(project, 3, prefix="ear")
    for user, (start, end) in zip((a, b, c), ((0.5, 3.0), (0.6, 3.2), (1.0, 2.0)), strict=True):
        answer(clip, user, json.dumps({"segments": [{"start": start, "end": end, "label": "speech"}]}))
    return project, clip


def test_segments_version_gets_a_segments_csv_and_rttm(api, manager, speech):
    project, clip = speech
    run_build(api, manager, project)
    from labeling.models import DatasetVersion

    (row,) = manifest(DatasetVersion.objects.get(project=project, number=1))
    assert row["label"] == {"segments": [{"start": 0.6, "end": 3.0, "label": "speech", "support": 3}]}
    response = download(api, manager, project, "segments_csv")
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    assert list(csv.reader(io.StringIO(body(response).decode()))) == [
        ["item", "start", "end", "label", "support", "file"],
        [str(clip.pk), "0.600", "3.000", "speech", "3", "i0.txt"],
    ]
    rttm = download(api, manager, project, "rttm")
    assert rttm.status_code == 200
    assert body(rttm).decode() == "SPEAKER i0 1 0.600 2.400 <NA> <NA> speech <NA> <NA>\n"
    assert download(api, manager, project, "coco").status_code == 400


def test_rttm_names_each_recording_once_even_when_file_names_share_a_stem(api, manager):
    """``q00-clean.flac`` and ``q00-clean.wav`` are two recordings: the later takes its item id, as in
    YOLO's stems. Whitespace becomes ``_`` (RTTM fields are space-separated) before names are made unique,
    and a file already called ``<stem>-<id>`` does not make two recordings one either."""
    from labeling.models import Item

    project = make_project(
        manager, name="Speech names", modality="audio", task_type="segments", classes=[{"key": "speech"}]
    )
    clips = make_items(project, 5, stats={"duration": 10.0})
    names = ["q00-clean.flac", "q00-clean.wav", "q01 noisy.wav", "q01_noisy.wav", f"q00-clean-{clips[1].pk}.wav"]
    for clip, name in zip(clips, names, strict=True):
        Item.objects.filter(pk=clip.pk).update(original_name=name)
    (a,) = labelers(project, 1, prefix="ear")
    for n, clip in enumerate(clips):
        answer(clip, a, json.dumps({"segments": [{"start": n, "end": n + 0.5, "label": "speech"}]}))
    run_build(api, manager, project)
    lines = body(download(api, manager, project, "rttm")).decode().splitlines()
    assert [line.split() for line in lines] == [
        ["SPEAKER", uri, "1", f"{n}.000", "0.500", "<NA>", "<NA>", "speech", "<NA>", "<NA>"]
        for n, uri in enumerate(
            [
                "q00-clean",
                f"q00-clean-{clips[1].pk}",
                "q01_noisy",
                f"q01_noisy-{clips[3].pk}",
                f"q00-clean-{clips[1].pk}-{clips[4].pk}",
            ]
        )
    ]


def test_the_schema_lists_the_shape_formats_and_their_content_types(api, manager):
    schema = api(manager).get("/api/schema/", HTTP_ACCEPT="application/json").json()
    download_op = schema["paths"]["/api/projects/{project_id}/versions/{ref}/download"]["get"]
    (fmt,) = [p for p in download_op["parameters"] if p["name"] == "format"]
    assert {"coco", "yolo", "segments_csv", "rttm"} <= set(fmt["schema"]["enum"])
    assert {"application/json", "text/plain"} <= set(download_op["responses"]["200"]["content"])
    diff = schema["components"]["schemas"]["Diff"]["properties"]
    assert "shapes" in diff


def test_the_version_pages_show_a_detection_version_and_its_diff(client, manager, iguanas, api):
    project, (first, _), (_, _, c) = iguanas
    run_build(api, manager, project)
    answer(first, c, boxes((0.1, 0.1, 0.4, 0.6, "iguana")))
    run_build(api, manager, project)
    client.force_login(manager)
    assert client.get(f"/projects/{project.pk}/versions/2/").status_code == 200
    assert client.get(f"/projects/{project.pk}/versions/2/diff/?against=1").status_code == 200


def test_a_detection_versions_page_counts_its_boxes_per_class_in_each_split(client, manager, iguanas, api):
    """The version page's class tables count boxes, not items, in a detection version; its "By split"
    table showed 0 in every cell (the build recorded no boxes per split)."""
    import re

    project, _, _ = iguanas
    run_build(api, manager, project, {"splits": {"train": 1.0, "dev": 0.0, "test": 0.0}})
    client.force_login(manager)
    page = client.get(f"/projects/{project.pk}/versions/1/").content.decode()

    def cells(table_id):
        table = page[page.index(f'id="{table_id}"') :].split("</table>")[0]
        return [re.sub(r"<[^>]+>", "", m).strip() for m in re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", table, flags=re.S)]

    assert cells("split-classes") == ["Class", "train", "dev", "test", "Iguana", "1", "0", "0", "Rock", "2", "0", "0"]
    assert cells("distribution")[:5] == ["Class", "Boxes", "", "Iguana", "1"]
    from labeling.models import DatasetVersion

    version = DatasetVersion.objects.get(project=project, number=1)  # as built before boxes per split were counted
    version.counts.pop("split_classes")
    version.save(update_fields=["counts"])
    page = client.get(f"/projects/{project.pk}/versions/1/").content.decode()
    assert 'id="distribution"' in page and 'id="split-classes"' not in page


def test_an_item_with_too_few_labelers_is_listed_for_review_and_left_out_of_coco(api, manager, iguanas, tmp_path):
    from pycocotools.coco import COCO

    from labeling.models import DatasetVersion

    project, (first, second), _ = iguanas
    run_build(api, manager, project, {"min_answers": 2, "unresolved": "needs_review"})
    version = DatasetVersion.objects.get(project=project, number=1)
    rows = {r["item"]: r for r in manifest(version)}
    assert rows[second.pk]["label"] is None and rows[second.pk]["review"] == "few_answers"
    assert version.counts["needs_review_items"] == {"few_answers": [second.pk]}
    path = tmp_path / "coco.json"
    path.write_bytes(body(download(api, manager, project, "coco")))
    assert COCO(str(path)).getImgIds() == [first.pk]


def test_shape_classes_count_as_the_taxonomy_changes_and_the_recipe_say(api, manager, reviewer, tmp_path):
    """ "lizard" merged into "iguana" after the answers and a decision were made: the box one labeler drew
    as a lizard and another as an iguana is one iguana with support 2, the decision's lizard ships as an
    iguana, and the COCO file has no lizard category; a recipe's class_map maps further."""
    from pycocotools.coco import COCO

    from labeling.models import DatasetVersion
    from labeling.services.review import decision_record
    from labeling.services.taxonomy import taxonomy_apply

    classes = [*CLASSES, {"key": "lizard", "name": "Lizard"}]
    project = make_project(manager, name="Reptiles", modality="image", task_type="detection", classes=classes)
    member_add(project=project, username=reviewer.username, role="reviewer")
    first, second = make_items(project, 2, stats={"width": 200, "height": 100})
    a, b = labelers(project, 2)
    answer(first, a, boxes((0.1, 0.1, 0.4, 0.6, "iguana"), (0.7, 0.7, 0.2, 0.2, "rock")))
    answer(first, b, boxes((0.12, 0.1, 0.4, 0.6, "lizard"), (0.7, 0.72, 0.2, 0.2, "rock")))
    answer(second, a, boxes((0.5, 0.5, 0.25, 0.5, "rock")))
    answer(second, b, boxes((0.5, 0.5, 0.25, 0.5, "lizard")))
    decision_record(
        item=second, reviewer=reviewer, value={"boxes": [{"x": 0.5, "y": 0.5, "w": 0.25, "h": 0.5, "label": "lizard"}]}
    )
    taxonomy_apply(project=project, op="merge", payload={"classes": ["lizard", "iguana"], "into": "iguana"})

    run_build(api, manager, project)
    version = DatasetVersion.objects.get(project=project, number=1)
    rows = {r["item"]: r for r in manifest(version)}
    assert [(s["label"], s["support"]) for s in rows[first.pk]["label"]["boxes"]] == [("iguana", 2), ("rock", 2)]
    assert rows[first.pk]["answers"] == {"iguana": 2, "rock": 2}
    decided = rows[second.pk]["label"]["boxes"]
    assert rows[second.pk]["resolved_by"] == "decision" and [(s["label"], s["support"]) for s in decided] == [
        ("iguana", 1)
    ]
    assert version.counts["classes"] == {"iguana": 2, "rock": 1}
    assert version.info["class_map"] == {"lizard": "iguana"}
    path = tmp_path / "coco.json"
    path.write_bytes(body(download(api, manager, project, "coco")))
    assert sorted(c["name"] for c in COCO(str(path)).loadCats(COCO(str(path)).getCatIds())) == ["iguana", "rock"]

    run_build(api, manager, project, {"class_map": {"rock": "iguana"}})
    rows = {r["item"]: r for r in manifest(DatasetVersion.objects.get(project=project, number=2))}
    assert [s["label"] for s in rows[first.pk]["label"]["boxes"]] == ["iguana", "iguana"]

    # the reviewer's "accept the consensus" records it in today's classes
    accepted = decision_record(item=first, reviewer=reviewer, accept="consensus")
    assert [s["label"] for s in accepted.shapes["boxes"]] == ["iguana", "rock"]


def test_an_item_sent_back_keeps_its_archived_shapes_until_it_is_answered_again(api, manager, iguanas):
    """A relabel never loses evidence: the first image sent back by a campaign ships the consensus of
    its archived answers (resolved_by "archived") until a labeler answers it again; then the new answer
    is its label. With archived_weight 0 the waiting item is left out as unlabeled."""
    from labeling.models import DatasetVersion
    from labeling.services.campaigns import campaign_create

    project, (first, second), (a, _, _) = iguanas

    def rows(number):
        return {r["item"]: r for r in manifest(DatasetVersion.objects.get(project=project, number=number))}

    run_build(api, manager, project)
    before = rows(1)[first.pk]
    campaign_create(project=project, name="one box per iguana", item_ids=[first.pk], overlap=1, user=manager)

    run_build(api, manager, project)
    waiting = rows(2)[first.pk]
    assert waiting["resolved_by"] == "archived" and waiting["label"] == before["label"]
    assert waiting["n_annotations"] == 3 and waiting["answers"] == before["answers"]
    assert DatasetVersion.objects.get(project=project, number=2).counts["resolved_by"] == {
        "majority": 1,
        "archived": 1,
    }

    run_build(api, manager, project, {"archived_weight": 0})
    assert first.pk not in rows(3)
    assert DatasetVersion.objects.get(project=project, number=3).counts["left_out"]["unlabeled"] == 1

    answer(first, a, boxes((0.1, 0.1, 0.4, 0.6, "iguana")))
    run_build(api, manager, project)
    again = rows(4)[first.pk]
    assert again["resolved_by"] == "majority" and again["n_annotations"] == 1
    assert [s["label"] for s in again["label"]["boxes"]] == ["iguana"]


def test_rttm_keeps_touching_segments_touching_and_ends_where_the_segments_csv_does(api, manager):
    """Speech and music that touch at 1.0006 s (from a 44.1 kHz clip, not on a millisecond) and one ending at
    the clip's end: in RTTM each end (start + duration) is the end segments.csv writes, so the touching
    pair still touch. The duration was rounded apart from the start: 0.000 + 1.000 ended the first at
    1.000 while the second started at 1.001, a gap nobody drew."""
    project = make_project(
        manager,
        name="Touching",
        modality="audio",
        task_type="segments",
        classes=[{"key": "speech"}, {"key": "music"}],
    )
    (clip,) = make_items(project, 1, stats={"duration": 2.9996})
    (a,) = labelers(project, 1, prefix="ear")
    drawn = [(0.0004, 1.0006, "speech"), (1.0006, 2.0004, "music"), (2.0006, 2.9996, "speech")]
    answer(clip, a, json.dumps({"segments": [{"start": s, "end": e, "label": c} for s, e, c in drawn]}))
    run_build(api, manager, project)
    rows = list(csv.reader(io.StringIO(body(download(api, manager, project, "segments_csv")).decode())))[1:]
    ends_csv = sorted((row[1], row[2]) for row in rows)
    assert ends_csv == [("0.000", "1.001"), ("1.001", "2.000"), ("2.001", "3.000")]
    lines = [line.split() for line in body(download(api, manager, project, "rttm")).decode().splitlines()]
    assert sorted((f[3], f"{float(f[3]) + float(f[4]):.3f}") for f in lines) == ends_csv


def test_two_words_every_labeler_drew_touching_are_two_segments_in_the_version(api, manager):
    """Two words said without a pause (or two turns of one speaker), [0.2, 1.1] and [1.1, 1.9] of one class,
    drawn so by every labeler: the version ships two segments, as each labeler drew, not one joined
    [0.2, 1.9]. Labelers who cut a few milliseconds apart, or leave a hair of a gap, cut it too."""
    project = make_project(manager, name="Words", modality="audio", task_type="segments", classes=[{"key": "word"}])
    (clip,) = make_items(project, 1, stats={"duration": 2.0})
    cuts = ((1.1, 1.1), (1.12, 1.12), (1.09, 1.11))  # each labeler's end of the first word, start of the second
    for user, (end, start) in zip(labelers(project, 3, prefix="ear"), cuts, strict=True):
        drawn = [{"start": 0.2, "end": end, "label": "word"}, {"start": start, "end": 1.9, "label": "word"}]
        answer(clip, user, json.dumps({"segments": drawn}))
    run_build(api, manager, project)
    rows = list(csv.reader(io.StringIO(body(download(api, manager, project, "segments_csv")).decode())))[1:]
    assert [row[1:5] for row in rows] == [["0.200", "1.100", "word", "3"], ["1.100", "1.900", "word", "3"]]


def test_the_build_form_of_a_detection_project_offers_no_flag_fields_that_change_nothing(client, manager, iguanas):
    """It offered Borderline, Uncertain and Out of domain while saying "the flags ... do not change what
    ships"; a build from the page still works without them."""
    project, _, _ = iguanas
    client.force_login(manager)
    html = client.get(f"/projects/{project.pk}/versions/").content.decode()
    form = html.split('id="build-form"')[1].split("</form>")[0]
    for name in ("borderline", "uncertain", "out_of_domain"):
        assert f'name="{name}"' not in form, name
    assert 'name="min_answers"' in form and 'name="formats"' in form
    response = client.post(f"/projects/{project.pk}/versions/", {"min_answers": "1", "formats": ["jsonl", "coco"]})
    assert response.status_code == 302, response.content.decode()[:2000]


def test_a_detection_version_keeps_the_frames_of_a_video_in_one_split(api, manager):
    # Frames of one video are near-copies: split one by one, the test split held frames of training videos.
    import hashlib

    from labeling.models import DatasetVersion, Item

    project = make_project(manager, name="Traffic", modality="image", task_type="detection", classes=CLASSES)
    frames = [(f"video{v}", f) for v in range(40) for f in range(4)] + [(None, f) for f in range(30)]
    Item.objects.bulk_create(
        [
            Item(
                project=project,
                sha256=hashlib.sha256(f"{video} {f}".encode()).hexdigest(),
                original_name=f"{video}-{f}.jpg",
                stats={"width": 200, "height": 100},
                metadata={"video": video, "frame": f} if video else {"frame": f},
            )
            for video, f in frames
        ]
    )
    items = list(Item.objects.filter(project=project))
    (a,) = labelers(project, 1)
    for item in items:
        answer(item, a, boxes((0.1, 0.1, 0.4, 0.6, "iguana")))
    videos = {}
    for item in items:
        if "video" in item.metadata:
            videos.setdefault(item.metadata["video"], []).append(item.pk)
    loose = [i.pk for i in items if "video" not in i.metadata]

    run_build(api, manager, project)
    plain = {r["item"]: r["split"] for r in manifest(DatasetVersion.objects.get(project=project, number=1))}
    assert sum(len({plain[i] for i in ids}) > 1 for ids in videos.values()) > 10
    run_build(api, manager, project, {"splits": {"group_by": "video"}})
    version = DatasetVersion.objects.get(project=project, number=2)
    rows = {r["item"]: r["split"] for r in manifest(version)}
    assert all(len({rows[i] for i in ids}) == 1 for ids in videos.values())
    assert len({rows[ids[0]] for ids in videos.values()}) > 1
    assert all(rows[i] == plain[i] for i in loose)
    assert sum(version.counts["splits"].values()) == len(items)
    run_build(api, manager, project, {"splits": {"group_by": "video"}})
    assert {r["item"]: r["split"] for r in manifest(DatasetVersion.objects.get(project=project, number=3))} == rows
