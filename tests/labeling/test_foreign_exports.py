"""Labels written by other tools, as a team moving to LabelHub brings them: small but faithful copies of
what CVAT, Ultralytics, Roboflow and Label Studio write (their layouts, side files and quirks), posted
through the imports API. Each says what the user sees: which items have whose boxes, and what is refused.

The layouts, from each tool's exporter:

- CVAT "YOLO 1.1" (Datumaro's darknet layout): ``obj.names``, ``obj.data``, ``train.txt`` listing
  ``data/obj_train_data/<image>``, and ``obj_train_data/`` with each image's ``.txt`` beside it.
- CVAT "Ultralytics YOLO Detection": ``data.yaml`` (``names`` numbered 0, 1, ...; ``train: train.txt``),
  ``train.txt`` listing ``images/train/<image>``, ``images/train/``, ``labels/train/``; its "Track"
  variant ends a line with the track id.
- Roboflow "YOLOv8": ``data.yaml`` (``names`` a list, ``nc``, ``train: ../train/images``),
  ``README.roboflow.txt``, and ``train/images``, ``train/labels``, ``valid/...`` split folders.
- Roboflow "COCO": one ``_annotations.coco.json`` per split folder beside its images, category 0 the
  dataset's own name (supercategory "none"), the classes from 1, image ids from 0.
- CVAT "COCO 1.0": ``annotations/instances_<subset>.json`` and ``images/<subset>/``, ``file_name``
  relative to the subset's folder, polygons in ``segmentation`` and masks as RLE with ``iscrowd`` 1.
- Label Studio's COCO (its converter): ``result.json``, ``images/``; categories and image ids from 0,
  ``file_name`` ``images/<8 hex>-<name>``; an image nobody labeled is left out (older converters) or
  listed without annotations, and without a size when the export does not hold its image (the SDK's).
- Label Studio's YOLO: ``classes.txt``, ``notes.json``, ``images/``, ``labels/`` (an empty label file
  for a task nobody labeled).
- Label Studio's JSON: ``polygonlabels`` (points in percent), ``brushlabels`` (RLE), ``keypointlabels``
  beside ``rectanglelabels``.
- Ultralytics segmentation (``class x1 y1 x2 y2 ...``), oriented boxes (four corners), poses
  (``kpt_shape`` in ``data.yaml``: the box, then the keypoints).
- Label Studio's JSON-MIN: one record per annotation, the task's data fields at the top, each control's
  results under its name (a single choice or text as a plain string), ``annotator`` an e-mail or an id.
- Roboflow "YOLO Darknet": ``train/_darknet.labels`` naming the classes, each ``.txt`` beside its image.
- Hugging Face imagefolder / audiofolder: a ``metadata.csv`` or ``metadata.jsonl`` per folder,
  ``file_name`` relative to it, any other columns (``label``, ``transcription``, ...).
- macOS zips: names decomposed (NFD), where labels written elsewhere name them composed (NFC).
- CVAT "CVAT for images 1.1" (cvat/apps/dataset_manager/formats/cvat.py): ``annotations.xml`` (version,
  meta with the labels, an ``<image>`` per frame with its ``<box>``, ``<polygon>``, ``<tag>``) and ``images/``
  (a project's: ``images/<subset>/``); "CVAT for video 1.1" writes ``<track>`` elements.
- Pascal VOC: CVAT's ``Annotations/``, ``ImageSets/Main/``, ``JPEGImages/``, ``labelmap.txt`` (and
  segmentation masks); Roboflow's ``.xml`` beside each image in split folders.
- Hugging Face object detection: ``metadata.jsonl`` with ``objects`` (``bbox``, ``category``), the classes
  named by the dataset card's ClassLabel (``README.md``'s ``dataset_info``), as cppe-5 is laid out.
- Label Studio's ``allowEmpty``: a region with ``"rectanglelabels": []``.
"""

import io
import json
import posixpath
import unicodedata

import pytest
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command

from labeling.models import Item
from labeling.services.import_jobs import import_job_run
from labeling.services.imports import ImportEntry, items_import
from labeling.services.label_imports import labels_parse
from labeling.services.projects import member_add
from tests.conftest import make_project, png_bytes, wav_bytes
from tests.labeling.test_label_import import (
    CLASSES,
    answers,
    approx_boxes,
    import_images,
    parsed_within_its_size,
    zip_bytes,
)
from tests.labeling.version_helpers import answer, build, labelers

pytestmark = pytest.mark.django_db


@pytest.fixture
def detection(manager, labeler):
    project = make_project(manager, name="Iguanas", modality="image", task_type="detection", classes=CLASSES)
    member_add(project=project, username=labeler.username, role="labeler")
    return project


def post_import(api, user, project, name, content, **data):
    """The import as a client sends it, then run by the worker: the job as the API shows it."""
    response = api(user).post(
        f"/api/projects/{project.pk}/imports/",
        {"file": SimpleUploadedFile(name, content), **data},
        format="multipart",
    )
    assert response.status_code == 202, response.json()
    job_id = response.json()["job"]
    import_job_run(job_id=job_id)
    return api(user).get(f"/api/jobs/{job_id}/").json()


def image(seed, size=(200, 100)):
    return png_bytes(size=size, seed=seed)


# Boxes as LabelHub stores them, from a YOLO line "0 0.5 0.5 0.2 0.4" and "1 0.9 0.25 0.2 0.5".
IGUANA = {"x": 0.4, "y": 0.3, "w": 0.2, "h": 0.4, "label": "iguana"}
ROCK = {"x": 0.8, "y": 0.0, "w": 0.2, "h": 0.5, "label": "rock"}
YOLO_A = "0 0.5 0.5 0.2 0.4\n1 0.9 0.25 0.2 0.5\n"


# --- YOLO ----------------------------------------------------------------------------------------


def test_cvat_yolo_1_1_labels_beside_their_images_in_obj_train_data(api, manager, detection):
    content = zip_bytes(
        [
            ("obj.data", "classes = 2\ntrain = data/train.txt\nnames = data/obj.names\nbackup = backup/\n"),
            ("obj.names", "iguana\nrock\n"),
            ("train.txt", "data/obj_train_data/a.png\ndata/obj_train_data/b.png\n"),
            ("obj_train_data/a.png", image(1)),
            ("obj_train_data/a.txt", YOLO_A),
            ("obj_train_data/b.png", image(2)),
            ("obj_train_data/b.txt", ""),  # CVAT writes an empty file for an image without boxes
        ]
    )
    job = post_import(api, manager, detection, "task_1-yolo.zip", content, format="yolo", labeler="cvat")
    assert job["status"] == "succeeded" and job["errors"] == [], job["errors"]
    got = answers(detection)
    assert set(got) == {("obj_train_data/a.png", "cvat"), ("obj_train_data/b.png", "cvat")}
    assert got[("obj_train_data/a.png", "cvat")]["boxes"] == approx_boxes({"boxes": [IGUANA, ROCK]})
    assert got[("obj_train_data/b.png", "cvat")] == {"boxes": []}


def test_cvat_ultralytics_export_with_its_train_txt_and_track_ids(api, manager, detection):
    content = zip_bytes(
        [
            ("data.yaml", "path: ./\ntrain: train.txt\nnames:\n  0: iguana\n  1: rock\n"),
            ("train.txt", "images/train/a.png\nimages/train/b.png\n"),
            ("images/train/a.png", image(1)),
            ("images/train/b.png", image(2)),
            ("labels/train/a.txt", "0 0.5 0.5 0.2 0.4 1\n1 0.9 0.25 0.2 0.5\n"),  # the first box is track 1
            ("labels/train/b.txt", ""),
        ]
    )
    job = post_import(api, manager, detection, "ultralytics.zip", content, format="yolo", labeler="cvat")
    assert job["status"] == "succeeded" and job["errors"] == [], job["errors"]
    got = answers(detection)
    assert got[("images/train/a.png", "cvat")]["boxes"] == approx_boxes({"boxes": [IGUANA, ROCK]})
    assert got[("images/train/b.png", "cvat")] == {"boxes": []}


def test_roboflow_darknet_labels_beside_images_and_its_darknet_labels_file(api, manager, detection):
    content = zip_bytes(
        [
            ("README.roboflow.txt", "\nIguanas - v3\n"),
            ("train/_darknet.labels", "iguana\nrock\n"),
            ("train/a_png.rf.1.png", image(1)),
            ("train/a_png.rf.1.txt", YOLO_A),
            ("valid/_darknet.labels", "iguana\nrock\n"),
            ("valid/b_png.rf.2.png", image(2)),
            ("valid/b_png.rf.2.txt", "1 0.9 0.25 0.2 0.5\n"),
        ]
    )
    job = post_import(api, manager, detection, "Iguanas.v3i.darknet.zip", content, format="yolo", labeler="rf")
    assert job["status"] == "succeeded" and job["errors"] == [], job["errors"]
    got = answers(detection)
    assert got[("train/a_png.rf.1.png", "rf")]["boxes"] == approx_boxes({"boxes": [IGUANA, ROCK]})
    assert got[("valid/b_png.rf.2.png", "rf")]["boxes"] == approx_boxes({"boxes": [ROCK]})


def test_an_ultralytics_dataset_folder_zipped_with_its_own_yaml(api, manager, detection):
    # A dataset folder as Ultralytics' docs lay it out, its YAML named after it (coco8.yaml, VOC.yaml).
    content = zip_bytes(
        [
            (
                "iguanas/iguanas.yaml",
                "path: ../datasets/iguanas\ntrain: images/train\nval: images/val\nnames:\n  0: iguana\n  1: rock\n",
            ),
            ("iguanas/images/train/a.png", image(1)),
            ("iguanas/labels/train/a.txt", YOLO_A),
            ("iguanas/images/val/b.png", image(2)),
        ]
    )
    job = post_import(api, manager, detection, "iguanas.zip", content, format="yolo", labeler="ul")
    assert job["status"] == "succeeded" and job["errors"] == [], job["errors"]
    got = answers(detection)
    assert got[("iguanas/images/train/a.png", "ul")]["boxes"] == approx_boxes({"boxes": [IGUANA, ROCK]})
    assert got[("iguanas/images/val/b.png", "ul")] == {"boxes": []}


def test_ultralytics_segmentation_oriented_boxes_and_poses_go_in_as_the_box_around_them(api, manager, detection):
    # CVAT's "Ultralytics YOLO Segmentation" and "Oriented Bounding Boxes" exports into a detection project.
    polygon = "0 0.4 0.3 0.6 0.3 0.6 0.7 0.5 0.7 0.4 0.5\n"  # the iguana's outline, its box 0.4..0.6 x 0.3..0.7
    oriented = "1 0.8 0.0 1.0 0.0 1.0 0.5 0.8 0.5 7\n"  # four corners, then track 7
    pose_yaml = "names:\n  0: iguana\n  1: rock\nkpt_shape: [2, 3]\n"
    content = zip_bytes(
        [
            ("data.yaml", "names:\n  0: iguana\n  1: rock\n"),
            ("images/train/a.png", image(1)),
            ("labels/train/a.txt", polygon + oriented),
        ]
    )
    job = post_import(api, manager, detection, "seg.zip", content, format="yolo", labeler="cvat")
    assert job["status"] == "succeeded" and job["errors"] == [], job["errors"]
    assert answers(detection)[("images/train/a.png", "cvat")]["boxes"] == approx_boxes({"boxes": [IGUANA, ROCK]})
    # A pose (data.yaml's kpt_shape) is its box, then its keypoints: the box is the first four values.
    content = zip_bytes(
        [
            ("data.yaml", pose_yaml),
            ("images/train/b.png", image(2)),
            ("labels/train/b.txt", "0 0.5 0.5 0.2 0.4 0.45 0.35 2 0.55 0.65 1\n"),
        ]
    )
    job = post_import(api, manager, detection, "pose.zip", content, format="yolo", labeler="cvat")
    assert job["status"] == "succeeded" and job["errors"] == [], job["errors"]
    assert answers(detection)[("images/train/b.png", "cvat")]["boxes"] == approx_boxes({"boxes": [IGUANA]})


def test_roboflow_yolov8_split_folders_and_names_list(api, manager, detection):
    content = zip_bytes(
        [
            (
                "data.yaml",
                "train: ../train/images\nval: ../valid/images\ntest: ../test/images\n\nnc: 2\n"
                "names: ['iguana', 'rock']\n\nroboflow:\n  workspace: zoo\n  project: iguanas\n  version: 3\n"
                "  license: CC BY 4.0\n  url: https://universe.roboflow.com/zoo/iguanas/dataset/3\n",
            ),
            ("README.dataset.txt", "# Iguanas > 2024-05-02\n"),
            ("README.roboflow.txt", "\nIguanas - v3 2024-05-02\n==============================\n"),
            ("train/images/a_png.rf.0123456789abcdef0123456789abcdef.png", image(1)),
            ("train/labels/a_png.rf.0123456789abcdef0123456789abcdef.txt", YOLO_A),
            ("valid/images/b_png.rf.fedcba9876543210fedcba9876543210.png", image(2)),
            ("valid/labels/b_png.rf.fedcba9876543210fedcba9876543210.txt", "1 0.9 0.25 0.2 0.5\n"),
            ("test/images/c_png.rf.00000000000000000000000000000000.png", image(3)),
            ("test/labels/c_png.rf.00000000000000000000000000000000.txt", ""),
        ]
    )
    job = post_import(api, manager, detection, "Iguanas.v3i.yolov8.zip", content, format="yolo", labeler="rf")
    assert job["status"] == "succeeded" and job["errors"] == [], job["errors"]
    assert job["result"]["imported"] == 3
    got = {name.split("/")[0]: value for (name, _), value in answers(detection).items()}
    assert got["train"]["boxes"] == approx_boxes({"boxes": [IGUANA, ROCK]})
    assert got["valid"]["boxes"] == approx_boxes({"boxes": [ROCK]})
    assert got["test"] == {"boxes": []}


