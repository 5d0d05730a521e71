"""Label and item imports as a hostile uploader writes them: zip entries that are links or named twice, and
images given more boxes than an answer holds. Each is refused naming the entry or the image, the rest of the
import goes in, and nothing stored before is touched."""

import io
import json
import stat
import time
import warnings
import zipfile
from unittest import mock

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from labeling.models import Item
from labeling.services import label_imports
from labeling.services.import_jobs import import_job_run
from labeling.services.shapes import MAX_SHAPES
from tests.labeling.test_foreign_exports import CVAT_BOX, cvat_image, cvat_xml, image, post_import, voc_object, voc_xml
from tests.labeling.test_label_import import CLASSES, answers, import_images, zip_bytes

pytestmark = pytest.mark.django_db

MANY = 20 * MAX_SHAPES  # boxes given to one image


@pytest.fixture
def detection(manager, labeler):
    from labeling.services.projects import member_add
    from tests.conftest import make_project

    project = make_project(manager, name="Iguanas", modality="image", task_type="detection", classes=CLASSES)
    member_add(project=project, username=labeler.username, role="labeler")
    return project


def odd_zip(entries, links=(), twice=()):
    """A zip of ``entries``, ``links`` (name, target) written as symbolic links, as ``zip -y`` stores them, and
    ``twice`` (name, data) written once more under a name it already has."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # zipfile's "Duplicate name"
        for name, data in entries:
            archive.writestr(name, data)
        for name, target in links:
            info = zipfile.ZipInfo(name)
            info.external_attr = (stat.S_IFLNK | 0o777) << 16
            archive.writestr(info, target)
        for name, data in twice:
            archive.writestr(name, data)
    return buffer.getvalue()


@pytest.fixture
def boxes_read():
    """Counts the boxes the label parsers turn from pixels into fractions."""
    original = label_imports._pixel_box
    with mock.patch.object(label_imports, "_pixel_box", side_effect=original) as counter:
        yield counter


def test_an_image_given_more_boxes_than_an_answer_holds_is_refused_without_reading_them(
    api, manager, detection, boxes_read
):
    """A million tiny boxes on one image were each read into a box (a 51 MB annotations.xml: 5.7 s of CPU and
    650 MB of memory) before the answer was refused for holding over 500."""
    import_images(detection, ["a.png", "b.png"])
    tiny = '<box label="iguana" xtl="1" ytl="1" xbr="2" ybr="2"/>'
    xml = cvat_xml(cvat_image(0, "a.png", tiny * MANY) + cvat_image(1, "b.png", CVAT_BOX))
    job = post_import(api, manager, detection, "annotations.xml", xml.encode(), format="cvat", labeler="cvat")
    assert job["status"] == "succeeded"
    assert job["errors"] == [
        {"name": "annotations.xml image 0 (a.png)", "reason": f"{MANY:,} boxes and polygons, over the limit of 500"}
    ]
    voc = zip_bytes(
        [
            ("Annotations/c.xml", voc_xml("c.png", voc_object("iguana", 2, 2, 3, 3) * MANY)),
            ("JPEGImages/c.png", image(3)),
        ]
    )
    job = post_import(api, manager, detection, "voc.zip", voc, format="voc", labeler="voc")
    assert job["errors"] == [{"name": "Annotations/c.xml", "reason": f"{MANY:,} objects, over the limit of 500"}]
    line = {"file_name": "d.png", "objects": {"bbox": [[1, 1, 2, 2]] * MANY, "category": ["iguana"] * MANY}}
    hf = zip_bytes([("metadata.jsonl", json.dumps(line)), ("d.png", image(4))])
    job = post_import(api, manager, detection, "hf.zip", hf, format="huggingface", labeler="hf")
    assert job["errors"] == [{"name": "metadata.jsonl line 1", "reason": f"{MANY:,} objects, over the limit of 500"}]
    assert boxes_read.call_count == 1  # b.png's box
    assert set(answers(detection)) == {("b.png", "cvat")}
    assert sorted(Item.objects.filter(project=detection).values_list("original_name", flat=True)) == ["a.png", "b.png"]


def test_zip_entries_that_are_links_or_named_twice_are_refused_naming_them(api, manager, detection):
    """A symbolic link was read as a file holding its target's path ('not an image Pillow can identify'); a
    name written twice imported whichever copy came last, without a word."""
    import_images(detection, ["kept.png"])
    content = odd_zip(
        [("annotations.xml", cvat_xml(cvat_image(0, "a.png", CVAT_BOX) + cvat_image(1, "b.png", CVAT_BOX)))]
        + [("images/a.png", image(1)), ("images/b.png", image(2))],
        links=[("images/c.png", "/etc/passwd")],
        twice=[("images/a.png", image(9))],
    )
    job = post_import(api, manager, detection, "cvat.zip", content, format="cvat", labeler="cvat")
    reasons = {e["name"]: e["reason"] for e in job["errors"]}
    assert (
        reasons["images/c.png"] == "zip entry 'images/c.png' is a symbolic link, not a file: zip the file it links to"
    )
    assert (
        reasons["images/a.png"]
        == "zip entry 'images/a.png' is in the archive 2 times: which one is meant cannot be told"
    )
    assert "no file 'a.png'" in reasons["annotations.xml image 0 (a.png)"]
    assert set(answers(detection)) == {("images/b.png", "cvat")}
    # an items-only import of the same zip
    response = api(manager).post(
        f"/api/projects/{detection.pk}/imports/",
        {"file": SimpleUploadedFile("i.zip", content)},
        format="multipart",
    )
    assert response.status_code == 202
    import_job_run(job_id=response.json()["job"])
    job = api(manager).get(f"/api/jobs/{response.json()['job']}/").json()
    reasons = {e["name"]: e["reason"] for e in job["errors"]}
    assert "is a symbolic link" in reasons["images/c.png"] and "2 times" in reasons["images/a.png"]
    names = sorted(Item.objects.filter(project=detection).values_list("original_name", flat=True))
    assert names == ["images/b.png", "kept.png"]


def bomb_zip(name, head, n):
    """A zip whose ``name`` is ``head`` and ``n`` spaces: deflate stores a run of spaces about 1,000 times smaller."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(name, head + b" " * n)
        archive.writestr("images/a.png", image(1))
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("fmt", "name", "head"),
    [
        ("cvat", "annotations.xml", cvat_xml(cvat_image(0, "a.png", CVAT_BOX)).encode()),
        ("voc", "Annotations/a.xml", voc_xml("a.png").encode()),
        ("huggingface", "images/metadata.jsonl", b'{"file_name": "a.png"}\n'),
        ("coco", "instances.json", b'{"images": [], "annotations": []}'),
        ("label_studio", "export.json", b"[]"),
        (None, "manifest.jsonl", b'{"path": "images/a.png"}\n'),
    ],
)
def test_a_labels_file_that_unzips_to_far_more_than_it_holds_is_refused_as_a_zip_bomb(
    api, manager, detection, monkeypatch, fmt, name, head
):
    """A labels file or manifest in a zip was read whole up to the 2 GB import limit, however small the zip: a
    2 MB upload made 2 GB of XML or JSON in the worker's memory, then its tree."""
    from labeling.services import imports

    monkeypatch.setattr(imports, "RATIO_CHECKED_FROM", 2**20)  # from 16 MB: 1 MB keeps the test small
    content = bomb_zip(name, head, 3 * 2**20)
    options = {"format": fmt, "labeler": "x"} if fmt else {}
    response = api(manager).post(
        f"/api/projects/{detection.pk}/imports/", {"file": SimpleUploadedFile("bomb.zip", content), **options}
    )
    assert response.status_code == 202, response.json()
    import_job_run(job_id=response.json()["job"])
    job = api(manager).get(f"/api/jobs/{response.json()['job']}/").json()
    reasons = " ".join(e["reason"] for e in job["errors"])
    assert f"{name} unzips to 3,1" in reasons and "times what the zip holds" in reasons and "zip bomb" in reasons
    assert not Item.objects.filter(project=detection).exists() and answers(detection) == {}