def test_label_studio_yolo_export_with_notes_json(api, manager, detection):
    notes = {"categories": [{"id": 0, "name": "iguana"}, {"id": 1, "name": "rock"}], "info": {"year": 2024}}
    content = zip_bytes(
        [
            ("classes.txt", "iguana\nrock\n"),
            ("notes.json", json.dumps(notes)),
            ("images/5d4a1c2e-a.png", image(1)),
            ("labels/5d4a1c2e-a.txt", "0 0.5 0.5 0.2 0.4\n1 0.9 0.25 0.2 0.5\n"),
        ]
    )
    job = post_import(api, manager, detection, "project-3-at-2024.zip", content, format="yolo", labeler="ls")
    assert job["status"] == "succeeded" and job["errors"] == [], job["errors"]
    assert answers(detection)[("images/5d4a1c2e-a.png", "ls")]["boxes"] == approx_boxes({"boxes": [IGUANA, ROCK]})


# --- COCO ----------------------------------------------------------------------------------------


def roboflow_coco(file_names, annotations):
    return json.dumps(
        {
            "info": {"year": "2024", "version": "3", "description": "Exported from roboflow.com"},
            "licenses": [{"id": 1, "url": "https://creativecommons.org/licenses/by/4.0/", "name": "CC BY 4.0"}],
            "categories": [
                {"id": 0, "name": "iguanas-Ab3d", "supercategory": "none"},
                {"id": 1, "name": "iguana", "supercategory": "iguanas-Ab3d"},
                {"id": 2, "name": "rock", "supercategory": "iguanas-Ab3d"},
            ],
            "images": [
                {"id": n, "license": 1, "file_name": name, "height": 100, "width": 200, "date_captured": "2024"}
                for n, name in enumerate(file_names)
            ],
            "annotations": annotations,
        }
    )


def rf_box(id, image_id, category_id, bbox):
    return {
        "id": id,
        "image_id": image_id,
        "category_id": category_id,
        "bbox": bbox,
        "area": bbox[2] * bbox[3],
        "segmentation": [],
        "iscrowd": 0,
    }


def cvat_coco(file_names, annotations):
    return json.dumps(
        {
            "licenses": [{"name": "", "id": 0, "url": ""}],
            "info": {"contributor": "", "date_created": "", "description": "", "url": "", "version": "", "year": ""},
            "categories": [
                {"id": 1, "name": "iguana", "supercategory": ""},
                {"id": 2, "name": "rock", "supercategory": ""},
            ],
            "images": [
                {
                    "id": n + 1,
                    "width": 200,
                    "height": 100,
                    "file_name": name,
                    "license": 0,
                    "flickr_url": "",
                    "coco_url": "",
                    "date_captured": 0,
                }
                for n, name in enumerate(file_names)
            ],
            "annotations": annotations,
        }
    )


def test_roboflow_coco_one_labels_file_per_split_folder(api, manager, detection):
    content = zip_bytes(
        [
            ("README.roboflow.txt", "\nIguanas - v3\n"),
            ("train/_annotations.coco.json", roboflow_coco(["a_png.rf.1.png"], [rf_box(0, 0, 1, [80, 30, 40, 40])])),
            ("train/a_png.rf.1.png", image(1)),
            ("valid/_annotations.coco.json", roboflow_coco(["b_png.rf.2.png"], [rf_box(0, 0, 2, [160, 0, 40, 50])])),
            ("valid/b_png.rf.2.png", image(2)),
            ("test/_annotations.coco.json", roboflow_coco(["c_png.rf.3.png"], [])),
            ("test/c_png.rf.3.png", image(3)),
        ]
    )
    job = post_import(api, manager, detection, "Iguanas.v3i.coco.zip", content, format="coco", labeler="rf")
    assert job["status"] == "succeeded" and job["errors"] == [], job["errors"]
    got = answers(detection)
    assert got[("train/a_png.rf.1.png", "rf")]["boxes"] == approx_boxes({"boxes": [IGUANA]})
    assert got[("valid/b_png.rf.2.png", "rf")]["boxes"] == approx_boxes({"boxes": [ROCK]})
    assert got[("test/c_png.rf.3.png", "rf")] == {"boxes": []}


def test_cvat_coco_with_subsets_polygons_and_crowd_masks(api, manager, detection):
    polygon = {
        "id": 1,
        "image_id": 1,
        "category_id": 1,
        "segmentation": [[80.0, 30.0, 120.0, 30.0, 120.0, 70.0, 80.0, 70.0]],
        "area": 1600.0,
        "bbox": [80.0, 30.0, 40.0, 40.0],
        "iscrowd": 0,
        "attributes": {"occluded": False},
    }
    mask = {
        "id": 2,
        "image_id": 1,
        "category_id": 2,
        "segmentation": {"counts": [16000, 5000, 0], "size": [100, 200]},
        "area": 5000.0,
        "bbox": [160.0, 0.0, 40.0, 50.0],
        "iscrowd": 1,
        "attributes": {"occluded": False},
    }
    content = zip_bytes(
        [
            ("annotations/instances_train.json", cvat_coco(["a.png"], [polygon, mask])),
            ("annotations/instances_val.json", cvat_coco(["a.png"], [])),
            ("images/train/a.png", image(1)),
            ("images/val/a.png", image(2)),  # another image of the same name in the other subset
        ]
    )
    job = post_import(api, manager, detection, "task_2-coco.zip", content, format="coco", labeler="cvat")
    assert job["status"] == "succeeded" and job["errors"] == [], job["errors"]
    got = answers(detection)
    assert got[("images/train/a.png", "cvat")]["boxes"] == approx_boxes({"boxes": [IGUANA, ROCK]})
    assert got[("images/val/a.png", "cvat")] == {"boxes": []}


def test_a_coco_crowd_region_is_the_box_around_it_without_a_flag(api, manager, flagged):
    """``iscrowd`` 1 does not say the region is a crowd: CVAT (Datumaro) writes every mask so, one object drawn as
    a mask, beside COCO's own crowds ("a group of people", whose evaluation ignores it). The file cannot tell
    them apart, so both are the box around the region (``bbox``), without a flag, even where the project has
    borderline and uncertain; a LabelHub COCO export writes every box with ``iscrowd`` 0."""
    crowd = {
        "id": 900100,
        "image_id": 1,
        "category_id": 2,
        "segmentation": {"counts": "Yj0a0S1d0L4M3N2N2O1O1N2O001O0000O1O1N2N2M3K5Jb0^Oj0]O", "size": [100, 200]},
        "area": 2000.0,
        "bbox": [160.0, 0.0, 40.0, 50.0],
        "iscrowd": 1,
    }
    data = {
        "images": [{"id": 1, "file_name": "a.png", "width": 200, "height": 100}],
        "categories": [{"id": 1, "name": "iguana", "supercategory": "animal"}, {"id": 2, "name": "rock"}],
        "annotations": [rf_box(1, 1, 1, [80, 30, 40, 40]), crowd],
    }
    content = zip_bytes([("instances_val2017.json", json.dumps(data)), ("a.png", image(1))])
    job = post_import(api, manager, flagged, "coco.zip", content, format="coco", labeler="coco")
    assert job["status"] == "succeeded" and job["errors"] == [], job["errors"]
    assert answers(flagged)[("a.png", "coco")] == {"boxes": approx_boxes({"boxes": [IGUANA, ROCK]})}


def cvat_coco_box(id, image_id, category_id, bbox, **attributes):
    """An annotation as CVAT's COCO 1.0 export writes a box: its checkbox attributes under ``attributes``."""
    return {**rf_box(id, image_id, category_id, bbox), "attributes": {"occluded": False, **attributes}}


def test_cvat_coco_attributes_difficult_borderline_and_uncertain_flag_the_box_occluded_does_not(api, manager, flagged):
    """CVAT's COCO 1.0 export writes a label's checkbox attributes under each annotation's ``attributes``
    (``"difficult": true``): the box went in plain, its mark lost, where the same task exported as CVAT XML or
    Pascal VOC gave a borderline box. ``difficult`` or ``borderline`` set makes it borderline, ``uncertain``
    uncertain; ``occluded`` and other attributes are not read."""
    coco = cvat_coco(
        ["a.png", "b.png", "c.png"],
        [
            cvat_coco_box(1, 1, 1, [80, 30, 40, 40], difficult=True, pose="up"),
            cvat_coco_box(2, 1, 2, [160, 0, 40, 50], uncertain=True),
            cvat_coco_box(3, 2, 1, [80, 30, 40, 40], occluded=True, difficult=False, borderline=False),
            cvat_coco_box(4, 3, 1, [80, 30, 40, 40], Borderline="true"),
        ],
    )
    content = zip_bytes(
        [("annotations/instances_default.json", coco)] + [(f"images/{n}.png", image(i)) for i, n in enumerate("abc")]
    )
    job = post_import(api, manager, flagged, "task_3-coco.zip", content, format="coco", labeler="cvat")
    assert job["status"] == "succeeded" and job["errors"] == [], job["errors"]
    got = answers(flagged)
    assert got[("images/a.png", "cvat")]["boxes"] == approx_boxes(
        {"boxes": [{**IGUANA, "borderline": True}, {**ROCK, "uncertain": True}]}
    )
    assert got[("images/b.png", "cvat")]["boxes"] == approx_boxes({"boxes": [IGUANA]})
    assert got[("images/c.png", "cvat")]["boxes"] == approx_boxes({"boxes": [{**IGUANA, "borderline": True}]})


def test_cvat_coco_flags_a_project_has_no_option_for_go_in_plain_saying_so(api, manager, detection):
    coco = cvat_coco(
        ["a.png", "b.png"],
        [
            cvat_coco_box(1, 1, 1, [80, 30, 40, 40], difficult=True),
            cvat_coco_box(2, 1, 2, [160, 0, 40, 50], uncertain=True),
            cvat_coco_box(3, 2, 1, [80, 30, 40, 40], borderline=True),
        ],
    )
    content = zip_bytes(
        [("annotations/instances_default.json", coco)] + [(f"images/{n}.png", image(i)) for i, n in enumerate("ab")]
    )
    job = post_import(api, manager, detection, "task_3-coco.zip", content, format="coco", labeler="cvat")
    assert job["status"] == "succeeded"
    advice = "turn it on in the project's settings and import again to keep it"
    first = "annotations/instances_default.json image 1 (a.png)"
    assert job["errors"] == [
        {
            "name": first,
            "reason": "2 boxes a COCO attribute marks difficult or borderline (the first here) went in without the "
            f"borderline flag: this project has no borderline option; {advice}",
        },
        {
            "name": first,
            "reason": "1 box a COCO attribute marks uncertain (the first here) went in without the uncertain flag: "
            f"this project has no uncertain option; {advice}",
        },
    ]
    got = answers(detection)
    assert got[("images/a.png", "cvat")]["boxes"] == approx_boxes({"boxes": [IGUANA, ROCK]})
    assert got[("images/b.png", "cvat")]["boxes"] == approx_boxes({"boxes": [IGUANA]})


def test_label_studio_coco_categories_and_image_ids_from_zero(api, manager, detection):
    data = {
        "images": [{"width": 200, "height": 100, "id": 0, "file_name": "images/5d4a1c2e-a.png"}],
        "categories": [{"id": 0, "name": "Iguana"}, {"id": 1, "name": "Rock"}],
        "annotations": [
            {
                "id": 0,
                "image_id": 0,
                "category_id": 0,
                "segmentation": [],
                "bbox": [80, 30, 40, 40],
                "ignore": 0,
                "iscrowd": 0,
                "area": 1600,
            },
            {
                "id": 1,
                "image_id": 0,
                "category_id": 1,
                "segmentation": [],
                "bbox": [160, 0, 40, 50],
                "ignore": 0,
                "iscrowd": 0,
                "area": 2000,
            },
        ],
        "info": {"year": 2024, "version": "1.0", "description": "", "contributor": "Label Studio", "url": ""},
    }
    content = zip_bytes([("result.json", json.dumps(data)), ("images/5d4a1c2e-a.png", image(1))])
    job = post_import(api, manager, detection, "project-3-coco.zip", content, format="coco", labeler="ls")
    assert job["status"] == "succeeded" and job["errors"] == [], job["errors"]
    assert answers(detection)[("images/5d4a1c2e-a.png", "ls")]["boxes"] == approx_boxes({"boxes": [IGUANA, ROCK]})


def test_label_studio_coco_and_yolo_without_their_images_find_the_original_files(api, manager, detection):
    # Label Studio names an upload "<8 hex>-<name>"; the team imported the original files.
    import_images(detection, ["a.png", "b.png"])
    coco = {
        "images": [{"width": 200, "height": 100, "id": 0, "file_name": "images/5d4a1c2e-a.png"}],
        "categories": [{"id": 0, "name": "Iguana"}, {"id": 1, "name": "Rock"}],
        "annotations": [{"id": 0, "image_id": 0, "category_id": 0, "bbox": [80, 30, 40, 40], "iscrowd": 0}],
    }
    job = post_import(api, manager, detection, "result.json", json.dumps(coco).encode(), format="coco", labeler="ls")
    assert job["status"] == "succeeded" and job["errors"] == [], job["errors"]
    notes = {"categories": [{"id": 0, "name": "Iguana"}, {"id": 1, "name": "Rock"}]}
    content = zip_bytes(
        [("classes.txt", "Iguana\nRock\n"), ("notes.json", json.dumps(notes)), ("labels/0a0b0c0d-b.txt", YOLO_A)]
    )
    job = post_import(api, manager, detection, "yolo.zip", content, format="yolo", labeler="ls")
    assert job["status"] == "succeeded" and job["errors"] == [], job["errors"]
    got = answers(detection)
    assert got[("a.png", "ls")]["boxes"] == approx_boxes({"boxes": [IGUANA]})
    assert got[("b.png", "ls")]["boxes"] == approx_boxes({"boxes": [IGUANA, ROCK]})