def test_a_labels_file_naming_one_image_twice_with_other_boxes_refuses_both_and_keeps_what_is_stored(
    api, manager, detection
):
    """The second of two <image> elements (or lines, or .xml files) naming one image replaced the first's boxes
    with its own, without a word: the stored answer was whichever came last."""
    import_images(detection, ["a.png", "b.png", "c.png"])
    first = cvat_xml(cvat_image(0, "a.png", CVAT_BOX))
    assert (
        post_import(api, manager, detection, "annotations.xml", first.encode(), format="cvat", labeler="x")["errors"]
        == []
    )
    stored = answers(detection)
    xml = cvat_xml(cvat_image(0, "a.png", "") + cvat_image(1, "b.png", CVAT_BOX) + cvat_image(2, "./a.png", CVAT_BOX))
    job = post_import(api, manager, detection, "annotations.xml", xml.encode(), format="cvat", labeler="x")
    assert job["errors"] == [
        {
            "name": "annotations.xml image 0 (a.png)",
            "reason": "annotations.xml image 2 (./a.png) names the same image with other answers by x: which one is "
            "meant cannot be told",
        },
        {
            "name": "annotations.xml image 2 (./a.png)",
            "reason": "annotations.xml image 0 (a.png) names the same image with other answers by x: which one is "
            "meant cannot be told",
        },
    ]
    assert answers(detection)[("a.png", "x")] == stored[("a.png", "x")] and ("b.png", "x") in answers(detection)
    lines = [
        {"file_name": "c.png", "objects": {"bbox": b, "category": ["iguana"] * len(b)}} for b in ([[1, 1, 5, 5]], [])
    ]
    hf = zip_bytes([("metadata.jsonl", "\n".join(json.dumps(line) for line in lines))])
    job = post_import(api, manager, detection, "hf.zip", hf, format="huggingface", labeler="x")
    assert [e["name"] for e in job["errors"]] == ["metadata.jsonl line 1", "metadata.jsonl line 2"]
    assert "metadata.jsonl line 2 names the same image" in job["errors"][0]["reason"]
    assert ("c.png", "x") not in answers(detection)
    # the same answers twice say the same: both go in, as one
    same = cvat_xml(cvat_image(0, "c.png", CVAT_BOX) + cvat_image(1, "c.png", CVAT_BOX))
    job = post_import(api, manager, detection, "annotations.xml", same.encode(), format="cvat", labeler="x")
    assert job["errors"] == [] and ("c.png", "x") in answers(detection)