def test_a_label_studio_coco_task_nobody_labeled_is_not_imported_and_says_why(api, manager, detection):
    # Its export, images not with it, lists an unlabeled task's image without a size (it could not open it).
    import_images(detection, ["a.png", "b.png"])
    coco = {
        "images": [
            {"width": 200, "height": 100, "id": 0, "file_name": "images/5d4a1c2e-a.png"},
            {"width": None, "height": None, "id": 1, "file_name": "images/0a0b0c0d-b.png"},
        ],
        "categories": [{"id": 0, "name": "Iguana"}, {"id": 1, "name": "Rock"}],
        "annotations": [{"id": 0, "image_id": 0, "category_id": 0, "bbox": [80, 30, 40, 40], "iscrowd": 0}],
    }
    job = post_import(api, manager, detection, "result.json", json.dumps(coco).encode(), format="coco", labeler="ls")
    assert job["status"] == "succeeded"
    [error] = job["errors"]
    assert error["name"] == "result.json image 1 (images/0a0b0c0d-b.png)"
    assert "declares no width and height" in error["reason"] and "nobody labeled" in error["reason"]
    assert set(answers(detection)) == {("a.png", "ls")}


def test_with_unanswered_a_label_studio_coco_task_nobody_labeled_is_left_for_the_labelers(api, manager, detection):
    """With images_without_boxes=unanswered, the sizeless image Label Studio's COCO export lists for a task nobody
    labeled was still refused ("declares no width and height"): it is one more image without boxes, its item
    found or made and left unanswered. One with boxes still has no frame for them and is refused."""
    import_images(detection, ["a.png", "b.png"])
    coco = {
        "images": [
            {"width": 200, "height": 100, "id": 0, "file_name": "images/5d4a1c2e-a.png"},
            {"width": None, "height": None, "id": 1, "file_name": "images/0a0b0c0d-b.png"},
            {"id": 2, "file_name": "c.png"},
            {"id": 3, "file_name": "d.png"},
        ],
        "categories": [{"id": 0, "name": "Iguana"}, {"id": 1, "name": "Rock"}],
        "annotations": [
            {"id": 0, "image_id": 0, "category_id": 0, "bbox": [80, 30, 40, 40], "iscrowd": 0},
            {"id": 1, "image_id": 3, "category_id": 0, "bbox": [80, 30, 40, 40], "iscrowd": 0},
        ],
    }
    content = zip_bytes([("result.json", json.dumps(coco)), ("c.png", image(3)), ("d.png", image(4))])
    job = post_import(
        api, manager, detection, "ls.zip", content, format="coco", labeler="ls", images_without_boxes="unanswered"
    )
    assert job["status"] == "succeeded"
    [error] = job["errors"]
    assert error["name"] == "result.json image 3 (d.png)" and "declares no width and height" in error["reason"]
    assert set(answers(detection)) == {("a.png", "ls")}
    assert sorted(i.original_name for i in detection.items.all()) == ["a.png", "b.png", "c.png"]


def test_a_coco_file_name_written_on_windows_finds_the_item(api, manager, detection):
    import_images(detection, ["site 1/a.png", "site 2/a.png"])
    data = json.loads(cvat_coco(["site 2\\a.png"], [rf_box(1, 1, 1, [80, 30, 40, 40])]))
    job = post_import(api, manager, detection, "instances.json", json.dumps(data).encode(), format="coco", labeler="w")
    assert job["status"] == "succeeded" and job["errors"] == [], job["errors"]
    assert answers(detection) == {("site 2/a.png", "w"): {"boxes": approx_boxes({"boxes": [IGUANA]})}}


# --- names in Unicode: macOS writes them decomposed (NFD) --------------------------------------------

CAFE_NFC = unicodedata.normalize("NFC", "café/crème brûlée.png")
CAFE_NFD = unicodedata.normalize("NFD", "café/crème brûlée.png")


def test_a_zip_made_on_macos_holds_decomposed_names_a_coco_file_writes_composed(api, manager, detection):
    assert CAFE_NFC != CAFE_NFD
    content = zip_bytes(
        [
            ("instances.json", cvat_coco([CAFE_NFC], [rf_box(1, 1, 1, [80, 30, 40, 40])])),
            (CAFE_NFD, image(1)),
        ]
    )
    job = post_import(api, manager, detection, "coco.zip", content, format="coco", labeler="mac")
    assert job["status"] == "succeeded" and job["errors"] == [], job["errors"]
    [(name, _)] = answers(detection)
    assert unicodedata.normalize("NFC", name) == CAFE_NFC


def test_items_imported_from_a_macos_zip_take_labels_naming_them_composed(api, manager, detection):
    import_images(detection, [CAFE_NFD])  # the zip's name, as the item import keeps it
    export = [
        {
            "id": 1,
            "data": {"image": f"/data/upload/3/5d4a1c2e-{CAFE_NFC.split('/')[1]}"},
            "annotations": [{"id": 1, "completed_by": 7, "result": [], "was_cancelled": False}],
        }
    ]
    job = post_import(api, manager, detection, "export.json", json.dumps(export).encode(), format="label_studio")
    assert job["status"] == "succeeded" and job["errors"] == [], job["errors"]
    data = json.loads(cvat_coco([CAFE_NFC], [rf_box(1, 1, 1, [80, 30, 40, 40])]))
    job = post_import(api, manager, detection, "c.json", json.dumps(data).encode(), format="coco", labeler="w")
    assert job["status"] == "succeeded" and job["errors"] == [], job["errors"]
    assert answers(detection) == {
        (CAFE_NFD, "label-studio-7"): {"boxes": []},
        (CAFE_NFD, "w"): {"boxes": approx_boxes({"boxes": [IGUANA]})},
    }


def test_a_yolo_zip_whose_labels_and_images_differ_in_normalization(api, manager, detection):
    content = zip_bytes(
        [
            ("classes.txt", "iguana\nrock\n"),
            ("images/" + unicodedata.normalize("NFD", "pequeña.png"), image(1)),
            ("labels/" + unicodedata.normalize("NFC", "pequeña.txt"), YOLO_A),
        ]
    )
    job = post_import(api, manager, detection, "yolo.zip", content, format="yolo", labeler="mac")
    assert job["status"] == "succeeded" and job["errors"] == [], job["errors"]
    [value] = answers(detection).values()
    assert value["boxes"] == approx_boxes({"boxes": [IGUANA, ROCK]})


# --- Label Studio JSON-MIN -----------------------------------------------------------------------


def min_box(x, y, w, h, label):
    return {
        "x": x,
        "y": y,
        "width": w,
        "height": h,
        "rotation": 0,
        "rectanglelabels": [label],
        "original_width": 200,
        "original_height": 100,
    }


def min_record(task_id, data, annotator, annotation_id, **results):
    return {
        **data,
        "id": task_id,
        **results,
        "annotator": annotator,
        "annotation_id": annotation_id,
        "created_at": "2024-05-02T10:00:00.000000Z",
        "updated_at": "2024-05-02T10:00:00.000000Z",
        "lead_time": 12.5,
    }


def test_label_studio_json_min_boxes_by_two_annotators(api, manager, detection):
    import_images(detection, ["a.png", "b.png"])
    image_a = {"image": "/data/upload/3/5d4a1c2e-a.png"}
    export = [
        min_record(1, image_a, "lea@example.com", 101, label=[min_box(40, 30, 20, 40, "Iguana")]),
        min_record(1, image_a, "sam@example.com", 102, label=[min_box(80, 0, 20, 50, "Rock")]),
        min_record(2, {"image": "/data/upload/3/0a0b0c0d-b.png"}, 4, 103),  # submitted with no box
    ]
    job = post_import(api, manager, detection, "project-3-min.json", json.dumps(export).encode(), format="label_studio")
    assert job["status"] == "succeeded" and job["errors"] == [], job["errors"]
    assert job["result"]["answers"]["created"] == 3
    got = answers(detection)
    assert got[("a.png", "lea@example.com")]["boxes"] == approx_boxes({"boxes": [IGUANA]})
    assert got[("a.png", "sam@example.com")]["boxes"] == approx_boxes({"boxes": [ROCK]})
    assert got[("b.png", "label-studio-4")] == {"boxes": []}


def test_a_json_min_export_is_read_in_less_memory_than_its_own_size(manager, detection):
    """Label Studio's JSON-MIN export was read whole (json.loads), as large as its JSON export and several times
    its size in Python objects. Its records are streamed now, a task's records (one after another, as Label
    Studio writes them) grouped and let go; records of one task apart are still grouped (read whole)."""
    import_images(detection, ["a.png"])
    outline = [[10.25 + n % 50, 20.75 + n % 30] for n in range(120)]
    polygon = {"points": outline, "closed": True, "polygonlabels": ["Iguana"], "original_width": 200,
               "original_height": 100}  # fmt: skip
    image_a = {"image": "/data/upload/3/5d4a1c2e-a.png"}
    export = [min_record(n, image_a, "lea@example.com", 100 + n, label=[polygon] * 3) for n in range(1, 401)]
    export.insert(1, min_record(1, image_a, "sam@example.com", 99, label=[polygon]))
    content = json.dumps(export).encode()
    parsed = parsed_within_its_size(content, project=detection, fmt="label_studio", filename="m.json")
    assert len(parsed.tasks) == 400 and [t.error for t in parsed.tasks] == [""] * 400
    first = [(parsed.annotators[a.annotator].email, a.where, a.seconds) for a in parsed.tasks[0].answers]
    assert first == [
        ("lea@example.com", "annotation 101 by lea@example.com", 12.5),
        ("sam@example.com", "annotation 99 by sam@example.com", 12.5),
    ]
    box = {"x": 0.1025, "y": 0.2075, "w": 0.49, "h": 0.29, "label": "iguana"}
    assert approx_boxes(parsed.tasks[0].answers[1].value) == approx_boxes({"boxes": [box]})
    apart = [export[0], export[2], export[1]]  # task 1, task 2, task 1 again
    parsed = labels_parse(
        project=detection, fmt="label_studio", handle=io.BytesIO(json.dumps(apart).encode()), filename="m.json"
    )
    assert [[parsed.annotators[a.annotator].email for a in t.answers] for t in parsed.tasks] == [
        ["lea@example.com", "sam@example.com"],
        ["lea@example.com"],
    ]


@pytest.mark.parametrize("named", [None, "lea"])
def test_a_json_min_export_of_all_tasks_leaves_the_unannotated_ones_unanswered(api, manager, detection, named):
    """Exported with "all tasks", a task nobody annotated is a record whose annotation and annotator are
    null: it was refused ("names no annotator"), or with ``labeler`` became that labeler's "nothing here"."""
    import_images(detection, ["a.png", "b.png"])
    export = [
        min_record(
            1,
            {"image": "/data/upload/3/5d4a1c2e-a.png"},
            "lea@example.com",
            101,
            label=[min_box(40, 30, 20, 40, "Iguana")],
        ),
        min_record(2, {"image": "/data/upload/3/0a0b0c0d-b.png"}, None, None),
    ]
    extra = {"labeler": named} if named else {}
    body = json.dumps(export).encode()
    job = post_import(api, manager, detection, "all-tasks-min.json", body, format="label_studio", **extra)
    assert job["status"] == "succeeded" and job["errors"] == [], job["errors"]
    assert job["result"]["answers"]["created"] == 1
    assert [name for name, _ in answers(detection)] == ["a.png"]


def test_label_studio_json_min_choices_on_texts(api, manager):
    project = make_project(
        manager, name="Moods", modality="text", classes=[{"key": "pos", "name": "Positive"}, {"key": "neg"}]
    )
    export = [
        min_record(1, {"text": "What a lovely day", "source": "forum"}, 1, 11, sentiment="Positive"),
        min_record(2, {"text": "Dreadful", "source": "forum"}, 1, 12, sentiment="neg"),
        min_record(3, {"text": "Hmm", "source": "forum"}, 1, 13, sentiment="Perhaps"),
    ]
    job = post_import(api, manager, project, "min.json", json.dumps(export).encode(), format="label_studio")
    assert job["status"] == "succeeded", job
    assert [(e["name"], e["reason"]) for e in job["errors"]] == [
        (
            "min.json task 3",
            'annotation 13 by label-studio-1, result sentiment: unknown class "Perhaps" '
            "(the project's classes: neg, pos)",
        )
    ]
    assert answers(project) == {("task 1", "label-studio-1"): "pos", ("task 2", "label-studio-1"): "neg"}


def test_label_studio_json_min_transcripts_and_a_file_that_cannot_say_which_field_is_one(api, manager):
    project = make_project(manager, name="Speech", modality="audio", task_type="transcription")
    items_import(project=project, entries=[ImportEntry(name="clip-7.wav", load=lambda: wav_bytes(seconds=1.0))])
    record = min_record(1, {"audio": "s3://bucket/calls/clip-7.wav"}, "tx@x.org", 5, transcription="lights on")
    job = post_import(api, manager, project, "min.json", json.dumps([record]).encode(), format="label_studio")
    assert job["status"] == "succeeded" and job["errors"] == [], job["errors"]
    assert answers(project) == {("clip-7.wav", "tx@x.org"): "lights on"}
    # A data field beside it is a plain string too: which one is the transcript is not said, so nothing goes in.
    record = {**record, "speaker": "caller", "transcription": "lights off"}
    job = post_import(api, manager, project, "min.json", json.dumps([record]).encode(), format="label_studio")
    assert job["status"] == "failed"
    assert "2 fields hold one (speaker, transcription)" in job["errors"][-1]["reason"]
    assert answers(project) == {("clip-7.wav", "tx@x.org"): "lights on"}