def test_coco_and_yolo_images_given_more_boxes_than_an_answer_holds_are_refused_without_reading_them(
    api, manager, detection
):
    from tests.labeling.test_label_import import coco, coco_box, coco_image

    import_images(detection, ["a.png", "b.png"])
    many = [coco_box(n, 1, [1, 1, 2, 2]) for n in range(MANY)]
    labels = coco([coco_image(1, "a.png"), coco_image(2, "b.png")], [*many, coco_box(MANY, 2, [80, 30, 40, 40])])
    with mock.patch.object(label_imports, "_box", side_effect=label_imports._box) as boxes_read:
        job = post_import(api, manager, detection, "instances.json", labels, format="coco", labeler="coco")
        assert job["errors"] == [
            {"name": "instances.json image 1 (a.png)", "reason": f"{MANY:,} annotations, over the limit of 500"}
        ]
        assert boxes_read.call_count <= MAX_SHAPES + 1
        boxes_read.reset_mock()
        yolo = zip_bytes(
            [
                ("classes.txt", "iguana\nrock\n"),
                ("labels/a.txt", "0 0.5 0.5 0.01 0.01\n" * MANY),
                ("images/a.png", image(1)),
            ]
        )
        job = post_import(api, manager, detection, "yolo.zip", yolo, format="yolo", labeler="yolo")
        assert job["errors"] == [{"name": "labels/a.txt", "reason": f"{MANY:,} boxes, over the limit of 500"}]
        assert boxes_read.call_count == 0
    assert set(answers(detection)) == {("b.png", "coco")}


def alias_bomb(levels=12):
    """A dataset card of a few hundred bytes whose YAML aliases make a list of 10^levels strings out of ten."""
    lines = ["dataset_info:", "  features:", "  - name: l0", "    x: &l0 [a, a, a, a, a, a, a, a, a, a]"]
    lines += [f"  - name: l{i}\n    x: &l{i} [" + ", ".join([f"*l{i - 1}"] * 10) + "]" for i in range(1, levels)]
    return "---\n" + "\n".join(lines) + "\n---\n# card\n"


@pytest.mark.timeout(60)
@pytest.mark.parametrize(
    ("card", "content"),
    [
        ("README.md", alias_bomb()),
        ("README.md", "---\ndataset_info: " + "[" * 100_000 + "\n---\n"),
        ("dataset_infos.json", "[" * 100_000 + "]" * 100_000),
    ],
)
def test_a_hostile_dataset_card_is_left_aside_and_the_labels_go_in(api, manager, detection, card, content):
    """The class names were looked for in every node of the card's features: YAML aliases made a 400-byte card
    10^12 nodes to walk (the worker never finished), and a card nested 100,000 deep was a RecursionError."""
    line = {"file_name": "a.png", "objects": {"bbox": [[80, 30, 40, 40]], "category": ["iguana"]}}
    content = zip_bytes([(card, content), ("metadata.jsonl", json.dumps(line)), ("a.png", image(1))])
    job = post_import(api, manager, detection, "hf.zip", content, format="huggingface", labeler="hf")
    assert job["status"] == "succeeded" and job["errors"] == [], job["errors"]
    assert set(answers(detection)) == {("a.png", "hf")}