def test_a_json_min_export_whose_choices_name_none_of_the_classes_is_refused_not_imported_unanswered(api, manager):
    # Label Studio's choices were "Good" and "Bad"; the project's classes are pos and neg.
    project = make_project(manager, name="Moods", modality="text", classes=[{"key": "pos"}, {"key": "neg"}])
    export = [min_record(n, {"text": f"review {n}"}, 1, n, sentiment="Good") for n in (1, 2)]
    job = post_import(api, manager, project, "min.json", json.dumps(export).encode(), format="label_studio")
    assert job["status"] == "failed"
    assert (
        "no field of this JSON-MIN export holds one of the project's classes (neg, pos)" in job["errors"][-1]["reason"]
    )
    assert "sentiment" in job["errors"][-1]["reason"]
    assert not project.items.exists()


def ls_region(kind, id, value):
    return {
        "original_width": 200,
        "original_height": 100,
        "image_rotation": 0,
        "value": value,
        "id": id,
        "from_name": "label",
        "to_name": "image",
        "type": kind,
        "origin": "manual",
    }


def test_label_studio_polygons_become_boxes_and_masks_are_refused_not_taken_for_nothing_here(api, manager, detection):
    import_images(detection, ["a.png", "b.png"])
    outline = [[40, 30], [60, 30], [60, 70], [50, 70], [40, 50]]  # percent: the iguana's box
    polygon = ls_region("polygonlabels", "p1", {"points": outline, "closed": True, "polygonlabels": ["Iguana"]})
    mask = ls_region("brushlabels", "m1", {"format": "rle", "rle": [0, 1, 2], "brushlabels": ["Rock"]})
    quality = {
        "value": {"choices": ["sharp"]},
        "id": "q",
        "from_name": "quality",
        "to_name": "image",
        "type": "choices",
    }

    def task(id, name, results):
        annotation = {"id": 100 + id, "completed_by": {"id": 1, "email": "lea@example.com"}, "result": results}
        return {"id": id, "data": {"image": f"/data/upload/3/5d4a1c2e-{name}"}, "annotations": [annotation]}

    # Boxes with keypoints in them (a face and its landmarks): the boxes go in, the points are left out.
    point = ls_region("keypointlabels", "k1", {"x": 45, "y": 40, "width": 0.5, "keypointlabels": ["Iguana"]})
    export = [task(1, "a.png", [polygon, quality, point]), task(2, "b.png", [mask])]
    job = post_import(api, manager, detection, "export.json", json.dumps(export).encode(), format="label_studio")
    assert job["status"] == "succeeded"
    assert [(e["name"], e["reason"]) for e in job["errors"]] == [
        (
            "export.json task 2",
            "annotation 102 by lea@example.com, result m1: a brushlabels region is not imported: "
            "a detection project takes rectanglelabels and polygonlabels (as their boxes)",
        )
    ]
    assert answers(detection) == {("a.png", "lea@example.com"): {"boxes": approx_boxes({"boxes": [IGUANA]})}}


# --- Hugging Face imagefolder / audiofolder --------------------------------------------------------


def test_a_hugging_face_imagefolder_with_metadata_per_split(api, manager):
    project = make_project(manager, name="Iguana photos", classes=CLASSES)
    content = zip_bytes(
        [
            ("train/metadata.csv", "file_name,label,photographer\nimg/0001.png,iguana,ana\n0002.png,rock,bo\n"),
            ("train/img/0001.png", image(1)),
            ("train/0002.png", image(2)),
            ("test/metadata.jsonl", '{"file_name": "0003.png", "label": "iguana", "sizes": [3, 4]}\n'),
            ("test/0003.png", image(3)),
            ("test/0004.png", image(4)),  # listed nowhere: an item without label or metadata
        ]
    )
    job = post_import(api, manager, project, "iguanas.zip", content)
    assert job["status"] == "succeeded" and job["errors"] == [], job["errors"]
    items = {i.original_name: (i.label, i.metadata) for i in project.items.all()}
    assert items == {
        "train/img/0001.png": ("iguana", {"photographer": "ana"}),
        "train/0002.png": ("rock", {"photographer": "bo"}),
        "test/0003.png": ("iguana", {"sizes": [3, 4]}),
        "test/0004.png": ("", {}),
    }


def test_a_hugging_face_audiofolder_keeps_its_transcripts_and_names_a_missing_file(api, manager):
    project = make_project(manager, name="Speech", modality="audio", task_type="transcription")
    content = zip_bytes(
        [
            ("data/metadata.csv", "file_name,transcription\nq1.wav,turn left\nq9.wav,stop\n"),
            ("data/q1.wav", wav_bytes(seconds=0.5)),
        ]
    )
    job = post_import(api, manager, project, "speech.zip", content)
    assert job["status"] == "succeeded"
    assert [(e["name"], e["reason"]) for e in job["errors"]] == [
        ("data/metadata.csv line 3", "'q9.wav' is not in the archive (beside data/metadata.csv)")
    ]
    assert [(i.original_name, i.metadata) for i in project.items.all()] == [
        ("data/q1.wav", {"transcription": "turn left"})
    ]


def test_a_zip_made_on_macos_with_a_manifest_typed_elsewhere(api, manager):
    project = make_project(manager, name="Iguana photos", classes=CLASSES)
    manifest = f"path,label\n{CAFE_NFC},iguana\n"
    content = zip_bytes([("manifest.csv", manifest), (CAFE_NFD, image(1))])
    job = post_import(api, manager, project, "photos.zip", content)
    assert job["status"] == "succeeded" and job["errors"] == [], job["errors"]
    assert [i.label for i in project.items.all()] == ["iguana"]


def test_the_import_page_names_what_other_tools_write(client, manager, detection):
    client.force_login(manager)
    page = client.get(f"/projects/{detection.pk}/import/").content.decode()
    assert "Label Studio JSON or JSON-MIN export" in page and "<code>metadata.csv</code>" in page
    assert "Ultralytics, Roboflow, CVAT, Label Studio" in page


def test_an_ultralytics_classification_dataset_split_then_class_folders(api, manager):
    # Ultralytics' (and torchvision's, and CVAT's "Ultralytics YOLO Classification") layout: split/class/file.
    project = make_project(manager, name="Iguana photos", classes=CLASSES)
    content = zip_bytes(
        [("train/iguana/a.png", image(1)), ("train/rock/b.png", image(2)), ("val/iguana/c.png", image(3))]
    )
    job = post_import(api, manager, project, "classify.zip", content, label_from_folder="true")
    assert job["status"] == "succeeded" and job["errors"] == [], job["errors"]
    assert sorted((i.original_name, i.label) for i in project.items.all()) == [
        ("train/iguana/a.png", "iguana"),
        ("train/rock/b.png", "rock"),
        ("val/iguana/c.png", "iguana"),
    ]


def test_a_versions_audiofolder_goes_into_a_new_project_with_its_labels(api, manager):
    """LabelHub's own audiofolder (``split/metadata.csv``: file_name, label, item, sha256) is one of these."""
    classes = [{"key": "yes"}, {"key": "no"}]
    project = make_project(manager, name="Answers", modality="audio", classes=classes)
    report = items_import(
        project=project,
        entries=[ImportEntry(name=f"{i}.wav", load=lambda i=i: wav_bytes(freq=300 + 40 * i)) for i in range(2)],
    )
    (a,) = labelers(project, 1)
    for pk, key in zip(report.imported, ["yes", "no"], strict=True):
        answer(Item.objects.get(pk=pk), a, key)
    version = build(project, manager, {"splits": {"train": 1.0}})
    content = default_storage.open(version.artifacts.get(format="audiofolder").name).read()

    other = make_project(manager, name="Answers again", modality="audio", classes=classes)
    job = post_import(api, manager, other, "audiofolder.zip", content)
    assert job["status"] == "succeeded" and job["errors"] == [], job["errors"]
    got = sorted((i.label, i.metadata["item"]) for i in other.items.all())
    assert got == sorted([("yes", str(report.imported[0])), ("no", str(report.imported[1]))])


def test_the_import_command_reads_a_hugging_face_folder_on_disk(manager, tmp_path):
    project = make_project(manager, name="Iguana photos", classes=CLASSES)
    (tmp_path / "train" / "img").mkdir(parents=True)
    (tmp_path / "train" / "metadata.jsonl").write_text('{"file_name": "img/0001.png", "label": "rock", "by": "ana"}\n')
    (tmp_path / "train" / "img" / "0001.png").write_bytes(image(1))
    out = io.StringIO()
    call_command("import_items", str(project.pk), str(tmp_path), stdout=out, stderr=io.StringIO())
    assert "1 imported, 0 duplicates, 0 rejected" in out.getvalue()
    assert [(i.original_name, i.label, i.metadata) for i in project.items.all()] == [
        ("train/img/0001.png", "rock", {"by": "ana"})
    ]


def test_a_metadata_csv_that_names_no_files_is_one_refusal_not_one_per_line(api, manager):
    project = make_project(manager, name="Iguana photos", classes=CLASSES)
    notes = "site,date\n" + "".join(f"bay {n},2024-05-0{n}\n" for n in range(1, 6))
    content = zip_bytes([("metadata.csv", notes), ("a.png", image(1))])
    job = post_import(api, manager, project, "photos.zip", content)
    assert job["status"] == "succeeded" and job["result"]["imported"] == 1
    assert job["errors"] == [
        {"name": "metadata.csv", "reason": "no line names a file in 'file_name': not Hugging Face metadata"}
    ]


# --- CVAT for images 1.1 -------------------------------------------------------------------------


def cvat_xml(images, tracks="", labels=("iguana", "rock")):
    """CVAT's "CVAT for images 1.1" ``annotations.xml`` (cvat/apps/dataset_manager/formats/cvat.py): its
    version, the task's meta with its labels, then each frame as an ``<image>`` with its shapes and tags
    (every frame, shapes or not), ``source``, ``occluded`` and ``z_order`` on each shape, attributes as
    children; the video variant writes ``<track>`` elements instead."""
    meta_labels = "".join(
        f"<label><name>{name}</name><color>#fa3253</color><type>any</type><attributes>"
        "<attribute><name>pose</name><mutable>False</mutable><input_type>select</input_type>"
        "<default_value>up</default_value><values>up\ndown</values></attribute></attributes></label>"
        for name in labels
    )
    return (
        '<?xml version="1.0" encoding="utf-8"?>\n<annotations>\n  <version>1.1</version>\n  <meta>\n'
        "    <task><id>7</id><name>iguanas</name><size>2</size><mode>annotation</mode><overlap>0</overlap>"
        "<bugtracker></bugtracker><created>2024-05-02 10:00:00.000000+00:00</created>"
        "<updated>2024-05-02 11:00:00.000000+00:00</updated><subset>default</subset>"
        "<start_frame>0</start_frame><stop_frame>1</stop_frame><frame_filter></frame_filter>"
        f"<segments><segment><id>9</id><start>0</start><stop>1</stop><url>http://localhost:8080/api/jobs/9</url>"
        f"</segment></segments><owner><username>ana</username><email>ana@x.org</email></owner><assignee></assignee>"
        f"<labels>{meta_labels}</labels></task>\n"
        "    <dumped>2024-05-02 11:05:00.000000+00:00</dumped>\n  </meta>\n"
        f"{images}{tracks}</annotations>\n"
    )


def cvat_image(id, name, shapes="", width=200, height=100):
    return f'  <image id="{id}" name="{name}" width="{width}" height="{height}">\n{shapes}  </image>\n'


CVAT_BOX = (
    '    <box label="iguana" source="manual" occluded="0" xtl="80.00" ytl="30.00" xbr="120.00" ybr="70.00" '
    'z_order="0">\n      <attribute name="pose">up</attribute>\n    </box>\n'
)
CVAT_POLYGON = (
    '    <polygon label="rock" source="manual" occluded="1" points="160.00,0.00;200.00,10.00;190.00,50.00" '
    'z_order="1">\n    </polygon>\n'
)


def test_cvat_for_images_zip_boxes_and_polygons_with_images_in_subfolders(api, manager, detection):
    xml = cvat_xml(cvat_image(0, "site1/a.png", CVAT_BOX + CVAT_POLYGON) + cvat_image(1, "site2/b.png"))
    content = zip_bytes([("annotations.xml", xml), ("images/site1/a.png", image(1)), ("images/site2/b.png", image(2))])
    job = post_import(api, manager, detection, "task_7-cvat.zip", content, format="cvat", labeler="cvat")
    assert job["status"] == "succeeded" and job["errors"] == [], job["errors"]
    got = answers(detection)
    assert set(got) == {("images/site1/a.png", "cvat"), ("images/site2/b.png", "cvat")}
    assert got[("images/site1/a.png", "cvat")]["boxes"] == approx_boxes({"boxes": [IGUANA, ROCK]})
    assert got[("images/site2/b.png", "cvat")] == {"boxes": []}


def cvat_attributes(**values):
    return "".join(f'      <attribute name="{name}">{value}</attribute>\n' for name, value in values.items())


def cvat_shape(shape, attributes):
    """``shape`` (CVAT_BOX or CVAT_POLYGON) with these attribute children instead of its own."""
    head = shape.split(">\n", 1)[0] + ">\n"
    return head + attributes + f"    </{'box' if shape.startswith('    <box') else 'polygon'}>\n"


def test_cvat_attributes_difficult_borderline_and_uncertain_flag_the_box_occluded_does_not(api, manager, flagged):
    """A CVAT task may give its labels a checkbox attribute ``difficult`` (what CVAT's Pascal VOC export writes as
    ``<difficult>``), ``borderline`` or ``uncertain``; CVAT writes a checkbox ``true`` or ``false``. Set, it is the
    box's flag; ``occluded`` (partly hidden, but clearly what it is) and other attributes are not read."""
    import_images(flagged, ["a.png", "b.png", "c.png"])
    xml = cvat_xml(
        cvat_image(0, "a.png", cvat_shape(CVAT_BOX, cvat_attributes(pose="up", difficult="true"))
                   + cvat_shape(CVAT_POLYGON, cvat_attributes(uncertain="true")))
        + cvat_image(1, "b.png", cvat_shape(CVAT_BOX.replace('occluded="0"', 'occluded="1"'),
                                            cvat_attributes(borderline="false", difficult="false")))
        + cvat_image(2, "c.png", cvat_shape(CVAT_BOX, cvat_attributes(Borderline="true")))
    )  # fmt: skip
    job = post_import(api, manager, flagged, "annotations.xml", xml.encode(), format="cvat", labeler="cvat")
    assert job["status"] == "succeeded" and job["errors"] == [], job["errors"]
    got = answers(flagged)
    assert got[("a.png", "cvat")]["boxes"] == approx_boxes(
        {"boxes": [{**IGUANA, "borderline": True}, {**ROCK, "uncertain": True}]}
    )
    assert got[("b.png", "cvat")]["boxes"] == approx_boxes({"boxes": [IGUANA]})
    assert got[("c.png", "cvat")]["boxes"] == approx_boxes({"boxes": [{**IGUANA, "borderline": True}]})


def test_cvat_flags_a_project_has_no_option_for_go_in_plain_saying_so(api, manager, detection):
    import_images(detection, ["a.png", "b.png"])
    xml = cvat_xml(
        cvat_image(0, "a.png", cvat_shape(CVAT_BOX, cvat_attributes(difficult="true"))
                   + cvat_shape(CVAT_POLYGON, cvat_attributes(uncertain="true")))
        + cvat_image(1, "b.png", cvat_shape(CVAT_BOX, cvat_attributes(borderline="true")))
    )  # fmt: skip
    job = post_import(api, manager, detection, "annotations.xml", xml.encode(), format="cvat", labeler="cvat")
    assert job["status"] == "succeeded"
    advice = "turn it on in the project's settings and import again to keep it"
    assert job["errors"] == [
        {
            "name": "annotations.xml image 0 (a.png)",
            "reason": "2 boxes a CVAT attribute marks difficult or borderline (the first here) went in without the "
            f"borderline flag: this project has no borderline option; {advice}",
        },
        {
            "name": "annotations.xml image 0 (a.png)",
            "reason": "1 box a CVAT attribute marks uncertain (the first here) went in without the uncertain flag: "
            f"this project has no uncertain option; {advice}",
        },
    ]
    got = answers(detection)
    assert got[("a.png", "cvat")]["boxes"] == approx_boxes({"boxes": [IGUANA, ROCK]})
    assert got[("b.png", "cvat")]["boxes"] == approx_boxes({"boxes": [IGUANA]})


def test_cvat_annotations_xml_alone_finds_the_projects_items_and_a_rotated_box_is_its_upright_one(
    api, manager, detection
):
    import_images(detection, ["site1/a.png", "site2/b.png"])
    turned = (
        '    <box label="iguana" source="manual" occluded="0" xtl="90.00" ytl="40.00" xbr="110.00" ybr="60.00" '
        'rotation="45.0" z_order="0">\n    </box>\n'
    )
    xml = cvat_xml(cvat_image(0, "site1/a.png", CVAT_BOX) + cvat_image(1, "site2/b.png", turned))
    job = post_import(api, manager, detection, "annotations.xml", xml.encode(), format="cvat", labeler="cvat")
    assert job["status"] == "succeeded" and job["errors"] == [], job["errors"]
    got = answers(detection)
    assert got[("site1/a.png", "cvat")]["boxes"] == approx_boxes({"boxes": [IGUANA]})
    half = 10 * 2**0.5  # a 20 x 20 square turned 45 degrees about its centre (100, 50)
    envelope = {"x": (100 - half) / 200, "y": (50 - half) / 100, "w": 2 * half / 200, "h": 2 * half / 100}
    assert got[("site2/b.png", "cvat")]["boxes"] == approx_boxes({"boxes": [{**envelope, "label": "iguana"}]})


def test_cvat_tags_are_a_classification_projects_classes(api, manager):
    project = make_project(manager, name="Tags", modality="image", task_type="classification", classes=CLASSES)
    import_images(project, ["a.png", "b.png", "c.png"])
    xml = cvat_xml(
        cvat_image(0, "a.png", '    <tag label="rock" source="manual">\n    </tag>\n')
        + cvat_image(1, "b.png", '    <tag label="Iguana" source="manual">\n    </tag>\n')
        + cvat_image(2, "c.png")  # nobody tagged it: no answer
    )
    job = post_import(api, manager, project, "annotations.xml", xml.encode(), format="cvat", labeler="cvat")
    assert job["status"] == "succeeded" and job["errors"] == [], job["errors"]
    assert answers(project) == {("a.png", "cvat"): "rock", ("b.png", "cvat"): "iguana"}


def test_cvat_problems_name_the_image_and_shape_and_keep_the_other_images(api, manager, detection):
    import_images(detection, ["a.png", "b.png", "c.png", "d.png"])
    xml = cvat_xml(
        cvat_image(0, "a.png", CVAT_BOX)
        + cvat_image(1, "b.png", CVAT_BOX.replace('label="iguana"', 'label="lizard"'))
        + cvat_image(2, "c.png", CVAT_BOX.replace('xbr="120.00"', 'xbr="260.00"'))
        + cvat_image(3, "d.png", CVAT_BOX.replace('ytl="30.00"', 'ytl="up"'))
        + cvat_image(4, "gone.png", CVAT_BOX)
    )
    job = post_import(api, manager, detection, "annotations.xml", xml.encode(), format="cvat", labeler="cvat")
    assert job["status"] == "succeeded"
    reasons = {e["name"]: e["reason"] for e in job["errors"]}
    assert 'unknown class "lizard"' in reasons["annotations.xml image 1 (b.png)"]
    assert "box 1" in reasons["annotations.xml image 1 (b.png)"]
    assert "outside the 200 x 100 pixel image" in reasons["annotations.xml image 2 (c.png)"]
    assert "ytl 'up' is not a number" in reasons["annotations.xml image 3 (d.png)"]
    assert "no file 'gone.png'" in reasons["annotations.xml image 4 (gone.png)"]
    assert set(answers(detection)) == {("a.png", "cvat")}


def test_cvat_video_tracks_and_malformed_xml_are_refused_storing_nothing(api, manager, detection):
    import_images(detection, ["a.png"])
    first = post_import(
        api, manager, detection, "annotations.xml", cvat_xml(cvat_image(0, "a.png", CVAT_BOX)).encode(),
        format="cvat", labeler="cvat",
    )  # fmt: skip
    assert first["status"] == "succeeded"
    track = (
        '  <track id="0" label="iguana" source="manual">\n    <box frame="0" keyframe="1" outside="0" occluded="0" '
        'xtl="80.00" ytl="30.00" xbr="120.00" ybr="70.00" z_order="0">\n    </box>\n  </track>\n'
    )
    video = post_import(
        api, manager, detection, "annotations.xml", cvat_xml("", tracks=track).encode(), format="cvat",
        labeler="other",
    )  # fmt: skip
    assert video["status"] == "failed"
    assert "CVAT for video" in video["errors"][-1]["reason"] and "CVAT for images 1.1" in video["errors"][-1]["reason"]
    broken = post_import(
        api, manager, detection, "annotations.xml", b"<annotations><image id='0'></annotations>", format="cvat",
        labeler="other",
    )  # fmt: skip
    assert broken["status"] == "failed" and "annotations.xml: not well-formed XML" in broken["errors"][-1]["reason"]
    assert "line 1" in broken["errors"][-1]["reason"]
    bomb = (
        b'<?xml version="1.0"?><!DOCTYPE annotations [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;">]>'
        b'<annotations><image id="0" name="a.png" width="200" height="100"><tag label="&b;"/></image></annotations>'
    )
    refused = post_import(api, manager, detection, "annotations.xml", bomb, format="cvat", labeler="other")
    assert refused["status"] == "failed" and "DOCTYPE" in refused["errors"][-1]["reason"]
    assert set(answers(detection)) == {("a.png", "cvat")}


def test_a_cvat_annotations_xml_is_read_in_less_memory_than_its_own_size(manager, detection):
    """A CVAT for images 1.1 file was parsed whole into an element tree (about 11x the file's size: a 100,000
    image task's 200 MB annotations.xml took over 2 GB of the worker). It is read an <image> at a time now:
    the parse holds its tasks and boxes, not the file's elements (here polygons of many points, as CVAT's
    are, with an attribute on each box)."""
    import_images(detection, ["a.png"])
    points = ";".join(f"{40 + n % 120}.25,{20 + n % 60}.75" for n in range(150))
    polygon = f'    <polygon label="rock" source="manual" occluded="0" points="{points}" z_order="1">\n    </polygon>\n'
    content = cvat_xml("".join(cvat_image(n, "a.png", CVAT_BOX + polygon * 3) for n in range(400))).encode()
    parsed = parsed_within_its_size(content, project=detection, fmt="cvat", filename="annotations.xml", labeler="cvat")
    assert [t.error for t in parsed.tasks] == [""] * 400
    assert parsed.tasks[399].where == "annotations.xml image 399 (a.png)"
    assert approx_boxes(parsed.tasks[0].answers[0].value) == approx_boxes(
        {"boxes": [IGUANA, *[{"x": 40.25 / 200, "y": 20.75 / 100, "w": 119 / 200, "h": 59 / 100, "label": "rock"}] * 3]}
    )


def test_cvat_and_voc_are_offered_to_the_projects_they_fit(api, client, manager, detection):
    client.force_login(manager)
    page = client.get(f"/projects/{detection.pk}/import/").content.decode()
    assert 'value="cvat">CVAT for images 1.1' in page and 'value="voc">Pascal VOC' in page
    assert 'value="huggingface">Hugging Face object detection' in page
    texts = make_project(manager, name="Reviews", modality="text", classes=CLASSES)
    page = client.get(f"/projects/{texts.pk}/import/").content.decode()
    assert 'value="cvat"' not in page and 'value="voc"' not in page and 'value="huggingface"' not in page
    response = api(manager).post(
        f"/api/projects/{texts.pk}/imports/",
        {"file": SimpleUploadedFile("annotations.xml", cvat_xml("").encode()), "format": "cvat", "labeler": "cvat"},
        format="multipart",
    )
    assert response.status_code == 400
    assert "image detection or classification project, not a text classification one" in str(response.json())
    response = api(manager).post(
        f"/api/projects/{detection.pk}/imports/",
        {"file": SimpleUploadedFile("annotations.xml", cvat_xml("").encode()), "format": "cvat"},
        format="multipart",
    )
    assert response.status_code == 400 and "labeler" in response.json()


# --- Pascal VOC ----------------------------------------------------------------------------------


def voc_object(name, xmin, ymin, xmax, ymax, difficult=0, truncated=0, occluded=0):
    return (
        f"  <object>\n    <name>{name}</name>\n    <pose>Unspecified</pose>\n    <truncated>{truncated}</truncated>\n"
        f"    <occluded>{occluded}</occluded>\n    <difficult>{difficult}</difficult>\n"
        f"    <bndbox>\n      <xmin>{xmin}</xmin>\n      <ymin>{ymin}</ymin>\n      <xmax>{xmax}</xmax>\n"
        f"      <ymax>{ymax}</ymax>\n    </bndbox>\n  </object>\n"
    )


def voc_xml(filename, objects="", width=200, height=100, folder="", path=""):
    """A Pascal VOC annotation file as CVAT (Datumaro's VOC exporter) and Roboflow write it: the image's
    ``filename`` (Roboflow adds ``path``), ``source``, ``size`` with ``depth``, ``segmented``, then each object's
    ``name``, ``pose``, ``truncated``, ``occluded``, ``difficult`` and ``bndbox`` in 1-based pixels."""
    return (
        f"<annotation>\n  <folder>{folder}</folder>\n  <filename>{filename}</filename>\n"
        + (f"  <path>{path}</path>\n" if path else "")
        + "  <source>\n    <database>Unknown</database>\n  </source>\n"
        f"  <size>\n    <width>{width}</width>\n    <height>{height}</height>\n    <depth>3</depth>\n  </size>\n"
        f"  <segmented>0</segmented>\n{objects}</annotation>\n"
    )


# IGUANA and ROCK in VOC's 1-based pixels: the first pixel is 1, a box's xmax its last pixel column. A 0 is
# the edge (a writer counting from 0 meant the first pixel). The iguana is difficult: a borderline box, where
# the project has the option.
VOC_OBJECTS = voc_object("iguana", 81, 31, 120, 70, difficult=1) + voc_object("rock", 161, 0, 200, 50, truncated=1)
VOC_PLAIN = voc_object("iguana", 81, 31, 120, 70) + voc_object("rock", 161, 0, 200, 50, truncated=1)


@pytest.fixture
def flagged(manager):
    """An image detection project whose labelers may mark a box borderline or uncertain."""
    return make_project(
        manager, name="Flagged iguanas", modality="image", task_type="detection", classes=CLASSES,
        options={"borderline": True, "uncertain": True},
    )  # fmt: skip


def test_cvat_pascal_voc_zip_with_image_sets_and_a_labelmap(api, manager, flagged):
    content = zip_bytes(
        [
            ("labelmap.txt", "# label:color_rgb:parts:actions\nbackground:0,0,0::\niguana:250,50,83::\nrock:1,2,3::\n"),
            ("ImageSets/Main/default.txt", "a\nsite1/b\n"),
            ("ImageSets/Main/iguana_default.txt", "a 1\nsite1/b -1\n"),
            ("Annotations/a.xml", voc_xml("a.png", VOC_OBJECTS)),
            ("Annotations/site1/b.xml", voc_xml("b.png")),
            ("JPEGImages/a.png", image(1)),
            ("JPEGImages/site1/b.png", image(2)),
            # masks CVAT writes for polygons: no images to label
            ("SegmentationClass/a.png", image(3)),
            ("SegmentationObject/a.png", image(4)),
        ]
    )
    job = post_import(api, manager, flagged, "task_7-voc.zip", content, format="voc", labeler="cvat")
    assert job["status"] == "succeeded" and job["errors"] == [], job["errors"]
    got = answers(flagged)
    assert set(got) == {("JPEGImages/a.png", "cvat"), ("JPEGImages/site1/b.png", "cvat")}
    # the difficult iguana is borderline; the truncated rock is a box like any other
    iguana = {**IGUANA, "borderline": True}
    assert got[("JPEGImages/a.png", "cvat")]["boxes"] == approx_boxes({"boxes": [iguana, ROCK]})
    assert got[("JPEGImages/site1/b.png", "cvat")] == {"boxes": []}