DEEP = "[" * 5000 + "]" * 5000  # 10 kB


def _random_json(rng, depth=0):
    kind = rng.integers(0, 5 if depth < 12 else 2)
    if kind == 0:  # strings full of what the count must not take for brackets or quotes' ends
        return "".join(rng.choice(list('ab[]{}"\\ ,:\u00e9\u2028'), size=int(rng.integers(0, 12))))
    if kind == 1:
        return float(rng.normal()) if rng.random() < 0.5 else None
    if kind == 2:
        return [_random_json(rng, depth + 1) for _ in range(int(rng.integers(0, 4)))]
    return {_random_json(rng, 99) if rng.random() < 0.5 else "k": _random_json(rng, depth + 1) for _ in range(3)}


def _nesting(value) -> int:
    if isinstance(value, list):
        return 1 + max((_nesting(v) for v in value), default=0)
    if isinstance(value, dict):
        return 1 + max((_nesting(v) for v in value.values()), default=0)
    return 0


@pytest.mark.parametrize("chunk", [1, 2, 3, 7, 2**24])
def test_the_depth_count_reads_strings_as_json_does_across_chunks(monkeypatch, chunk):
    """The depth is counted on the file's bytes, a chunk at a time: brackets inside strings, escaped quotes
    and runs of backslashes split between chunks must not move it. Checked against the parsed JSON's own
    nesting on random documents (json.dumps writes the escapes; ensure_ascii off keeps UTF-8 bytes)."""
    import numpy as np

    monkeypatch.setattr(label_imports, "DEPTH_CHUNK_BYTES", chunk)
    rng = np.random.default_rng(chunk)
    for _ in range(60):
        value = [_random_json(rng)]
        raw = json.dumps(value, ensure_ascii=rng.random() < 0.5).encode()
        assert label_imports._json_depth(io.BytesIO(raw), 10_000) == _nesting(value), raw


@pytest.mark.timeout(120)
def test_json_nested_thousands_deep_is_refused_naming_the_file_or_line(api, manager, detection):
    """A COCO or Label Studio file was read through ijson, which names every event by its path: 100,000
    brackets inside each other (200 kB) were paths 100,000 levels long, tens of GB; read whole, or as a
    manifest or metadata line, it was a RecursionError that failed the job after its retries."""
    import_images(detection, ["a.png"])
    for fmt, name, content in [
        ("coco", "instances.json", '{"images": [], "annotations": ' + DEEP + ', "categories": []}'),
        ("label_studio", "export.json", "[" + DEEP + "]"),
    ]:
        job = post_import(api, manager, detection, name, content.encode(), format=fmt, labeler="x")
        assert job["status"] == "failed"
        assert f"{name}: JSON nested over 64 levels deep" in job["errors"][-1]["reason"], job["errors"]
    started = time.monotonic()
    deeper = "[" * 100_000 + "]" * 100_000
    job = post_import(api, manager, detection, "export.json", deeper.encode(), format="label_studio", labeler="x")
    assert "nested over 64 levels deep" in job["errors"][-1]["reason"] and time.monotonic() - started < 30
    lines = [{"file_name": "a.png", "objects": {"bbox": [[80, 30, 40, 40]], "category": ["iguana"]}}]
    metadata = json.dumps(lines[0]) + '\n{"file_name": "a.png", "x": ' + DEEP + "}\n"
    job = post_import(
        api, manager, detection, "hf.zip", zip_bytes([("metadata.jsonl", metadata)]), format="huggingface", labeler="x"
    )
    assert job["errors"][0]["name"] == "metadata.jsonl line 2" and "nested too deeply" in job["errors"][0]["reason"]
    manifest = '{"path": "b.png"}\n{"path": "c.png", "metadata": ' + DEEP + "}\n"
    content = zip_bytes([("manifest.jsonl", manifest), ("b.png", image(2)), ("c.png", image(3))])
    response = api(manager).post(
        f"/api/projects/{detection.pk}/imports/", {"file": SimpleUploadedFile("m.zip", content)}
    )
    import_job_run(job_id=response.json()["job"])
    job = api(manager).get(f"/api/jobs/{response.json()['job']}/").json()
    assert job["status"] == "succeeded" and [e["name"] for e in job["errors"]] == ["line 2"]
    assert "nested too deeply" in job["errors"][0]["reason"]
    assert sorted(Item.objects.filter(project=detection).values_list("original_name", flat=True)) == [
        "a.png",
        "line 1 (b.png)",
    ]