def test_a_voc_difficult_object_is_a_borderline_box_and_truncated_or_occluded_ones_are_plain(api, manager, flagged):
    """VOC marks an object hard to recognise ``<difficult>1</difficult>`` (its evaluation ignores it): LabelHub's
    borderline box, which agreement can leave out the same way. ``truncated`` (cut by the image's edge) and
    ``occluded`` (partly hidden) say how much of it shows, not how sure its label is: plain boxes."""
    objects = (
        voc_object("iguana", 81, 31, 120, 70, difficult=1, occluded=1)
        + voc_object("rock", 161, 0, 200, 50, truncated=1, occluded=1)
        + voc_object("rock", 1, 1, 40, 20, difficult=0)
    )
    content = zip_bytes([("Annotations/a.xml", voc_xml("a.png", objects)), ("JPEGImages/a.png", image(1))])
    job = post_import(api, manager, flagged, "voc.zip", content, format="voc", labeler="voc")
    assert job["status"] == "succeeded" and job["errors"] == [], job["errors"]
    corner = {"x": 0.0, "y": 0.0, "w": 0.2, "h": 0.2, "label": "rock"}
    assert answers(flagged)[("JPEGImages/a.png", "voc")] == {
        "boxes": approx_boxes({"boxes": [{**IGUANA, "borderline": True}, ROCK, corner]})
    }


def test_voc_difficult_boxes_in_a_project_without_borderline_go_in_plain_saying_so(api, manager, detection):
    """A project whose labelers cannot mark a box borderline takes a difficult object as a plain box (rather than
    refusing its image); the result says how many, and that turning the option on and importing again keeps
    them borderline (a new revision of each answer)."""
    content = zip_bytes(
        [
            ("Annotations/a.xml", voc_xml("a.png", VOC_OBJECTS)),
            ("Annotations/b.xml", voc_xml("b.png", voc_object("iguana", 81, 31, 120, 70, difficult=1))),
            ("JPEGImages/a.png", image(1)),
            ("JPEGImages/b.png", image(2)),
        ]
    )
    job = post_import(api, manager, detection, "voc.zip", content, format="voc", labeler="voc")
    assert job["status"] == "succeeded"
    assert job["errors"] == [
        {
            "name": "Annotations/a.xml",
            "reason": "2 boxes VOC marks difficult (the first here) went in without the borderline flag: this "
            "project has no borderline option; turn it on in the project's settings and import again to keep it",
        }
    ]
    got = answers(detection)
    assert got[("JPEGImages/a.png", "voc")]["boxes"] == approx_boxes({"boxes": [IGUANA, ROCK]})
    assert got[("JPEGImages/b.png", "voc")]["boxes"] == approx_boxes({"boxes": [IGUANA]})
    response = api(manager).patch(f"/api/projects/{detection.pk}/", {"options": {"borderline": True}}, format="json")
    assert response.status_code == 200, response.json()
    again = post_import(api, manager, detection, "voc.zip", content, format="voc", labeler="voc")
    assert again["status"] == "succeeded" and again["errors"] == [], again["errors"]
    assert answers(detection)[("JPEGImages/b.png", "voc")]["boxes"] == approx_boxes(
        {"boxes": [{**IGUANA, "borderline": True}]}
    )


def test_roboflow_pascal_voc_xml_beside_each_image_in_split_folders(api, manager, flagged):
    content = zip_bytes(
        [
            ("README.roboflow.txt", "\nIguanas - v3\n"),
            ("train/a_png.rf.1.png", image(1)),
            ("train/a_png.rf.1.xml", voc_xml("a_png.rf.1.png", VOC_OBJECTS, path="a_png.rf.1.png")),
            ("valid/b_png.rf.2.png", image(2)),
            ("valid/b_png.rf.2.xml", voc_xml("b_png.rf.2.png", voc_object("rock", 161, 1, 200, 50))),
            ("valid/c_png.rf.3.png", image(3)),  # no xml: no boxes, as an image without a YOLO label file
        ]
    )
    job = post_import(api, manager, flagged, "Iguanas.v3i.voc.zip", content, format="voc", labeler="rf")
    assert job["status"] == "succeeded" and job["errors"] == [], job["errors"]
    got = answers(flagged)
    iguana = {**IGUANA, "borderline": True}  # VOC's difficult object
    assert got[("train/a_png.rf.1.png", "rf")]["boxes"] == approx_boxes({"boxes": [iguana, ROCK]})
    assert got[("valid/b_png.rf.2.png", "rf")]["boxes"] == approx_boxes({"boxes": [ROCK]})
    assert got[("valid/c_png.rf.3.png", "rf")] == {"boxes": []}


def test_pascal_voc_problems_name_the_file_and_object_and_keep_what_is_stored(api, manager, detection):
    import_images(detection, ["a.png", "b.png", "c.png", "d.png", "e.png"])
    single = post_import(api, manager, detection, "a.xml", voc_xml("a.png", VOC_PLAIN).encode(), format="voc",
                         labeler="voc")  # fmt: skip
    assert single["status"] == "succeeded" and single["errors"] == [], single["errors"]
    assert answers(detection)[("a.png", "voc")]["boxes"] == approx_boxes({"boxes": [IGUANA, ROCK]})
    lizard = voc_object("lizard", 1, 1, 9, 9)
    content = zip_bytes(
        [
            ("Annotations/a.xml", voc_xml("a.png", voc_object("rock", 161, 1, 200, 50))),
            ("Annotations/b.xml", voc_xml("b.png", voc_object("iguana", 81, 31, 120, 70) + lizard)),
            ("Annotations/c.xml", voc_xml("c.png", voc_object("rock", 161, 1, 260, 50))),
            ("Annotations/d.xml", "<annotation><filename>d.png</filename>\n<size><width>200</width></annotation>"),
            ("Annotations/e.xml", voc_xml("e.png", voc_object("rock", 161, 1, 200, 50), width="", height="")),
            ("Annotations/gone.xml", voc_xml("gone.png", VOC_PLAIN)),
        ]
    )  # fmt: skip
    job = post_import(api, manager, detection, "voc.zip", content, format="voc", labeler="voc")
    assert job["status"] == "succeeded"
    reasons = {e["name"]: e["reason"] for e in job["errors"]}
    assert 'object 2: unknown class "lizard"' in reasons["Annotations/b.xml"]
    assert "object 1: the box" in reasons["Annotations/c.xml"]
    assert "outside the 200 x 100 pixel image" in reasons["Annotations/c.xml"]
    assert "not well-formed XML" in reasons["Annotations/d.xml"] and "line 2" in reasons["Annotations/d.xml"]
    assert "width '' is not a number" in reasons["Annotations/e.xml"]
    assert "no file 'gone.png'" in reasons["Annotations/gone.xml"]
    got = answers(detection)
    assert set(got) == {("a.png", "voc")}
    assert got[("a.png", "voc")]["boxes"] == approx_boxes({"boxes": [ROCK]})  # a new revision, the file said so


# --- Hugging Face object detection ---------------------------------------------------------------

# A dataset card's features, as `push_to_hub` writes them (cppe-5's layout): `objects` a sequence of
# `bbox` ([x, y, w, h] in pixels, as COCO) and `category`, a ClassLabel naming its ints.
HF_CARD = """---
dataset_info:
  features:
  - name: image_id
    dtype: int64
  - name: image
    dtype: image
  - name: width
    dtype: int32
  - name: height
    dtype: int32
  - name: objects
    sequence:
    - name: id
      dtype: int64
    - name: area
      dtype: int64
    - name: bbox
      sequence: float32
      length: 4
    - name: category
      dtype:
        class_label:
          names:
            '0': iguana
            '1': rock
  splits:
  - name: train
    num_examples: 2
---
# Iguanas
"""


def hf_line(file_name, bboxes, categories, **columns):
    objects = {"id": list(range(len(bboxes))), "area": [w * h for _, _, w, h in bboxes], "bbox": bboxes}
    return json.dumps({"file_name": file_name, **columns, "objects": {**objects, "category": categories}}) + "\n"


def test_a_hugging_face_metadata_jsonl_is_read_in_less_memory_than_its_own_size(manager, detection):
    """A label import read a metadata.jsonl whole, decoded it whole and parsed every line before the first
    task (about 15x the file's size for plain boxes). It is read a line at a time now: the parse holds its
    tasks, boxes and metadata, not the file's lines (here objects with COCO's segmentation polygons, as a
    dataset converted from COCO holds them, read and left out)."""
    import_images(detection, ["a.png"])
    polygon = [[float(n % 200) + 0.25 for n in range(150)]]
    lines = []
    for n in range(400):
        objects = {"bbox": [[10.5, 10.5, 20.25, 20.25]] * 4, "category": ["iguana"] * 4, "segmentation": [polygon] * 4}
        lines.append({"file_name": "a.png", "image_id": n, "width": 200, "height": 100, "objects": objects})
    content = "".join(json.dumps(line) + "\n" for line in lines).encode()
    parsed = parsed_within_its_size(
        content, project=detection, fmt="huggingface", filename="metadata.jsonl", labeler="hf"
    )
    assert [(t.where, t.error, t.metadata) for t in parsed.tasks[-1:]] == [
        ("metadata.jsonl line 400", "", {"image_id": 399, "width": 200, "height": 100})
    ]
    assert approx_boxes(parsed.tasks[0].answers[0].value) == approx_boxes(
        {"boxes": [{"x": 10.5 / 200, "y": 10.5 / 100, "w": 20.25 / 200, "h": 20.25 / 100, "label": "iguana"}] * 4}
    )


def test_a_hugging_face_detection_dataset_its_objects_are_boxes_named_by_its_class_label(api, manager, detection):
    metadata = hf_line(
        "a.png", [[80.0, 30.0, 40.0, 40.0], [160.0, 0.0, 40.0, 50.0]], [0, 1], image_id=1, width=200, height=100
    ) + hf_line("b.png", [], [], image_id=2)  # no width and height: the image's own size
    content = zip_bytes(
        [
            ("README.md", HF_CARD),
            ("train/metadata.jsonl", metadata),
            ("train/a.png", image(1)),
            ("train/b.png", image(2)),
        ]
    )
    job = post_import(api, manager, detection, "iguanas.zip", content, format="huggingface", labeler="hf")
    assert job["status"] == "succeeded" and job["errors"] == [], job["errors"]
    got = answers(detection)
    assert got[("train/a.png", "hf")]["boxes"] == approx_boxes({"boxes": [IGUANA, ROCK]})
    assert got[("train/b.png", "hf")] == {"boxes": []}
    # the other columns are the items' metadata, as in an imagefolder; the boxes are not
    items = {i.original_name: i.metadata for i in detection.items.all()}
    assert items == {"train/a.png": {"image_id": 1, "width": 200, "height": 100}, "train/b.png": {"image_id": 2}}


def test_a_hugging_face_metadata_csv_with_category_names_and_objects_as_a_list(api, manager, detection):
    import_images(detection, ["data/a.png"])
    objects = json.dumps(
        [{"bbox": [80, 30, 40, 40], "category": "Iguana"}, {"bbox": [160, 0, 40, 50], "category": "rock"}]
    )
    metadata = "file_name,objects\n" + f'a.png,"{objects.replace(chr(34), chr(34) * 2)}"\n'
    job = post_import(api, manager, detection, "metadata.csv", metadata.encode(), format="huggingface", labeler="hf")
    assert job["status"] == "succeeded" and job["errors"] == [], job["errors"]
    assert answers(detection)[("data/a.png", "hf")]["boxes"] == approx_boxes({"boxes": [IGUANA, ROCK]})


def test_hugging_face_detection_problems_name_the_line_and_object(api, manager, detection):
    import_images(detection, ["a.png", "b.png", "c.png", "d.png"])
    metadata = (
        hf_line("a.png", [[80.0, 30.0, 40.0, 40.0]], ["iguana"])
        + hf_line("b.png", [[80.0, 30.0, 40.0, 40.0], [1, 1, 5, 5]], ["iguana", "lizard"])
        + hf_line("c.png", [[160.0, 0.0, 80.0, 50.0]], ["rock"])
        + hf_line("d.png", [[80.0, 30.0, 40.0, 40.0]], [0])  # an index, and no dataset card names it
        + hf_line("gone.png", [[80.0, 30.0, 40.0, 40.0]], ["rock"])
        + "{not json\n"
    )
    job = post_import(api, manager, detection, "metadata.jsonl", metadata.encode(), format="huggingface", labeler="hf")
    assert job["status"] == "succeeded"
    reasons = {e["name"]: e["reason"] for e in job["errors"]}
    assert 'object 2: unknown class "lizard"' in reasons["metadata.jsonl line 2"]
    assert (
        "object 1: bbox [160.0, 0.0, 80.0, 50.0] reaches outside the 200 x 100 pixel image"
        in reasons["metadata.jsonl line 3"]
    )
    assert "category 0 is a ClassLabel index" in reasons["metadata.jsonl line 4"]
    assert "no file 'gone.png'" in reasons["metadata.jsonl line 5"]
    assert "malformed JSON" in reasons["metadata.jsonl line 6"]
    assert set(answers(detection)) == {("a.png", "hf")}


def test_a_hugging_face_detection_dataset_imported_without_the_format_says_how_its_boxes_go_in(api, manager, detection):
    metadata = hf_line("a.png", [[80.0, 30.0, 40.0, 40.0]], [0], image_id=1)
    content = zip_bytes([("README.md", HF_CARD), ("train/metadata.jsonl", metadata), ("train/a.png", image(1))])
    job = post_import(api, manager, detection, "iguanas.zip", content)
    assert [(e["name"], e["reason"]) for e in job["errors"]] == [
        (
            "train/metadata.jsonl",
            "its objects hold boxes, which are a labeler's answers, not metadata: import the zip with format "
            "huggingface and the labeler whose boxes they are",
        )
    ]
    assert [(i.original_name, i.metadata) for i in detection.items.all()] == [("train/a.png", {})]


# --- Label Studio: regions without a label, clips under another field name --------------------------


def test_a_label_studio_region_without_a_label_is_skipped_saying_so_and_its_task_goes_in(api, manager, detection):
    """``allowEmpty`` on RectangleLabels lets an annotator draw a box and pick no label: Label Studio writes it
    with ``"rectanglelabels": []``. The task's labeled boxes go in; the unlabeled one is named in the result."""
    import_images(detection, ["a.png", "b.png"])
    labeled = ls_region("rectanglelabels", "r1", {**min_box(40, 30, 20, 40, "Iguana")})
    unlabeled = ls_region("rectanglelabels", "r2", {**min_box(80, 0, 20, 50, "Rock"), "rectanglelabels": []})
    shape = ls_region("polygonlabels", "p2", {"points": [[1, 1], [5, 1], [5, 5]], "polygonlabels": []})

    def task(id, name, results):
        annotation = {"id": 100 + id, "completed_by": {"id": 1, "email": "lea@example.com"}, "result": results}
        return {"id": id, "data": {"image": f"/data/upload/3/5d4a1c2e-{name}"}, "annotations": [annotation]}

    export = [task(1, "a.png", [labeled, unlabeled]), task(2, "b.png", [shape])]
    job = post_import(api, manager, detection, "export.json", json.dumps(export).encode(), format="label_studio")
    assert job["status"] == "succeeded"
    assert [(e["name"], e["reason"]) for e in job["errors"]] == [
        (
            "export.json task 1",
            "annotation 101 by lea@example.com, result r2: the region has no label (Label Studio's allowEmpty), "
            "so it is left out; the task's labeled regions are imported",
        ),
        (
            "export.json task 2",
            "annotation 102 by lea@example.com, result p2: the region has no label (Label Studio's allowEmpty), "
            "so it is left out; the annotation has no labeled region, so it is not imported",
        ),
    ]
    # b.png is not "nothing here": its annotator marked something there, without saying what
    assert answers(detection) == {("a.png", "lea@example.com"): {"boxes": approx_boxes({"boxes": [IGUANA]})}}


def test_a_json_min_export_of_audio_regions_whose_clip_field_is_not_named_audio(api, manager):
    """Label Studio names a task's data field after the labeling config's value (``$url``, ``$clip``): JSON-MIN
    writes it beside other data fields, all plain strings. The one holding a clip is the clip; an unlabeled
    region (``allowEmpty``) is left out, saying so."""
    project = make_project(
        manager, name="Regions", modality="audio", task_type="segments", classes=[{"key": "speech"}, {"key": "noise"}]
    )
    data = {"url": "/data/upload/4/aaaa1111-one.wav", "speaker": "caller", "site": "lab 2"}
    label = [
        {"start": 0.25, "end": 1.5, "channel": 0, "labels": ["speech"]},
        {"start": 1.75, "end": 2.0, "channel": 0, "labels": []},
    ]
    export = [min_record(1, data, "lea@x.org", 7, label=label)]
    content = zip_bytes([("project-4-min.json", json.dumps(export)), ("one.wav", wav_bytes(seconds=3.0))])
    job = post_import(api, manager, project, "audio.zip", content, format="label_studio")
    assert job["status"] == "succeeded"
    assert [(e["name"], e["reason"]) for e in job["errors"]] == [
        (
            "project-4-min.json task 1",
            "annotation 7 by lea@x.org, result label: the region has no label (Label Studio's allowEmpty), so it is "
            "left out; the task's labeled regions are imported",
        )
    ]
    assert answers(project) == {
        ("one.wav", "lea@x.org"): {"segments": [{"start": 0.25, "end": 1.5, "label": "speech"}]}
    }


def test_a_coco_zip_with_person_keypoints_beside_instances_reads_its_images_once(api, manager, detection):
    """COCO's own annotation zips (and CVAT's "COCO Keypoints") hold ``person_keypoints_<subset>.json`` beside
    ``instances_<subset>.json``: the same images, the keypoints file's boxes those of one class (and COCO's, its
    ``captions_<subset>.json``, without boxes). The images are read once, with the instances file's boxes."""
    iguana = {"id": 1, "image_id": 1, "category_id": 1, "bbox": [80.0, 30.0, 40.0, 40.0], "iscrowd": 0, "area": 1600}
    rock = {"id": 2, "image_id": 1, "category_id": 2, "bbox": [160.0, 0.0, 40.0, 50.0], "iscrowd": 0, "area": 2000}
    keypoints = json.loads(cvat_coco(["a.png"], [{**iguana, "keypoints": [90, 40, 2], "num_keypoints": 1}]))
    keypoints["categories"] = [{"id": 1, "name": "iguana", "supercategory": "", "keypoints": ["head"], "skeleton": []}]
    content = zip_bytes(
        [
            ("annotations/instances_train.json", cvat_coco(["a.png"], [iguana, rock])),
            ("annotations/person_keypoints_train.json", json.dumps(keypoints)),
            # COCO's own zip holds the captions of the same images too: no boxes at all
            (
                "annotations/captions_train.json",
                cvat_coco(["a.png"], [{"id": 9, "image_id": 1, "caption": "an iguana"}]),
            ),
            ("images/train/a.png", image(1)),
        ]
    )
    job = post_import(api, manager, detection, "coco.zip", content, format="coco", labeler="cvat")
    assert job["status"] == "succeeded" and job["errors"] == [], job["errors"]
    assert job["result"]["answers"] == {"created": 1, "revised": 0, "unchanged": 0}
    assert job["result"]["duplicates"] == 0
    assert answers(detection)[("images/train/a.png", "cvat")]["boxes"] == approx_boxes({"boxes": [IGUANA, ROCK]})


def test_a_cvat_project_export_its_images_in_a_folder_per_subset(api, manager, detection):
    """A project's "CVAT for images 1.1" dataset: each ``<image>`` names its ``subset`` (and task), its file in
    ``images/<subset>/``; two subsets may each hold an image of the same name."""
    meta = cvat_xml("").split("<annotations>", 1)[1].split("</annotations>", 1)[0].replace("<task>", "<project>")
    meta = meta.replace("</task>", "</project>")
    images = (
        '  <image id="0" name="a.png" subset="Train" task_id="3" width="200" height="100">\n'
        f"{CVAT_BOX}  </image>\n"
        '  <image id="1" name="a.png" subset="Validation" task_id="4" width="200" height="100">\n'
        f"{CVAT_POLYGON}  </image>\n"
    )
    xml = f'<?xml version="1.0" encoding="utf-8"?>\n<annotations>{meta}{images}</annotations>\n'
    content = zip_bytes(
        [("annotations.xml", xml), ("images/Train/a.png", image(1)), ("images/Validation/a.png", image(2))]
    )
    job = post_import(api, manager, detection, "project_2-cvat.zip", content, format="cvat", labeler="cvat")
    assert job["status"] == "succeeded" and job["errors"] == [], job["errors"]
    got = answers(detection)
    assert got[("images/Train/a.png", "cvat")]["boxes"] == approx_boxes({"boxes": [IGUANA]})
    assert got[("images/Validation/a.png", "cvat")]["boxes"] == approx_boxes({"boxes": [ROCK]})


def test_cvat_for_images_of_a_video_task_its_frames_named_without_an_extension(api, manager, detection):
    """A video task exported "CVAT for images 1.1": each frame an ``<image name="frame_000000">``, saved as
    ``images/frame_000000.png`` (CVAT's exporter adds ``.png`` to a frame name without an extension)."""
    xml = cvat_xml(cvat_image(0, "frame_000000", CVAT_BOX) + cvat_image(1, "frame_000001"))
    content = zip_bytes(
        [("annotations.xml", xml), ("images/frame_000000.png", image(1)), ("images/frame_000001.png", image(2))]
    )
    job = post_import(api, manager, detection, "task_8-cvat.zip", content, format="cvat", labeler="cvat")
    assert job["status"] == "succeeded" and job["errors"] == [], job["errors"]
    got = answers(detection)
    assert got[("images/frame_000000.png", "cvat")]["boxes"] == approx_boxes({"boxes": [IGUANA]})
    assert got[("images/frame_000001.png", "cvat")] == {"boxes": []}


# --- images nobody gave a box: "nothing here", or unanswered ----------------------------------------


def _unlabeled_exports():
    """Each box format's export of a task of two images, ``a.png`` with the iguana and ``b.png`` with no box:
    as CVAT, Label Studio, Roboflow and others write every image of a task, labeled or not."""
    rectangle = ls_region("rectanglelabels", "r1", {"x": 40, "y": 30, "width": 20, "height": 40, "rotation": 0})
    rectangle["value"]["rectanglelabels"] = ["Iguana"]

    def ls_task(id, name, results):
        annotation = {"id": 100 + id, "completed_by": {"id": 1, "email": "lea@example.com"}, "result": results}
        return {"id": id, "data": {"image": f"/data/upload/3/5d4a1c2e-{name}"}, "annotations": [annotation]}

    images = [("a.png", image(1)), ("b.png", image(2))]
    return {
        "coco": zip_bytes(
            [("result.json", cvat_coco(["a.png", "b.png"], [rf_box(1, 1, 1, [80, 30, 40, 40])])), *images]
        ),
        "cvat": zip_bytes(
            [
                ("annotations.xml", cvat_xml(cvat_image(0, "a.png", CVAT_BOX) + cvat_image(1, "b.png"))),
                *((f"images/{n}", b) for n, b in images),
            ]
        ),
        "voc": zip_bytes(
            [
                ("Annotations/a.xml", voc_xml("a.png", voc_object("iguana", 81, 31, 120, 70))),
                ("Annotations/b.xml", voc_xml("b.png")),
                *((f"JPEGImages/{n}", b) for n, b in images),
            ]
        ),
        "yolo": zip_bytes(
            [
                ("classes.txt", "iguana\nrock\n"),
                ("labels/a.txt", "0 0.5 0.5 0.2 0.4\n"),
                ("labels/b.txt", ""),  # Label Studio's and CVAT's empty file for an image without boxes
                *((f"images/{n}", b) for n, b in images),
            ]
        ),
        "label_studio": zip_bytes(
            [
                ("export.json", json.dumps([ls_task(1, "a.png", [rectangle]), ls_task(2, "b.png", [])])),
                *((f"images/5d4a1c2e-{n}", b) for n, b in images),
            ]
        ),
        "huggingface": zip_bytes(
            [
                ("README.md", HF_CARD),
                ("metadata.jsonl", hf_line("a.png", [[80.0, 30.0, 40.0, 40.0]], [0]) + hf_line("b.png", [], [])),
                *images,
            ]
        ),
    }


@pytest.mark.parametrize("fmt", ["coco", "cvat", "voc", "yolo", "label_studio", "huggingface"])
def test_images_without_boxes_unanswered_stores_the_image_without_a_nothing_here_answer(api, manager, detection, fmt):
    content = _unlabeled_exports()[fmt]
    job = post_import(
        api, manager, detection, f"{fmt}.zip", content, format=fmt, labeler="ana", images_without_boxes="unanswered"
    )
    assert job["status"] == "succeeded" and job["errors"] == [], job["errors"]
    got = answers(detection)
    assert len(got) == 1, got  # b.png: no answer, nobody said "nothing here"
    [((name, _), value)] = got.items()
    assert name.endswith("a.png") and value["boxes"] == approx_boxes({"boxes": [IGUANA]})
    names = sorted(posixpath.basename(i.original_name).removeprefix("5d4a1c2e-") for i in detection.items.all())
    assert names == ["a.png", "b.png"]  # the image is in the project, waiting for its labelers
    assert job["result"]["answers"]["created"] == 1


def test_images_without_boxes_is_nothing_here_by_default_and_when_asked(api, manager, detection):
    content = _unlabeled_exports()["cvat"]
    for n, extra in enumerate([{}, {"images_without_boxes": "nothing_here"}]):
        job = post_import(api, manager, detection, "cvat.zip", content, format="cvat", labeler=f"ana{n}", **extra)
        assert job["status"] == "succeeded" and job["errors"] == [], job["errors"]
        assert answers(detection)[("images/b.png", f"ana{n}")] == {"boxes": []}


def test_images_without_boxes_refuses_a_value_or_project_it_does_not_fit(api, manager, detection):
    classify = make_project(manager, name="Iguana photos", classes=CLASSES)
    content = _unlabeled_exports()["cvat"]
    cases = [
        (detection, {"format": "cvat", "labeler": "ana", "images_without_boxes": "skip"}, "nothing_here or unanswered"),
        (detection, {"images_without_boxes": "unanswered"}, "with a labels format"),
        (classify, {"format": "cvat", "labeler": "ana", "images_without_boxes": "unanswered"}, "detection project"),
    ]
    for project, data, says in cases:
        response = api(manager).post(
            f"/api/projects/{project.pk}/imports/",
            {"file": SimpleUploadedFile("cvat.zip", content), **data},
            format="multipart",
        )
        assert response.status_code == 400, response.json()
        assert says in str(response.json()["images_without_boxes"])
    assert not Item.objects.filter(project__in=[detection, classify]).exists()
    # the import page sends its default with any import, items only too
    job = post_import(api, manager, detection, "photos.zip", zip_bytes([("a.png", image(1))]), images_without_boxes="")
    assert job["status"] == "succeeded" and job["errors"] == [], job["errors"]
    job = post_import(
        api, manager, detection, "more.zip", zip_bytes([("b.png", image(2))]), images_without_boxes="nothing_here"
    )
    assert job["status"] == "succeeded" and job["errors"] == [], job["errors"]