@pytest.mark.parametrize("name", ["data.yaml", "coco8.yaml"])
def test_a_yolo_dataset_yaml_nested_past_pythons_stack_is_refused_naming_it(api, manager, detection, name):
    """It was a RecursionError that failed the job after its retries."""
    content = zip_bytes(
        [(name, "names: " + "[" * 100_000), ("labels/a.txt", "0 0.5 0.5 0.2 0.4\n"), ("images/a.png", image(1))]
    )
    job = post_import(api, manager, detection, "yolo.zip", content, format="yolo", labeler="x")
    assert job["status"] == "failed"
    reason = job["errors"][-1]["reason"]
    assert (
        (f"{name}: not a YAML mapping with 'names'" in reason)
        if name == "data.yaml"
        else ("needs classes.txt" in reason)
    )


def test_a_label_studio_annotation_with_more_regions_than_an_answer_holds_is_refused_without_reading_them(
    api, manager, detection
):
    from tests.labeling.test_label_import import ls_annotation, ls_rect, ls_task, ls_user

    import_images(detection, ["a.png", "b.png"])
    many = [ls_rect(f"r{n}", 1, 1, 1, 1, "iguana") for n in range(MANY)]
    export = [
        ls_task(1, {"image": "/data/upload/3/5d4a1c2e-a.png"}, [ls_annotation(101, ls_user(1, "lea@x.org"), many)]),
        ls_task(2, {"image": "/data/upload/3/5d4a1c2f-b.png"}, [ls_annotation(102, ls_user(1, "lea@x.org"), many[:1])]),
    ]
    with mock.patch.object(label_imports, "_ls_boxes", side_effect=label_imports._ls_boxes) as regions_read:
        job = post_import(api, manager, detection, "export.json", json.dumps(export).encode(), format="label_studio")
    reasons = [e["reason"] for e in job["errors"]]
    assert reasons == [f"annotation 101 by lea@x.org: {MANY:,} regions, over the limit of 500"]
    assert regions_read.call_count == 1 and set(answers(detection)) == {("b.png", "lea@x.org")}


@pytest.mark.parametrize("stem", ["é" * 300, "x" * 400, "記録" * 100])
def test_a_manifest_whose_name_is_longer_than_a_file_name_can_be_is_imported(api, manager, stem):
    # The upload was kept under its own name, and a name over the file system's 255 bytes was a 500
    # ("File name too long") with no job.
    from tests.conftest import make_project

    project = make_project(manager, name="Notes", modality="text")
    job = post_import(api, manager, project, stem + ".jsonl", b'{"text": "a long-named note"}\n')
    assert job["status"] == "succeeded", job
    assert list(Item.objects.filter(project=project).values_list("text", flat=True)) == ["a long-named note"]


def unreadable_zip(entries, encrypted=(), method_99=(), bad_crc=()):
    """A zip (stored, not deflated) of ``entries`` where the entries named in ``encrypted`` are marked
    password-protected (general purpose flag bit 0, as ``zip -e`` writes them), those in ``method_99`` use
    WinZip's AES method, which Python's zipfile cannot read, and those in ``bad_crc`` have a byte of their
    data flipped after it was written (a damaged download)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
        for name, data in entries:
            archive.writestr(name, data)
    content = bytearray(buffer.getvalue())
    with zipfile.ZipFile(io.BytesIO(bytes(content))) as archive:
        infos = {info.filename: info for info in archive.infolist()}
    central = content.find(b"PK\x01\x02")
    for name, info in infos.items():
        local = info.header_offset
        headers = [(local, 6)]  # a local header's flag is at +6, its method at +8; a central one's at +8, +10
        at = content.find(b"PK\x01\x02", central)
        while at >= 0:
            length = int.from_bytes(content[at + 28 : at + 30], "little")
            if content[at + 46 : at + 46 + length] == name.encode():
                headers.append((at, 8))
            at = content.find(b"PK\x01\x02", at + 4)
        for at, flag in headers:
            if name in encrypted:
                content[at + flag] |= 1
            if name in method_99:
                content[at + flag + 2 : at + flag + 4] = (99).to_bytes(2, "little")
        if name in bad_crc:
            data_at = local + 30 + len(name.encode()) + int.from_bytes(content[local + 28 : local + 30], "little")
            content[data_at + info.file_size // 2] ^= 0xFF
    return bytes(content)


def test_encrypted_unreadable_or_damaged_zip_entries_are_refused_naming_them_and_the_rest_goes_in(
    api, manager, detection
):
    """One password-protected entry, one in a compression method Python cannot read (WinZip AES) or one whose
    data was damaged failed the whole import ("import failed: RuntimeError: File <ZipInfo filename='b.png'
    ...> is encrypted, password required for extraction", "NotImplementedError: That compression method is
    not supported", "Bad CRC-32 for file 'd.png'"), the good files of the zip with it."""
    import_images(detection, ["kept.png"])
    content = unreadable_zip(
        [("a.png", image(1)), ("b.png", image(2)), ("c.png", image(3)), ("d.png", image(4))],
        encrypted={"b.png"},
        method_99={"c.png"},
        bad_crc={"d.png"},
    )
    upload = {"file": SimpleUploadedFile("i.zip", content)}
    response = api(manager).post(f"/api/projects/{detection.pk}/imports/", upload)
    assert response.status_code == 202
    import_job_run(job_id=response.json()["job"])
    job = api(manager).get(f"/api/jobs/{response.json()['job']}/").json()
    assert job["status"] == "succeeded", job["errors"]
    assert {e["name"]: e["reason"] for e in job["errors"]} == {
        "b.png": "zip entry 'b.png' is encrypted (password-protected): zip it again without a password",
        "c.png": "zip entry 'c.png' is compressed with a method LabelHub cannot read (99): zip it again with "
        "the usual one (deflate)",
        "d.png": "zip entry 'd.png' is damaged (Bad CRC-32 for file 'd.png'): zip it again",
    }
    assert sorted(Item.objects.filter(project=detection).values_list("original_name", flat=True)) == [
        "a.png",
        "kept.png",
    ]
    # the same entries beside a YOLO labels file: their images are refused, the others' boxes go in
    yolo = unreadable_zip(
        [("images/e.png", image(5)), ("labels/e.txt", b"0 0.5 0.5 0.2 0.4\n")]
        + [("images/f.png", image(6)), ("labels/f.txt", b"0 0.5 0.5 0.2 0.4\n")]
        + [("images/g.png", image(7)), ("labels/g.txt", b"0 0.5 0.5 0.2 0.4\n")]
        + [("data.yaml", b"names: [iguana, rock]\n")],
        encrypted={"images/f.png"},
        bad_crc={"images/g.png"},
    )
    job = post_import(api, manager, detection, "yolo.zip", yolo, format="yolo", labeler="yolo")
    assert job["status"] == "succeeded", job["errors"]
    reasons = {e["name"]: e["reason"] for e in job["errors"]}
    assert reasons["images/f.png"] == (
        "zip entry 'images/f.png' is encrypted (password-protected): zip it again without a password"
    )
    assert reasons["images/g.png"] == (
        "zip entry 'images/g.png' is damaged (Bad CRC-32 for file 'images/g.png'): zip it again"
    )
    assert {name for name, who in answers(detection) if who == "yolo"} == {"images/e.png"}


def test_a_zip_whose_manifest_is_encrypted_fails_saying_so_and_imports_nothing(api, manager, detection):
    """An encrypted manifest failed the job as "import failed: RuntimeError: File <ZipInfo ...>"; the files
    must not go in without it either (their tags and labels are in it)."""
    content = unreadable_zip(
        [("manifest.jsonl", b'{"path": "a.png", "tags": ["x"]}\n'), ("a.png", image(1))], encrypted={"manifest.jsonl"}
    )
    upload = {"file": SimpleUploadedFile("m.zip", content)}
    response = api(manager).post(f"/api/projects/{detection.pk}/imports/", upload)
    import_job_run(job_id=response.json()["job"])
    job = api(manager).get(f"/api/jobs/{response.json()['job']}/").json()
    assert job["status"] == "failed"
    assert job["errors"] == [
        {
            "reason": "the upload cannot be read: zip entry 'manifest.jsonl' is encrypted (password-protected): zip "
            "it again without a password"
        }
    ]
    assert not Item.objects.filter(project=detection).exists()