def test_the_import_page_offers_images_without_boxes_to_a_detection_project(client, manager, detection):
    classify = make_project(manager, name="Iguana photos", classes=CLASSES)
    client.force_login(manager)
    page = client.get(f"/projects/{detection.pk}/import/").content.decode()
    assert 'name="images_without_boxes"' in page and 'value="unanswered"' in page
    assert 'name="images_without_boxes"' not in client.get(f"/projects/{classify.pk}/import/").content.decode()


# --- Hugging Face dataset cards ----------------------------------------------------------------------

# ``dataset_infos.json`` as ``datasets`` (before README.md cards held it) writes it: per config, its features,
# a ClassLabel as {"names": [...], "_type": "ClassLabel"}, a Sequence's items under "feature".
HF_INFOS = {
    "default": {
        "description": "",
        "features": {
            "image_id": {"dtype": "int64", "_type": "Value"},
            "image": {"_type": "Image"},
            "objects": {
                "feature": {
                    "bbox": {"feature": {"dtype": "float32", "_type": "Value"}, "length": 4, "_type": "Sequence"},
                    "category": {"names": ["iguana", "rock"], "_type": "ClassLabel"},
                },
                "_type": "Sequence",
            },
        },
        "splits": {"train": {"name": "train", "num_bytes": 1, "num_examples": 1, "dataset_name": "iguanas"}},
    }
}


@pytest.mark.parametrize("modality", ["image", "audio"])
def test_a_hugging_face_folder_zipped_with_its_dataset_card_imports_without_refusing_the_card(api, manager, modality):
    """A dataset downloaded from the Hub holds its card (README.md) and maybe dataset_infos.json: no items."""
    project = make_project(manager, name="Iguanas", modality=modality, classes=CLASSES)
    media = ("0001.png", image(1)) if modality == "image" else ("0001.wav", wav_bytes(seconds=0.5))
    content = zip_bytes(
        [
            ("README.md", "---\nlicense: cc-by-4.0\ntask_categories:\n- image-classification\n---\n# Iguanas\n"),
            ("dataset_infos.json", json.dumps(HF_INFOS)),
            ("train/metadata.csv", f"file_name,label\n{media[0]},iguana\n"),
            (f"train/{media[0]}", media[1]),
        ]
    )
    job = post_import(api, manager, project, "iguanas.zip", content)
    assert job["status"] == "succeeded" and job["errors"] == [], job["errors"]
    assert [(i.original_name, i.label) for i in project.items.all()] == [(f"train/{media[0]}", "iguana")]


def test_the_import_command_leaves_a_hugging_face_folders_card_alone(manager, tmp_path):
    project = make_project(manager, name="Iguana photos", classes=CLASSES)
    (tmp_path / "README.md").write_text("---\nlicense: mit\n---\n")
    (tmp_path / "train").mkdir()
    (tmp_path / "train" / "metadata.jsonl").write_text('{"file_name": "0001.png", "label": "rock"}\n')
    (tmp_path / "train" / "0001.png").write_bytes(image(1))
    out = io.StringIO()
    call_command("import_items", str(project.pk), str(tmp_path), stdout=out, stderr=io.StringIO())
    assert "1 imported, 0 duplicates, 0 rejected" in out.getvalue()


def test_a_hugging_face_detection_dataset_names_its_classes_in_dataset_infos_json(api, manager, detection):
    metadata = hf_line("a.png", [[80.0, 30.0, 40.0, 40.0], [160.0, 0.0, 40.0, 50.0]], [0, 1], width=200, height=100)
    content = zip_bytes(
        [
            ("README.md", "---\nlicense: cc-by-4.0\n---\n# Iguanas\n"),  # a card without dataset_info
            ("dataset_infos.json", json.dumps(HF_INFOS)),
            ("train/metadata.jsonl", metadata),
            ("train/a.png", image(1)),
        ]
    )
    job = post_import(api, manager, detection, "iguanas.zip", content, format="huggingface", labeler="hf")
    assert job["status"] == "succeeded" and job["errors"] == [], job["errors"]
    assert answers(detection)[("train/a.png", "hf")]["boxes"] == approx_boxes({"boxes": [IGUANA, ROCK]})


def test_a_metadata_csv_keeps_a_long_transcription_and_names_the_line_of_one_too_long(api, manager, settings):
    """A transcription over Python's default CSV field limit (131,072 characters) failed the whole job."""
    project = make_project(manager, name="Speech", modality="audio", task_type="transcription")
    limit = settings.LABELHUB_MAX_TEXT_CHARS
    long_text, too_long = "a" * limit, "b" * (limit + 1)
    content = zip_bytes(
        [
            ("data/metadata.csv", f"file_name,transcription\nq1.wav,{long_text}\n"),
            ("data/q1.wav", wav_bytes(seconds=0.5)),
            ("more/metadata.csv", f"file_name,transcription\nq2.wav,fine\nq3.wav,{too_long}\n"),
            ("more/q2.wav", wav_bytes(seconds=0.5, freq=300)),
        ]
    )
    job = post_import(api, manager, project, "speech.zip", content)
    assert job["status"] == "succeeded", job["errors"]
    assert [(e["name"], e["reason"]) for e in job["errors"]] == [
        ("more/metadata.csv line 3", f"a field longer than {limit:,} characters, the most a CSV field may hold")
    ]
    assert {i.original_name: len(i.metadata.get("transcription", "")) for i in project.items.all()} == {
        "data/q1.wav": limit,
        "more/q2.wav": 0,
    }


# --- Notes beside the media --------------------------------------------------------------------------


@pytest.mark.parametrize("modality", ["image", "audio"])
def test_the_notes_beside_the_media_of_a_zip_are_no_items_of_an_image_or_audio_project(api, manager, modality):
    """Roboflow's exports hold README.roboflow.txt and README.dataset.txt, other zips a LICENSE or a note:
    imported as items only, each was a rejected entry ("not an image Pillow can identify"). They are
    left out without a word; the media come in. Another .txt is no note: in an image zip it is most often a
    YOLO label file sent without its format, and it stays a rejected entry rather than labels lost unsaid."""
    project = make_project(manager, name="Iguanas", modality=modality, classes=CLASSES)
    media = ("train/0001.png", image(1)) if modality == "image" else ("train/0001.wav", wav_bytes(seconds=0.5))
    content = zip_bytes(
        [
            ("README.dataset.txt", "# Iguanas > 2024-05-02\nhttps://universe.roboflow.com/\n"),
            ("README.roboflow.txt", "\nIguanas - v3 2024-05-02\n==============================\n"),
            ("LICENSE", "CC BY 4.0\n"),
            ("train/0001.txt", "0 0.5 0.5 0.2 0.2\n"),
            media,
        ]
    )
    job = post_import(api, manager, project, "iguanas.zip", content)
    assert job["status"] == "succeeded"
    assert [e["name"] for e in job["errors"]] == ["train/0001.txt"], job["errors"]
    assert [i.original_name for i in project.items.all()] == [media[0]]


def test_a_yolo_label_file_or_data_yaml_imported_as_items_says_what_it_is_and_what_to_do(api, manager, tmp_path):
    """An Ultralytics or Roboflow YOLO zip sent without ``format``: its label files and data.yaml were refused
    as "not an image Pillow can identify", which told nobody that the boxes were being left behind."""
    project = make_project(manager, name="Iguanas", classes=CLASSES)
    files = [
        ("data.yaml", "names: [iguana]\nnc: 1\n"),
        ("train/images/0001.png", image(1)),
        ("train/labels/0001.txt", "0 0.5 0.5 0.2 0.2\n"),
        ("notes.txt", "taken at dawn\n"),
    ]
    job = post_import(api, manager, project, "iguanas.zip", zip_bytes(files))
    reasons = {e["name"]: e["reason"] for e in job["errors"]}
    assert reasons["train/labels/0001.txt"] == (
        "looks like a YOLO label file: import the zip with format yolo to keep its boxes"
    )
    assert reasons["data.yaml"] == "a YOLO dataset file: import the zip with format yolo to read its class names"
    assert "Pillow" in reasons["notes.txt"]  # a .txt no image is named after is no label file
    assert [i.original_name for i in project.items.all()] == ["train/images/0001.png"]
    # The same from a server folder (the import_items command).
    for name, content in files:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(content if isinstance(content, bytes) else content.encode())
    other = make_project(manager, name="Iguanas again", classes=CLASSES)
    err = io.StringIO()
    with pytest.raises(CommandError):  # entries were refused
        call_command("import_items", str(other.pk), str(tmp_path), stdout=io.StringIO(), stderr=err)
    assert "looks like a YOLO label file" in err.getvalue() and "a YOLO dataset file" in err.getvalue()


def test_a_yolo_or_darknet_class_list_imported_as_items_says_to_import_with_format_yolo(api, manager, tmp_path):
    """Label Studio's classes.txt, CVAT's obj.names and Roboflow's _darknet.labels, sent without ``format`` in an
    image project's zip or folder, were refused as "not an image Pillow can identify"; a text project's
    classes.txt is a text like any."""
    project = make_project(manager, name="Iguanas", classes=CLASSES)
    files = [
        ("classes.txt", "iguana\nrock\n"),
        ("obj.names", "iguana\nrock\n"),
        ("train/_darknet.labels", "iguana\nrock\n"),
        ("images/0001.png", image(1)),
    ]
    job = post_import(api, manager, project, "iguanas.zip", zip_bytes(files))
    hint = "a YOLO dataset file: import the zip with format yolo to read its class names"
    assert {e["name"]: e["reason"] for e in job["errors"]} == {
        "classes.txt": hint,
        "obj.names": hint,
        "train/_darknet.labels": hint,
    }
    assert [i.original_name for i in project.items.all()] == ["images/0001.png"]
    for name, content in files:  # the same from a server folder (the import_items command)
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(content if isinstance(content, bytes) else content.encode())
    other = make_project(manager, name="Iguanas again", classes=CLASSES)
    err = io.StringIO()
    with pytest.raises(CommandError):  # entries were refused
        call_command("import_items", str(other.pk), str(tmp_path), stdout=io.StringIO(), stderr=err)
    assert err.getvalue().count("a YOLO dataset file: import the zip with format yolo") == 3, err.getvalue()
    texts = make_project(manager, name="Notes", modality="text", classes=CLASSES)
    job = post_import(api, manager, texts, "notes.zip", zip_bytes([("classes.txt", "a note to label\n")]))
    assert job["errors"] == [] and [i.original_name for i in texts.items.all()] == ["classes.txt"]


def test_in_a_text_project_the_texts_of_a_zip_are_items_whatever_their_names(api, manager):
    project = make_project(manager, name="Notes", modality="text", classes=CLASSES)
    content = zip_bytes([("README.dataset.txt", "a note to label\n"), ("train/notes.txt", "another one\n")])
    job = post_import(api, manager, project, "notes.zip", content)
    assert job["status"] == "succeeded" and job["errors"] == [], job["errors"]
    assert sorted(i.original_name for i in project.items.all()) == ["README.dataset.txt", "train/notes.txt"]


def test_the_import_command_leaves_the_notes_beside_the_images_alone(manager, tmp_path):
    project = make_project(manager, name="Iguana photos", classes=CLASSES)
    (tmp_path / "README.roboflow.txt").write_text("Iguanas - v3\n")
    (tmp_path / "LICENSE.md").write_text("CC BY 4.0\n")
    (tmp_path / "train").mkdir()
    (tmp_path / "train" / "0001.png").write_bytes(image(1))
    out = io.StringIO()
    call_command("import_items", str(project.pk), str(tmp_path), stdout=out, stderr=io.StringIO())
    assert "1 imported, 0 duplicates, 0 rejected" in out.getvalue()


def test_a_cvat_yolo_export_imported_as_items_names_each_of_its_files(api, manager):
    """CVAT's "YOLO 1.1" zip sent without ``format``: obj.data and train.txt were refused as "not an image
    Pillow can identify" beside the hints its label files and obj.names get. A train.txt in a zip with no YOLO
    file is a text like any (not an image)."""
    project = make_project(manager, name="Iguanas", classes=CLASSES)
    files = [
        ("obj.names", "iguana\nrock\n"),
        ("obj.data", "classes = 2\ntrain = data/train.txt\nnames = data/obj.names\nbackup = backup/\n"),
        ("train.txt", "data/obj_train_data/a.png\n"),
        ("obj_train_data/a.png", image(1)),
        ("obj_train_data/a.txt", "0 0.5 0.5 0.2 0.2\n"),
    ]
    job = post_import(api, manager, project, "iguanas.zip", zip_bytes(files))
    assert {e["name"]: e["reason"] for e in job["errors"]} == {
        "obj.names": "a YOLO dataset file: import the zip with format yolo to read its class names",
        "obj.data": "a YOLO dataset file: import the zip with format yolo to read its class names",
        "train.txt": "a YOLO dataset's image list: import the zip with format yolo to keep its boxes",
        "obj_train_data/a.txt": "looks like a YOLO label file: import the zip with format yolo to keep its boxes",
    }
    assert [i.original_name for i in project.items.all()] == ["obj_train_data/a.png"]
    plain = make_project(manager, name="Plain", classes=CLASSES)
    job = post_import(api, manager, plain, "plain.zip", zip_bytes([("train.txt", "a.png\n"), ("a.png", image(2))]))
    assert [e["name"] for e in job["errors"]] == ["train.txt"] and "Pillow" in job["errors"][0]["reason"]
