"""Importing existing labels: COCO JSON, YOLO archives, Label Studio JSON exports, segments CSV, RTTM,
CVAT for images XML, Pascal VOC XML, Hugging Face object detection metadata and labels CSV (one answer per
line: a spreadsheet of classes or transcripts, or a version's ``manifest.csv``; ``labels_csv_parse``).

An import with a ``format`` (``coco``, ``yolo``, ``label_studio``, ``segments_csv``, ``rttm``, ``cvat``,
``voc``, ``huggingface``) reads a labels file, finds each labeled file either in the same zip (stored as a new
item, or recognised as an item the project holds by its SHA-256) or among the project's items by its path, and
stores every annotator's labels as that person's answer through ``annotation_store`` — so revisions, the queue's
answer counters and blindness hold as for answers given here, and agreement can be computed at once.

A path is matched by the most specific evidence (``_Media``): the full relative path (forward slashes,
no leading ``./``; an item's original name, or a manifest line's path), else the one file or item
sharing the most trailing folders with it, else the one with its base name; files or items equally
close are an error naming them. So a COCO ``file_name`` ``a/x.png`` is the item ``a/x.png`` although
``b/x.png`` exists, and a bare ``x.png`` is refused naming both. A YOLO label file stands for the image
at its path under ``labels/`` without the extension (``labels/a/x.txt``: ``a/x.png``), as LabelHub's
YOLO export writes it (``a/x-<item id>`` for a later item of the same path and another extension); an
RTTM file id is a clip's path without its extension the same way (``a/x`` or ``x``, ``a_b`` also the
``a b.wav`` the export wrote so). A segments CSV names a clip by ``file`` (a path, as COCO's
``file_name``) or ``item`` (an id of the project's items, else a path). Names are compared composed
(NFC), as a zip made on macOS stores them decomposed.

What other tools write (``tests/labeling/test_foreign_exports.py`` holds a copy of each): a COCO zip
may hold one file per split (Roboflow's ``train/_annotations.coco.json`` beside its images, CVAT's
``annotations/instances_<subset>.json`` with ``images/<subset>/``); a YOLO zip's label files sit under
``labels/`` (Ultralytics, Roboflow, Label Studio) or beside their images (CVAT's YOLO 1.1
``obj_train_data/``, Roboflow's Darknet), with ``train.txt`` image lists that are no label files;
Label Studio's JSON-MIN export is one record per annotation, read as its JSON export; CVAT's "CVAT for
images 1.1" is ``annotations.xml`` with ``images/`` (an ``<image>`` per frame, its ``name`` a path), its
video variant's ``<track>`` refused; Pascal VOC is ``Annotations/*.xml`` with ``JPEGImages/`` (CVAT) or
each ``.xml`` beside its image (Roboflow); a Hugging Face detection dataset is a ``metadata.jsonl``/``.csv``
per split folder, ``objects`` holding ``bbox`` and ``category`` (a ClassLabel index the ``README.md`` card
names, or a name).

XML is parsed by the standard library's expat with any DOCTYPE refused (``_xml_parser``): no entity can be
declared, so none is expanded (defusedxml is no dependency; CVAT and VOC files have no DOCTYPE).

Who the answers belong to:

- Label Studio: each annotation's ``completed_by``. An export names people as ``{"id", "email", ...}``
  (matched to a user with that e-mail, else a user named by the e-mail is created); a bare id becomes
  the user ``label-studio-<id>``. Cancelled (skipped) annotations and model ``predictions`` are left out, and
  so is a region without a label (``allowEmpty``), reported as ``{"name": "<file> task <id>", "reason": ...}``.
- A labels CSV names each line's labeler in its ``labeler`` column; a line without one is the import's ``labeler``'s.
- COCO, YOLO, CVAT, VOC, Hugging Face, segments CSV and RTTM files name nobody: the import names the person
  (or tool) with ``labeler``, and their boxes or segments become that user's answers. (An item's imported label is one
  class key; it cannot hold shapes.)

A user who is not yet a member of the project becomes a labeler; existing roles are kept.

An image a box file gives no box (a COCO image without annotations, a CVAT ``<image>`` without shapes, a YOLO
image without a label line, ...) is that labeler's "nothing here", or with ``images_without_boxes``
``unanswered`` no answer at all: its item is stored for the labelers, as CVAT and Label Studio list every
image of a task, labeled or not.

Coordinates become the contract's fractions: COCO ``bbox`` is ``[x, y, w, h]`` in pixels of the image's
declared ``width``/``height`` (boxes within half a pixel of an edge are clamped to it; an image declared
at its upright size turned a quarter, a photo's stored pixels without its EXIF orientation, is rejected,
as its boxes would land turned); YOLO lines are
``class cx cy w h`` as fractions of the image, centre first; CVAT boxes are ``xtl ytl xbr ybr`` in pixels
of the ``<image>``'s ``width`` and ``height`` (a ``rotation`` about the centre: the upright box around it),
polygons the box around their points, a ``<tag>`` a classification project's class; VOC ``bndbox`` is 1-based
pixels (``xmin - 1`` to ``xmax``) of the file's ``size``; Hugging Face ``bbox`` is COCO's, in pixels of the
line's ``width`` and ``height``, else of the stored image; Label Studio boxes are percentages
(0-100) of the image, rotated boxes stored as their upright envelope; audio regions are seconds (a
region's labels a segment each, its ``channel`` not read; per-region transcripts joined by start), as are
a segments CSV's ``start``/``end`` and RTTM's onset and duration.

Flags: a VOC ``<difficult>1</difficult>`` object is a borderline box; a CVAT shape's ``<attribute>`` named
``difficult`` or ``borderline`` set true makes it borderline, ``uncertain`` uncertain, and so does such a key of
a COCO annotation's ``attributes`` object (CVAT's COCO 1.0 export: ``{"occluded": false, "difficult": true}``).
VOC's ``truncated`` and ``occluded`` and CVAT's ``occluded`` are not read (they say how much of the object
shows, not how sure its label is), nor is COCO's ``iscrowd``: CVAT writes every mask with ``iscrowd`` 1, so it
does not tell a crowd. In a project without the option the boxes go in unflagged, the result saying how many
(``_flags_without_option``).

Segments files (a version's ``segments.csv`` and ``rttm``, or RTTM from a diarization tool) are read while
the request waits as well (``label_import_precheck``): any bad line (an unknown class, a malformed line, a
negative or empty duration, an onset past the clip's end, a file no clip or item has) refuses the whole
upload with a 400 naming each line, so nothing is stored. A recording (a clip) is one task: all its lines
make the labeler's answer.

Classes match by key, else by key or name ignoring case, else as a key the project's taxonomy changes
renamed or merged away (``labeling.selectors.class_mapping``): the class it became.

Checks. The labels file must parse (else the job fails, storing nothing). Each labeled file (a COCO
image, a YOLO label file, a Label Studio task, a CVAT image, a VOC .xml file, which may itself be malformed,
a Hugging Face metadata line) is all or nothing: an unknown class, a box outside the image or a malformed
line rejects that file's item and answers, reported as
``{"name": "<labels file> <task/image/line>", "reason": ...}``; the others go in. Answers are stored
chunk by chunk, each chunk in one transaction; running the job again stores nothing twice (an answer
equal to the labeler's current one is left alone; a different one becomes a new revision).
"""

import codecs
import contextlib
import csv
import io
import json
import math
import numbers
import posixpath
import re
import unicodedata
import zipfile
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import parse_qs, unquote, urlparse
from xml.etree import ElementTree
from xml.parsers import expat

import ijson
import numpy as np
import yaml
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.validators import UnicodeUsernameValidator
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import OperationalError, transaction
from django.db.models import Q

from labelhub.csvsafe import DANGEROUS_PREFIXES
from labelhub.deadlocks import BatchNotSaved, is_deadlock, retry_deadlock_once
from labeling.choices import Role, TaskType
from labeling.inputs import AUDIO_EXTENSIONS, InputRejected, csv_problem, csv_row_start, utf8_decoded
from labeling.models import Annotation, Item, Membership
from labeling.selectors import class_mapping
from labeling.services import imports
from labeling.services.annotations import annotation_store, annotation_validate
from labeling.services.imports import file_path
from labeling.services.imports import path_parts as _path_parts
from labeling.services.jobs import project_lock
from labeling.services.shapes import MAX_SHAPES, end_tolerance

FORMATS = ("coco", "yolo", "label_studio", "segments_csv", "rttm", "cvat", "voc", "huggingface", "labels_csv")
# Formats whose files hold one kind of shape, the task type they import into, and name no annotator.
SHAPE_FILE_TASKS = {
    "coco": TaskType.DETECTION,
    "yolo": TaskType.DETECTION,
    "voc": TaskType.DETECTION,
    "huggingface": TaskType.DETECTION,
    "segments_csv": TaskType.SEGMENTS,
    "rttm": TaskType.SEGMENTS,
}
# Formats that name no annotator and hold boxes or whole-image classes (CVAT's <tag>): image projects of these types.
IMAGE_FILE_TASKS = {"cvat": (TaskType.DETECTION, TaskType.CLASSIFICATION)}
SEGMENT_FILES = {"segments_csv": ".csv", "rttm": ".rttm"}  # the labels file's suffix in a zip
# Formats of one answer per line, for the projects whose answer is one class or text.
ANSWER_FILE_TASKS = {"labels_csv": (TaskType.CLASSIFICATION, TaskType.TRANSCRIPTION)}
# Files read while the request waits, any bad line refusing the upload (``label_import_precheck``).
CHECKED_FILES = {**SEGMENT_FILES, "labels_csv": ".csv"}
LABELS_CSV_COLUMNS = (
    "file", "item", "sha256", "label", "transcript", "value", "labeler", "borderline", "borderline_with",
    "uncertain", "out_of_domain", "comment", "seconds",
)  # fmt: skip
# Columns of a version's manifest.csv and of the raw answers export that say nothing of an answer: left
# alone, so either file imports as it is.
MANIFEST_CSV_IGNORED = (
    "split", "agreement", "n_annotations", "answers", "tags", "source", "resolved_by", "review", "text",
    "guideline", "created",
)  # fmt: skip
LABEL_COLUMNS = ("label", "transcript", "value")  # one of them holds the answer
LABELS_CSV_SHAPE = (
    "a labels CSV has file, item or sha256; label (or value, or transcript in a transcription project); and optionally "
    "labeler, borderline, borderline_with, uncertain, out_of_domain, comment, seconds"
)
ANSWER_FLAGS = ("borderline", "borderline_with", "uncertain", "out_of_domain", "comment")  # an answer's flags
TRUE_CELLS = ("1", "true", "yes", "y", "t")
FALSE_CELLS = ("", "0", "false", "no", "n", "f")
API_FILE_PATH = re.compile(r"^(https?://[^/]+)?/api/items/[0-9]+/file/?$")  # a version manifest's file cell
SEGMENTS_CSV_COLUMNS = ("item", "file", "start", "end", "label", "support")
SEGMENTS_CSV_SHAPE = "a segments CSV has file or item, start, end, label, and support, which is ignored"
# RTTM record types (NIST RT-09) other than SPEAKER: they say nothing of who spoke when, and are skipped.
RTTM_OTHER_TYPES = {
    "SEGMENT", "NOSCORE", "NO_RT_METADATA", "LEXEME", "NON-LEX", "NON-SPEECH", "FILLER", "EDIT", "IP",
    "END-OF-SENTENCE", "SU", "CB", "A/P", "SPKR-INFO",
}  # fmt: skip
RTTM_LINE = "SPEAKER <file> <channel> <onset> <duration> <NA> <NA> <label> <NA> <NA>"
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".webp", ".gif", ".bmp", ".tif", ".tiff")
YOLO_NAME_FILES = ("classes.txt", "obj.names", "_darknet.labels", "data.yaml", "dataset.yaml", "data.yml")
# Label Studio stores uploads as "<8 hex>-<original name>".
# What an image a box file gives no box becomes: the labeler's "nothing here" (an empty set of boxes), or no
# answer at all (the item stored, waiting for its labelers), for files that list every image of a task,
# labeled or not (CVAT, Label Studio, COCO exports of unfinished work).
NOTHING_HERE, UNANSWERED = "nothing_here", "unanswered"
IMAGES_WITHOUT_BOXES = (NOTHING_HERE, UNANSWERED)
LS_UPLOAD_PREFIX = re.compile(r"^[0-9a-f]{8}-")
HALF_PIXEL = 0.5
EDGE_SLACK = 1e-6
# Label Studio image regions a box cannot stand for (or whose labels are another result's)
LS_OTHER_REGIONS = (
    "brushlabels",
    "keypointlabels",
    "ellipselabels",
    "rectangle",
    "polygon",
    "ellipse",
    "keypoint",
    "brush",
)
LS_UNLABELED = "the region has no label (Label Studio's allowEmpty), so it is left out"
LS_TYPES = {
    TaskType.DETECTION: "rectanglelabels",
    TaskType.SEGMENTS: "labels",
    TaskType.CLASSIFICATION: "choices",
    TaskType.TRANSCRIPTION: "textarea",
}


def path_parts(path: str) -> tuple[str, ...]:
    """``imports.path_parts`` of the path composed (NFC): a zip made on macOS stores its names decomposed
    ("e" and a combining accent), as files there are named, while labels written elsewhere name them
    composed; both spell the same name."""
    return _path_parts(unicodedata.normalize("NFC", path))


def _ls_unprefixed(path: str) -> str:
    """A path without the prefix Label Studio gives an upload's name ("images/1a2b3c4d-photo.jpg" is
    "images/photo.jpg"), as its COCO and YOLO exports name a file whose images are not with them."""
    folder, base = posixpath.split(path.replace("\\", "/"))
    return posixpath.join(folder, LS_UPLOAD_PREFIX.sub("", base))


class Bad(Exception):
    """One labeled file's problem: rejects that file (its item and answers), not the import."""


def images_without_boxes_check(*, project, fmt, value) -> str:
    """``images_without_boxes`` as the job reads it (``nothing_here`` when not given); raise ValidationError
    when it is no such value, or asks for ``unanswered`` where no box file is imported (no ``fmt``, or a
    project that takes no boxes)."""
    value = (value or "").strip() or NOTHING_HERE
    if value not in IMAGES_WITHOUT_BOXES:
        raise ValidationError({"images_without_boxes": f"'{value[:40]}' is not nothing_here or unanswered"})
    if value == UNANSWERED and not fmt:
        raise ValidationError({"images_without_boxes": "unanswered applies to an import with a labels format"})
    if value == UNANSWERED and project.task_type != TaskType.DETECTION:
        raise ValidationError(
            {"images_without_boxes": f"unanswered applies to boxes: a detection project, not a {project.task_type} one"}
        )
    return value


def label_import_check(*, project, fmt, labeler="", label_from_folder=False, images_without_boxes="") -> dict:
    """The synchronous checks of an import with a labels ``fmt``; raise ValidationError naming the field.
    Answers the job's extra params (``images_without_boxes`` only when it is ``unanswered``: the params of an
    import as before are as they were)."""
    if fmt not in FORMATS:
        raise ValidationError({"format": f"unknown format '{fmt}' (one of {', '.join(FORMATS)})"})
    wanted = SHAPE_FILE_TASKS.get(fmt)
    if wanted and project.task_type != wanted:
        shapes = "boxes" if wanted == TaskType.DETECTION else "time segments"
        raise ValidationError(
            {"format": f"{fmt} files hold {shapes}: they import into a {wanted} project, not a {project.task_type} one"}
        )
    kinds = IMAGE_FILE_TASKS.get(fmt)
    if kinds and (project.task_type not in kinds or project.modality != "image"):
        raise ValidationError(
            {
                "format": f"{fmt} files hold boxes and image tags: they import into an image detection or "
                f"classification project, not a {project.modality} {project.task_type} one"
            }
        )
    answer_tasks = ANSWER_FILE_TASKS.get(fmt)
    if answer_tasks and project.task_type not in answer_tasks:
        raise ValidationError(
            {
                "format": f"a {fmt} file holds one class or transcript per answer: it imports into a classification "
                f"or transcription project, not a {project.task_type} one"
            }
        )
    if label_from_folder:
        raise ValidationError({"label_from_folder": "labels come from the labels file in an import with a format"})
    labeler = (labeler or "").strip()
    if (wanted or kinds) and not labeler:
        shapes = "segments" if wanted == TaskType.SEGMENTS else "boxes" if wanted else "labels"
        raise ValidationError(
            {"labeler": f"a {fmt} file names no annotator: give the username whose answers these {shapes} become"}
        )
    if labeler:
        try:
            UnicodeUsernameValidator()(labeler)
        except ValidationError:
            raise ValidationError({"labeler": f"'{labeler}' is not a valid username"}) from None
        if len(labeler) > 150:
            raise ValidationError({"labeler": "a username has at most 150 characters"})
    unanswered = images_without_boxes_check(project=project, fmt=fmt, value=images_without_boxes) == UNANSWERED
    return {"format": fmt, "labeler": labeler, **({"images_without_boxes": UNANSWERED} if unanswered else {})}


# --- what a labels file says ---------------------------------------------------------------------


@dataclass
class Answer:
    annotator: str  # a key of Parsed.annotators
    value: object  # as annotation_validate takes it
    where: str  # "annotation 1001 by ana@example.com"
    seconds: float | None = None
    flags: dict = field(default_factory=dict)  # borderline, uncertain, ... as annotation_validate takes them


@dataclass
class Task:
    """One labeled file: where it is described, how to find its item, and its answers."""

    where: str
    name: str = ""  # the media file's name (the new item's original name)
    load: Callable[[], bytes] | None = None
    text: str | None = None
    item: int | None = None  # an item the project already holds
    answers: list[Answer] = field(default_factory=list)
    error: str = ""
    entry: imports.ImportEntry | None = None  # the item import's entry for the file, once made
    size: tuple[float, float] | None = None  # the pixel size a COCO image declares, its boxes' frame
    lines: list = field(default_factory=list)  # a segments file's lines for the recording (_Line)
    metadata: dict = field(default_factory=dict)  # the new item's metadata (a Hugging Face line's columns)
    pixel_boxes: list | None = None  # boxes in pixels of an image of unknown size, placed once it is stored


@dataclass
class Annotator:
    username: str = ""  # an exact username (the import's labeler, or label-studio-<id>)
    email: str = ""
    first_name: str = ""
    last_name: str = ""


@dataclass
class Parsed:
    tasks: list[Task] = field(default_factory=list)
    annotators: dict[str, Annotator] = field(default_factory=dict)
    rejected: list[dict] = field(default_factory=list)  # entries that belong to no task
    ids: dict[int, str] = field(default_factory=dict)  # Label Studio user id -> annotator key, once seen


class _Classes:
    """The project's active classes, found by key, or by key or name ignoring case; else a key a taxonomy
    change renamed or merged away, found (ignoring case too) as the active class it became. Labels exported
    before "lizard" was merged into "iguana" go in as iguanas, as a labeler's answer saved from a page opened
    before the merge does (``labeling.services.shapes``), instead of rejecting every file naming a lizard."""

    def __init__(self, project):
        self.project = project
        active = project.active_classes()
        self.keys = {c.key for c in active}
        self.folded = {}
        for c in active:
            self.folded.setdefault(c.name.strip().casefold(), c.key)
        for c in active:
            self.folded[c.key.casefold()] = c.key
        self.old = None

    def _old_keys(self) -> dict:
        """{old key, exact and case-folded: active key} of the project's taxonomy changes, read once."""
        if self.old is None:
            mapping = {k: v for k, v in class_mapping(project=self.project).items() if v in self.keys}
            self.old = {k.casefold(): v for k, v in mapping.items()} | mapping
        return self.old

    def key(self, label) -> str:
        if isinstance(label, str):
            if label in self.keys:
                return label
            found = self.folded.get(label.strip().casefold())
            if found:
                return found
            old = self._old_keys()
            found = old.get(label) or old.get(label.strip().casefold())
            if found:
                return found
        raise Bad(f"unknown class {json.dumps(label)} (the project's classes: {', '.join(sorted(self.keys))})")


def _tail(a, b) -> int:
    """How many trailing parts (the name, then its folders upwards) two paths share."""
    n = 0
    for x, y in zip(reversed(a), reversed(b), strict=False):
        if x != y:
            break
        n += 1
    return n


def _closest(parts, named):
    """Of ``named`` (``(target, [parts, ...])`` sharing ``parts``' name), those whose path is ``parts``,
    else those sharing the most trailing folders with it."""
    exact = [target for target, paths in named if parts in paths]
    if exact:
        return exact
    scores = [max(_tail(parts, p) for p in paths) for _, paths in named]
    best = max(scores, default=0)
    return [target for (target, _), score in zip(named, scores, strict=True) if score == best]


def _listed(names, limit=3):
    shown = ", ".join(names[:limit])
    return shown + (f", ... ({len(names) - limit} more)" if len(names) > limit else "")


class _Media:
    """Finds a labeled file, in the uploaded zip or else among the project's items, by the most specific
    evidence: its full relative path (an item's original name, a manifest line's path), else the one path
    sharing the most trailing folders with it (``images/a/x.png`` is the item ``a/x.png``, not ``b/x.png``),
    else its base name when only one file or item has it; several equally close are an error naming them."""

    def __init__(self, project, archive=None):
        self.project = project
        self.archive = archive
        self.paths = {}
        self.bases = defaultdict(list)
        self.bad = []
        if archive is not None:
            members, bad = imports.archive_members(archive)
            self.bad = [{"name": name, "reason": reason} for name, reason in bad]
            for name, info in members.items():
                if name.startswith("__MACOSX/") or posixpath.basename(name).startswith("."):
                    continue
                name = unicodedata.normalize("NFC", name)
                self.paths[name] = info
                self.bases[posixpath.basename(name)].append(name)
        self._items = None
        self._stems = None
        self._clip_stems = self._clip_stems_spaced = None
        self._names = {}  # item id -> its original name, as messages name it
        self._paths = {}  # item id -> its paths as parts

    def items(self):
        """{base name: [(item id, [its paths as parts])]}: an item is known by its original name and, for
        a manifest line's item (``line 3 (img/a.png)``), by the line's path."""
        if self._items is None:
            self._items = defaultdict(list)
            for pk, original in Item.objects.filter(project=self.project).values_list("id", "original_name"):
                paths = list(dict.fromkeys(p for p in (path_parts(original), path_parts(file_path(original))) if p))
                self._names[pk] = original or f"item {pk}"
                self._paths[pk] = paths
                for base in dict.fromkeys(p[-1] for p in paths):
                    self._items[base].append((pk, [p for p in paths if p[-1] == base]))
        return self._items

    def stems(self):
        """``items`` by name without its extension: {stem: [(item id, [its paths as parts, extension off])]}."""
        if self._stems is None:
            self._stems = defaultdict(list)
            for named in self.items().values():
                for pk, paths in named:
                    for p in paths:
                        stemmed = (*p[:-1], posixpath.splitext(p[-1])[0])
                        self._stems[stemmed[-1]].append((pk, [stemmed]))
        return self._stems

    def loader(self, name):
        info = self.paths[name]
        limit = settings.LABELHUB_MAX_FILE_BYTES
        if info.file_size > limit:
            raise Bad(f"{name} is {info.file_size:,} bytes, over the limit of {limit:,}")
        return imports.zip_member_reader(self.archive, info)

    def _item(self, task, found, shown):
        found = list(dict.fromkeys(found))
        if len(found) > 1:
            names = [self._names[pk] for pk in found]
            if len(set(names)) < len(names):  # the same name imported twice (different content)
                names = [f"{name} (item {pk})" for name, pk in zip(names, found, strict=True)]
            raise Bad(f"'{shown}' matches {len(found)} items of the project: {_listed(sorted(names))}")
        task.name, task.item = self._names[found[0]], found[0]

    def find(self, task, candidates):
        """Point the task at its file (``load``) or item; raise Bad when none or several match."""
        candidates = [path_parts(c) for c in candidates if c]
        candidates = [c for c in candidates if c]
        for parts in candidates:
            key = "/".join(parts)
            if key in self.paths:
                task.name, task.load = key, self.loader(key)
                return
        for parts in candidates:
            found = _closest(parts, [(name, [path_parts(name)]) for name in self.bases.get(parts[-1], [])])
            if len(found) > 1:
                raise Bad(f"'{'/'.join(parts)}' matches {len(found)} files in the archive ({_listed(sorted(found))})")
            if found:
                task.name, task.load = found[0], self.loader(found[0])
                return
        for parts in candidates:
            found = _closest(parts, self.items().get(parts[-1], []))
            if found:
                return self._item(task, found, "/".join(parts))
        shown = candidates[0][-1] if candidates else "?"
        where = "among the project's items"
        if self.archive is not None:
            where = "in the archive or " + where
        raise Bad(f"no file '{shown}' {where}")

    def stem_items(self, stem) -> tuple[list[int], bool]:
        """The project's items whose path without its extension is ``stem`` (a YOLO label file's path
        under ``labels/``), as ``find`` matches paths, and whether they were found by an item id: a YOLO
        export names a later item whose path repeats an earlier one's (``a/x.png``, ``a/x.jpg``)
        ``a/x-<item id>``, which stands for that item when no item is named so."""
        parts = path_parts(stem)
        if not parts:
            return [], False
        found = list(dict.fromkeys(_closest(parts, self.stems().get(parts[-1], []))))
        numbered = re.fullmatch(r"(.+)-([0-9]{1,18})", parts[-1]) if not found else None
        if numbered and int(numbered.group(2)) in self._paths:
            pk, earlier = int(numbered.group(2)), numbered.group(1)
            named = {posixpath.splitext(p[-1])[0] for p in self._paths[pk]}
            if any(re.fullmatch(re.escape(name) + r"(-[0-9]+)*", earlier) for name in named):
                return [pk], True
        return found, False

    def find_stem(self, task, stem, claimed=()):
        """Point the task at the item ``stem_items`` finds; of several, those not ``claimed`` (found by
        their id for other label files of the archive: ``a/x.txt`` is the item ``a/x-<id>.txt`` is not).
        Raise Bad when none or several match."""
        found, _ = self.stem_items(stem)
        if not found and _ls_unprefixed(stem) != stem:  # Label Studio's YOLO export, without its images
            found, _ = self.stem_items(_ls_unprefixed(stem))
        if len(found) > 1 and [pk for pk in found if pk not in claimed]:
            found = [pk for pk in found if pk not in claimed]
        shown = "/".join(path_parts(stem)) or "?"
        if not found:
            raise Bad(f"no image {shown}.* in the archive or among the project's items")
        self._item(task, found, f"{shown}.*")

    def find_recording(self, task, file_id, claimed=()):
        """Point the task at the clip an RTTM file id names: its name without the extension (folders kept or
        not), in the zip, else among the project's items as ``find_stem`` finds them; else an item whose name
        has whitespace where the id has ``_`` (RTTM fields have no spaces: the export writes ``a b.wav`` as
        ``a_b``). Raise Bad when none or several match."""
        parts = path_parts(file_id)
        if not parts:
            raise Bad(f"the file id '{file_id}' names no file")
        if self._clip_stems is None:
            # {name without folders and extension: [(clip, [its path, extension off])]}, and the same with
            # whitespace as "_", as RTTM writes a name: looked up only when no clip has the name itself.
            self._clip_stems, self._clip_stems_spaced = defaultdict(list), defaultdict(list)
            for name in self.paths:
                if posixpath.splitext(name)[1].lower() in AUDIO_EXTENSIONS:
                    stem = path_parts(posixpath.splitext(name)[0])
                    self._clip_stems[stem[-1]].append((name, [stem]))
                    spaced = tuple(re.sub(r"\s", "_", p) for p in stem)
                    if spaced != stem:
                        self._clip_stems_spaced[spaced[-1]].append((name, [spaced]))
        found = _closest(parts, self._clip_stems.get(parts[-1], []))
        if not found:
            found = _closest(parts, self._clip_stems_spaced.get(parts[-1], []))
        if len(found) > 1:
            raise Bad(f"'{file_id}' matches {len(found)} clips in the archive ({_listed(sorted(found))})")
        if found:
            task.name, task.load = found[0], self.loader(found[0])
            return
        if self.stem_items(file_id)[0]:
            return self.find_stem(task, file_id, claimed)
        spaced = [
            (pk, [tuple(re.sub(r"\s", "_", x) for x in p)]) for entries in self.stems().values()
            for pk, paths in entries for p in paths if "_" in parts[-1] and re.sub(r"\s", "_", p[-1]) == parts[-1]
        ]  # fmt: skip
        found = _closest(parts, spaced)
        if not found:
            where = "in the archive or among the project's items" if self.archive else "among the project's items"
            raise Bad(f"no clip '{'/'.join(parts)}.*' {where}")
        self._item(task, found, f"{file_id}.*")


def _number(value, what):
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise Bad(f"{what} must be a number, not {json.dumps(value)}")
    try:
        number = float(value)  # an integer of 400 digits does not fit a float: OverflowError
    except OverflowError:
        raise Bad(f"{what} is out of range") from None
    if not math.isfinite(number):
        raise Bad(f"{what} must be a number, not {json.dumps(value)}")
    return number


def _box(x, y, w, h, label, what) -> dict:
    """A box in fractions, checked against the image (what: where it came from, for the message)."""
    if w <= 0 or h <= 0:
        raise Bad(f"{what}: the size must be positive (w = {w:.6g}, h = {h:.6g})")
    if x < -EDGE_SLACK or y < -EDGE_SLACK or x + w > 1 + EDGE_SLACK or y + h > 1 + EDGE_SLACK:
        raise Bad(
            f"{what}: the box x = {x:.4g}..{x + w:.4g}, y = {y:.4g}..{y + h:.4g} (fractions) is outside the image"
        )
    x, y = max(x, 0.0), max(y, 0.0)
    return {"x": x, "y": y, "w": min(w, 1.0 - x), "h": min(h, 1.0 - y), "label": label}


def _pixel_box(x, y, w, h, size, label, what, shown) -> dict:
    """A box in pixels of an image of ``size`` (width, height) as fractions; ``shown`` is how the file wrote
    it, for the message. Exporters round: a box within half a pixel of an edge ends at the edge."""
    width, height = size
    if -HALF_PIXEL <= x < 0:
        w, x = w + x, 0.0
    if -HALF_PIXEL <= y < 0:
        h, y = h + y, 0.0
    if width < x + w <= width + HALF_PIXEL:
        w = width - x
    if height < y + h <= height + HALF_PIXEL:
        h = height - y
    if x < 0 or y < 0 or x + w > width or y + h > height:
        raise Bad(f"{what}: {shown} reaches outside the {width:g} x {height:g} pixel image")
    return _box(x / width, y / height, w / width, h / height, label, what)


def _first_error(errors):
    return errors[0] + (f" (and {len(errors) - 1} more)" if len(errors) > 1 else "")


# --- COCO ----------------------------------------------------------------------------------------


def _coco_folders(filename) -> list[str]:
    """Folders of a zip a COCO file's ``file_name`` may be relative to, besides the zip's top: the file's
    own folder (Roboflow's ``train/_annotations.coco.json`` beside its images), and for a file in an
    ``annotations/`` folder its subset's image folder (CVAT's ``annotations/instances_train.json`` with
    ``images/train/``; COCO's own ``instances_val2017.json`` with ``val2017/``)."""
    folder = posixpath.dirname(filename)
    folders = [folder, posixpath.join(folder, "images")] if folder else []
    stem = posixpath.splitext(posixpath.basename(filename))[0]
    subset = stem.split("_", 1)[1] if "_" in stem else ""
    if posixpath.basename(folder) == "annotations":
        root = posixpath.dirname(folder)
        if subset:
            folders += [posixpath.join(root, "images", subset), posixpath.join(root, subset)]
        folders.append(posixpath.join(root, "images"))
    return folders


class _CocoFile:
    """A COCO file read one list at a time, a record at a time (ijson), instead of as the whole file's
    objects: a train2017-sized file (448 MB) is several GB of them, while its tasks and boxes are a
    fraction of that. Each list is a pass over the file, so the keys may come in any order. A number
    ijson refuses (an integer beyond 64 bits) raises _NotStreamed: the file is read whole instead."""

    def __init__(self, open_file, filename):
        self.open_file = open_file  # a context manager: the file as bytes, at the JSON's start
        self.filename = filename
        self.categories = []

    def records(self, key):
        """The records of the list ``key``; raises _NotStreamed when it has none (the file may have no such
        list, or another shape)."""
        n = 0
        with self.open_file() as f:
            try:
                for n, record in enumerate(ijson.items(f, f"{key}.item", use_float=True), 1):  # noqa: B007
                    yield record
            except ijson.JSONError:
                raise _NotStreamed from None
        if not n:
            raise _NotStreamed

    def whole(self):
        """The file as ``json.loads`` reads it (raises InputRejected as ``_read_json`` does)."""
        with self.open_file() as f:
            return _read_json(f.read(), self.filename)

    def has(self, key) -> bool:
        with self.open_file() as f:
            return next(ijson.items(f, f"{key}.item", use_float=True), _CocoFile) is not _CocoFile


class _NotStreamed(Exception):
    pass


# Arrays and objects inside each other a labels file may hold (a COCO polygon is 5 deep, a Label Studio task 8)
MAX_LABELS_DEPTH = 64


DEPTH_CHUNK_BYTES = 2**18


def _json_depth(f, limit: int) -> int:
    """How deep a JSON file's arrays and objects nest, as far as ``limit`` (the first depth past it ends the
    read), from its bytes: brackets counted outside strings (a quote ends a string unless an odd run of
    backslashes is before it), a chunk at a time with numpy, on the positions of quotes, backslashes and
    brackets only. No JSON is parsed: malformed JSON is left to the readers, which name its problem."""
    depth = deepest = 0
    in_string, slashes = False, 0  # carried over chunks: inside a string; backslashes ending the last chunk
    while chunk := f.read(DEPTH_CHUNK_BYTES):
        b = np.frombuffer(chunk, dtype=np.uint8)
        quotes = np.flatnonzero(b == 34)
        back = np.flatnonzero(b == 92)
        before = np.zeros(quotes.size, dtype=np.int64)  # backslashes in the run just before each quote
        carried = slashes
        slashes = 0
        if back.size:
            new_run = np.r_[True, back[1:] != back[:-1] + 1]
            run_start = back[new_run][np.cumsum(new_run) - 1]
            upto = back - run_start + 1 + np.where(run_start == 0, carried, 0)  # at byte 0: the last chunk's run
            at = np.minimum(np.searchsorted(back, quotes - 1), back.size - 1)
            before = np.where(back[at] == quotes - 1, upto[at], 0)
            if back[-1] == b.size - 1:
                slashes = int(upto[-1])
        before[quotes == 0] = carried
        quotes = quotes[before % 2 == 0]
        brackets = np.flatnonzero((b == 91) | (b == 123) | (b == 93) | (b == 125))
        # outside a string: an even number of real quotes before it (with the carried state)
        outside = (np.searchsorted(quotes, brackets) + in_string) % 2 == 0
        brackets = brackets[outside]
        step = np.where((b[brackets] == 91) | (b[brackets] == 123), 1, -1)
        if step.size:
            level = depth + np.cumsum(step)
            deepest = max(deepest, int(level.max()))
            depth = int(level[-1])
        in_string = (quotes.size + in_string) % 2 == 1
        if deepest > limit:
            break
    return deepest


def _depth_checked(open_file, filename) -> None:
    """InputRejected when the JSON nests deeper than ``MAX_LABELS_DEPTH`` (``_json_depth``, before any parser
    reads it): ijson names each event by its path from the root, so a file of 100,000 brackets inside each
    other (200 kB) was 100,000 paths 100,000 levels long, tens of GB and minutes of CPU, before any record
    was read. Counting ijson's events instead cost 2.2 s of CPU per 100 MB of COCO (the import of a 76 MB
    file 5.7 -> 7.4 s); the byte count costs 0.5 s per 100 MB (5.9 s)."""
    with open_file() as f:
        if _json_depth(f, MAX_LABELS_DEPTH) > MAX_LABELS_DEPTH:
            raise InputRejected(
                f"{filename}: JSON nested over {MAX_LABELS_DEPTH} levels deep (arrays and objects inside "
                "each other): no labels file is"
            )


def _coco_read(open_file, filename):
    """A COCO file as ``coco_parse`` takes it: streamed (``_CocoFile``) when it is valid JSON with a
    non-empty ``categories`` list; else (any other shape, or JSON the streaming parser refuses: NaN, not
    UTF-8, not JSON) as ``json.loads`` reads it whole, its errors and messages as before. So is a streamed
    file ``coco_parse`` finds without images or annotations."""
    _depth_checked(open_file, filename)
    streamed = _CocoFile(open_file, filename)
    try:
        # a pass over the whole file: its JSON is checked before anything of it is used
        streamed.categories = list(streamed.records("categories"))
        return streamed
    except _NotStreamed:
        return streamed.whole()


def _json_opener(read_from_start):
    """``open_file`` for ``_CocoFile``: ``read_from_start()`` (a context manager) with a UTF-8 BOM skipped."""

    @contextlib.contextmanager
    def open_file():
        with read_from_start() as f:
            if f.read(len(codecs.BOM_UTF8)) != codecs.BOM_UTF8:
                f.seek(0)
            yield f

    return open_file


SIZELESS_COCO_IMAGE = (
    "the image declares no width and height, so its boxes have no frame (Label Studio's COCO export lists a task "
    "nobody labeled so): nothing of it is imported"
)


def coco_parse(*, data, filename, project, media, labeler, folders=(), unanswered=False) -> Parsed:
    """Tasks of a COCO detection file: one per entry of ``images``, its boxes the labeler's answer
    (an image without annotations: "nothing here"). A ``file_name`` is looked for as it is, then in
    each of ``folders`` of the zip. ``data`` is the file's JSON, or the file streamed (``_coco_read``).
    With ``unanswered`` (``images_without_boxes``) an image declared without a size and given no box, as Label
    Studio lists a task nobody labeled, is one more image without boxes rather than refused."""
    if isinstance(data, _CocoFile):
        try:
            return _coco_tasks(data=data, filename=filename, project=project, media=media, labeler=labeler,
                               folders=folders, unanswered=unanswered)  # fmt: skip
        except _NotStreamed:
            data = data.whole()
    return _coco_tasks(data=data, filename=filename, project=project, media=media, labeler=labeler, folders=folders,
                       unanswered=unanswered)  # fmt: skip


def _coco_tasks(*, data, filename, project, media, labeler, folders, unanswered) -> Parsed:
    streamed = isinstance(data, _CocoFile)
    if not streamed and (
        not isinstance(data, dict) or not all(isinstance(data.get(k), list) for k in ("images", "annotations"))
    ):
        raise InputRejected(f"{filename}: a COCO file is an object with 'images', 'annotations' and 'categories' lists")
    classes = _Classes(project)
    parsed = Parsed(annotators={"labeler": Annotator(username=labeler)})
    categories = {}
    for n, cat in enumerate(data.categories if streamed else data.get("categories") or []):
        if not isinstance(cat, dict) or "id" not in cat or not isinstance(cat.get("name"), str):
            raise InputRejected(f"{filename}: categories[{n}] needs an 'id' and a 'name'")
        categories[cat["id"]] = cat["name"]
    tasks, sizes, errors, sizeless = {}, {}, defaultdict(list), set()
    for n, image in enumerate(data.records("images") if streamed else data["images"]):
        if not isinstance(image, dict) or "id" not in image:
            parsed.rejected.append({"name": f"{filename} images[{n}]", "reason": "an image needs an 'id'"})
            continue
        task = Task(where=f"{filename} image {image['id']} ({image.get('file_name', '?')})")
        if image["id"] in tasks:
            parsed.rejected.append({"name": task.where, "reason": f"image id {image['id']} appears twice"})
            continue
        tasks[image["id"]] = task
        try:
            if not isinstance(image.get("file_name"), str) or not image["file_name"]:
                raise Bad("the image has no file_name")
            if image.get("width") is None and image.get("height") is None:
                # Label Studio's COCO export, its images not with it, lists a task nobody labeled so
                if not unanswered:
                    raise Bad(SIZELESS_COCO_IMAGE)
                sizeless.add(image["id"])  # left unanswered, unless the file gives it boxes
            else:
                width, height = _number(image.get("width"), "width"), _number(image.get("height"), "height")
                if width <= 0 or height <= 0:
                    raise Bad(f"the image size {width:g} x {height:g} is not positive")
                sizes[image["id"]] = task.size = (width, height)
            file_name = image["file_name"]
            candidates = [file_name, *(posixpath.join(f, *path_parts(file_name)) for f in folders)]
            media.find(task, [*candidates, _ls_unprefixed(file_name)])
        except Bad as exc:
            errors[image["id"]].append(str(exc))
    boxes, counts = defaultdict(list), defaultdict(int)
    for n, ann in enumerate(data.records("annotations") if streamed else data["annotations"]):
        what = f"annotation {ann.get('id', f'#{n}') if isinstance(ann, dict) else f'#{n}'}"
        image_id = ann.get("image_id") if isinstance(ann, dict) else None
        if image_id not in tasks:
            parsed.rejected.append(
                {"name": f"{filename} {what}", "reason": f"image_id {json.dumps(image_id)} is not among the images"}
            )
            continue
        if image_id in sizeless:
            errors[image_id] = [SIZELESS_COCO_IMAGE]
            continue
        if image_id not in sizes:
            continue  # the image itself is already rejected
        counts[image_id] += 1
        if counts[image_id] > MAX_SHAPES:
            continue  # counted, not read: the image is refused below
        try:
            if ann.get("category_id") not in categories:
                raise Bad(f"{what}: category_id {json.dumps(ann.get('category_id'))} is not among the categories")
            label = classes.key(categories[ann["category_id"]])
            bbox = ann.get("bbox")
            if not isinstance(bbox, list) or len(bbox) != 4:
                raise Bad(f"{what}: bbox must be [x, y, width, height] in pixels, not {json.dumps(bbox)}")
            x, y, w, h = (_number(v, f"{what}: bbox") for v in bbox)
            box = _pixel_box(x, y, w, h, sizes[image_id], label, what, f"bbox {json.dumps(bbox)}")
            boxes[image_id].append(_coco_flags(ann, box))
        except Bad as exc:
            errors[image_id].append(f"{what}: {exc}" if not str(exc).startswith(what) else str(exc))
    for image_id, n in counts.items():
        if n > MAX_SHAPES:
            errors[image_id] = [f"{n:,} annotations, over the limit of {MAX_SHAPES}"]
    for image_id, task in tasks.items():
        if errors.get(image_id):
            task.error = _first_error(errors[image_id])
        else:
            task.answers.append(Answer(annotator="labeler", value={"boxes": boxes[image_id]}, where="boxes"))
        parsed.tasks.append(task)
    return parsed


def _coco_flags(ann, box) -> dict:
    """``box`` with the flags of its annotation's ``attributes`` (CVAT's COCO 1.0 export writes a label's
    checkbox attributes there, ``{"occluded": false, "difficult": true}``): a key named as a CVAT XML attribute
    that flags (``CVAT_FLAG_ATTRIBUTES``, any case) set true (``true``, 1, or the text "true") makes the box
    borderline or uncertain; ``occluded`` and the rest are not read."""
    attributes = ann.get("attributes")
    if isinstance(attributes, dict):
        for name, value in attributes.items():
            flag = CVAT_FLAG_ATTRIBUTES.get(str(name).strip().lower())
            # a JSON true as CVAT writes it; 1 or "true" as other writers might (ijson reads 1.0 as a Decimal)
            on = value is True or (isinstance(value, str) and _xml_true(value))
            on = on or (isinstance(value, numbers.Number) and not isinstance(value, bool) and value == 1)
            if flag and on:
                box[flag] = True
    return box


# --- YOLO ----------------------------------------------------------------------------------------


def _yaml_names(name, text) -> tuple[list[str], bool]:
    """The class names of a YOLO dataset YAML (``names`` a list, or a mapping numbered 0, 1, 2, ...), and
    whether its lines are poses (``kpt_shape``: a box, then its keypoints)."""
    try:
        loaded = yaml.safe_load(text) or {}
        names = loaded.get("names")
    except (yaml.YAMLError, AttributeError) as exc:
        raise InputRejected(f"{name}: not a YAML mapping with 'names' ({exc})") from None
    except RecursionError:
        raise InputRejected(f"{name}: not a YAML mapping with 'names' (nested too deeply to read)") from None
    if isinstance(names, dict):
        try:
            names = [names[i] for i in range(len(names))]
        except KeyError:
            raise InputRejected(f"{name}: names must be numbered 0, 1, 2, ...") from None
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise InputRejected(f"{name}: 'names' must be a list of class names")
    return names, bool(loaded.get("kpt_shape"))


def _yolo_names(archive, media) -> tuple[list[str], str, bool]:
    """The class names: ``classes.txt``, ``obj.names`` or ``data.yaml`` (the shallowest), else the one YAML
    file with ``names`` (a dataset folder's own ``coco8.yaml``, as Ultralytics names them)."""
    by_depth = sorted(media.paths, key=lambda n: (n.count("/"), n))
    found = [name for name in by_depth if posixpath.basename(name) in YOLO_NAME_FILES]
    if not found:
        for name in by_depth:
            if name.lower().endswith((".yaml", ".yml")) and media.paths[name].file_size <= 1_000_000:
                text = archive.read(media.paths[name]).decode("utf-8-sig", errors="replace")
                try:
                    loaded = yaml.safe_load(text)
                except (yaml.YAMLError, RecursionError):
                    continue
                if isinstance(loaded, dict) and "names" in loaded:
                    return *_yaml_names(name, text), name
        raise InputRejected(
            "a YOLO archive needs classes.txt, obj.names, _darknet.labels or data.yaml naming the classes"
        )
    name = found[0]
    try:
        text = _member_bytes(archive, media.paths[name], name).decode("utf-8-sig")
    except Bad as exc:
        raise InputRejected(str(exc)) from None
    if name.endswith((".yaml", ".yml")):
        names, pose = _yaml_names(name, text)
        return names, name, pose
    return [line.strip() for line in text.splitlines() if line.strip()], name, False


def _is_yolo_label(name):
    base = posixpath.basename(name).lower()
    return base.endswith(".txt") and base not in YOLO_NAME_FILES and not base.startswith("readme")


def _member_bytes(archive, info, name) -> bytes:
    """A zip member's bytes, or Bad when it is over the per-file limit: a member is read whole, and a label
    file of gigabytes of spaces is a few megabytes compressed."""
    limit = settings.LABELHUB_MAX_FILE_BYTES
    if info.file_size > limit:
        raise Bad(f"{name} is {info.file_size:,} bytes, over the limit of {limit:,}")
    return archive.read(info)


def _is_image_list(archive, info) -> bool:
    """A ``train.txt`` (``valid.txt``, ...) listing a split's images, one path a line, as CVAT's YOLO and
    Ultralytics exports write beside the labels: not a label file (an empty file is one, without boxes)."""
    if info.file_size > settings.LABELHUB_MAX_FILE_BYTES:
        return False
    lines = archive.read(info).decode("utf-8-sig", errors="replace").splitlines()
    lines = [line.strip() for line in lines if line.strip()]
    return bool(lines) and all(line.lower().endswith(IMAGE_EXTENSIONS) for line in lines)


def _yolo_stem(label_file):
    """The image path (without extension) a label file stands for: its path under ``labels/``
    (``labels/a/x.txt`` is ``a/x``, as LabelHub's YOLO export writes it), else its whole path."""
    parts = label_file.split("/")
    if "labels" in parts[:-1]:
        parts = parts[parts.index("labels") + 1 :]
    return posixpath.splitext("/".join(parts))[0]


def yolo_parse(*, archive, project, media, labeler) -> Parsed:
    """Tasks of a YOLO archive: each label file (``class cx cy w h`` per line, fractions of the image)
    with its image (``images/...`` beside ``labels/...``, else the one image of the same stem in the
    archive, else the project's item at the label file's path under ``labels/``, ``labels/a/x.txt``
    being the item ``a/x.png`` as ``_Media`` matches paths); an image without a label file has no boxes."""
    names, names_file, pose = _yolo_names(archive, media)
    classes = _Classes(project)
    parsed = Parsed(annotators={"labeler": Annotator(username=labeler)})
    texts = [n for n in media.paths if _is_yolo_label(n) and not _is_image_list(archive, media.paths[n])]
    labels = [n for n in texts if "labels" in n.split("/")[:-1] or "/" not in n]
    if not labels:  # CVAT's YOLO 1.1: each label file beside its image (obj_train_data/a.txt, a.jpg)
        labels = texts
    images = [n for n in media.paths if n.lower().endswith(IMAGE_EXTENSIONS)]
    by_stem = defaultdict(list)
    for name in images:
        by_stem[posixpath.splitext(posixpath.basename(name))[0]].append(name)
    paired = set()
    claimed = set()  # items a label file names by their id (labels/a/x-<id>.txt)
    for stem in (_yolo_stem(n) for n in labels):
        found, by_id = media.stem_items(stem) if re.search(r"-[0-9]+$", stem) else ([], False)
        if by_id:
            claimed.update(found)
    for label_file in sorted(labels):
        task = Task(where=label_file)
        parsed.tasks.append(task)
        stem = posixpath.splitext(posixpath.basename(label_file))[0]
        parts = label_file.split("/")
        beside = ["/".join("images" if p == "labels" else p for p in parts[:-1])] if "labels" in parts[:-1] else []
        folders = [*beside, posixpath.dirname(label_file)]  # images/ for labels/, else its own folder
        try:
            image = next(
                (n for folder in folders for n in by_stem.get(stem, []) if posixpath.dirname(n) == folder), None
            )
            if image is None and len(by_stem.get(stem, [])) > 1:
                raise Bad(f"{len(by_stem[stem])} images are named {stem}.* ({', '.join(by_stem[stem][:3])})")
            image = image or (by_stem[stem][0] if by_stem.get(stem) else None)
            if image is not None:
                paired.add(image)
                task.name, task.load = image, media.loader(image)
            else:
                media.find_stem(task, _yolo_stem(label_file), claimed)
            boxes, errors = [], []
            text = _member_bytes(archive, media.paths[label_file], label_file).decode("utf-8-sig")
            lines = text.splitlines()
            given = sum(1 for line in lines if line.strip())
            if given > MAX_SHAPES:
                raise Bad(f"{given:,} boxes, over the limit of {MAX_SHAPES}")
            for number, line in enumerate(lines, start=1):
                if not line.strip():
                    continue
                try:
                    boxes.append(_yolo_line(line, names, names_file, classes, f"line {number}", pose=pose))
                except Bad as exc:
                    errors.append(str(exc))
            if errors:
                raise Bad(_first_error(errors))
        except (Bad, UnicodeDecodeError) as exc:
            task.error = str(exc) if isinstance(exc, Bad) else "not UTF-8 text"
            continue
        task.answers.append(Answer(annotator="labeler", value={"boxes": boxes}, where="boxes"))
    for image in sorted(set(images) - paired):
        task = Task(where=image, name=image, load=media.loader(image))
        task.answers.append(Answer(annotator="labeler", value={"boxes": []}, where="no label file"))
        parsed.tasks.append(task)
    return parsed


def _yolo_line(line, names, names_file, classes, what, pose=False) -> dict:
    """A label line's box: ``class cx cy w h`` (a sixth value, CVAT's track id or a confidence, is not the
    box's; a pose's keypoints after it neither); a polygon ``class x1 y1 x2 y2 x3 y3 ...`` (Ultralytics'
    segmentation, four corners for an oriented box; a track id may end it) is the upright box around it."""
    parts = line.split()
    if len(parts) < 5:
        raise Bad(f"{what}: a box is 'class cx cy w h' (5 values), not {len(parts)} values")
    try:
        index = int(parts[0])
        values = [float(p) for p in parts[1:]]
    except ValueError:
        raise Bad(f"{what}: '{line.strip()[:60]}' is not 'class cx cy w h' numbers") from None
    if len(values) in (4, 5) or pose:
        cx, cy, w, h = values[:4]
    else:
        points = values if len(values) % 2 == 0 else values[:-1]  # an odd count ends in a track id
        xs, ys = points[0::2], points[1::2]
        if not all(map(math.isfinite, points)):
            raise Bad(f"{what}: a polygon's points must be numbers")
        w, h = max(xs) - min(xs), max(ys) - min(ys)
        cx, cy = min(xs) + w / 2, min(ys) + h / 2
    if not 0 <= index < len(names):
        raise Bad(f"{what}: class {index} is not in {names_file} ({len(names)} classes)")
    try:
        label = classes.key(names[index])
    except Bad as exc:
        raise Bad(f"{what}: class {index} of {names_file}: {exc}") from None
    return _box(cx - w / 2, cy - h / 2, w, h, label, what)


# --- XML: CVAT for images 1.1 and Pascal VOC -----------------------------------------------------


def _xml_parser(builder, caps=None, on_start=None, on_end=None):
    """An expat parser building ``builder``'s elements, with a DOCTYPE refused where it starts, so the file
    declares no entity, let alone one expanding to gigabytes ("billion laughs") or reading a local file:
    CVAT and VOC files have none. The refusal raises Bad naming the line. Answers the parser and ``over``.

    ``caps``: {parent tag: (child tags, limit)}: of a parent's children of those tags only the first
    ``limit`` are built; past that they are counted, not kept (a million boxes on one image were a million
    elements, then a million boxes, before the answer was refused for holding over ``MAX_SHAPES``). ``over``
    fills with {parent element: its number of such children} of the parents that had more.
    ``on_start(element, depth)`` / ``on_end(element, depth)``: called as a built element starts / ends
    (depth 0: the root)."""
    parser = expat.ParserCreate()
    caps = caps or {}
    stack = []  # [tag, element, capped children] of the elements open
    skipping = 0  # depth inside a child past its parent's cap
    over = {}

    def doctype(*_):
        raise Bad(f"line {parser.CurrentLineNumber}: a DOCTYPE (entity declarations) is not read in a labels file")

    def start(tag, attributes):
        nonlocal skipping
        if skipping:
            skipping += 1
            return
        if stack and stack[-1][0] in caps:
            tags, limit = caps[stack[-1][0]]
            if tag in tags:
                stack[-1][2] += 1
                if stack[-1][2] > limit:
                    over[stack[-1][1]] = stack[-1][2]
                    skipping = 1
                    return
        element = builder.start(tag, attributes)
        if on_start is not None:
            on_start(element, len(stack))
        stack.append([tag, element, 0])

    def end(tag):
        nonlocal skipping
        if skipping:
            skipping -= 1
            return
        stack.pop()
        element = builder.end(tag)
        if on_end is not None:
            on_end(element, len(stack))

    def data(text):
        if not skipping:
            builder.data(text)

    parser.StartDoctypeDeclHandler = doctype
    parser.EntityDeclHandler = doctype
    parser.StartElementHandler = start
    parser.EndElementHandler = end
    parser.CharacterDataHandler = data
    return parser, over


def _xml_feed(parser, data, final):
    try:
        parser.Parse(data, final)
    except expat.ExpatError as exc:
        message = expat.errors.messages[exc.code]
        raise Bad(f"not well-formed XML: {message} (line {exc.lineno}, column {exc.offset + 1})") from None


def _xml_root(raw: bytes, caps=None):
    """An XML file's root element (``_xml_parser``: a DOCTYPE refused). Raise Bad naming the line. With
    ``caps`` (as ``_xml_parser`` takes them), answers the root and ``over``."""
    builder = ElementTree.TreeBuilder()
    parser, over = _xml_parser(builder, caps)
    _xml_feed(parser, raw, True)
    root = builder.close()
    return (root, over) if caps else root


XML_CHUNK_BYTES = 2**16


class _XmlChildren:
    """The children of an XML file's root element, each whole (its subtree) once it ends, read by expat from
    a binary file a chunk at a time (``_xml_parser``: a DOCTYPE refused) and let go once the loop has it, so
    that the file's elements are never all held at once: a CVAT ``annotations.xml`` of 100,000 images is
    hundreds of MB, and its elements several times that. ``root`` is the root element (without the children
    already read), once the loop has begun; ``over`` as ``_xml_parser`` answers it for ``caps``. Iterating
    raises Bad as ``_xml_root`` does, when the parse reaches the problem (so after the children before it)."""

    def __init__(self, open_file, caps=None):
        self.open_file = open_file  # a context manager: the file as bytes, at its start
        self.caps = caps
        self.root = None
        self.over = {}

    def __iter__(self):
        builder = ElementTree.TreeBuilder()
        ended = []

        def start(element, depth):
            if depth == 0:
                self.root = element

        def end(element, depth):
            if depth == 1:
                ended.append(element)

        parser, self.over = _xml_parser(builder, self.caps, on_start=start, on_end=end)
        with self.open_file() as f:
            while True:
                chunk = f.read(XML_CHUNK_BYTES)
                _xml_feed(parser, chunk, not chunk)
                for element in ended:
                    self.root.remove(element)
                    yield element
                ended.clear()
                if not chunk:
                    return


def _xml_number(text, what) -> float:
    try:
        number = float((text or "").strip())
    except ValueError:
        raise Bad(f"{what} '{(text or '').strip()[:40]}' is not a number") from None
    if not math.isfinite(number):
        raise Bad(f"{what} '{text.strip()[:40]}' is not a number")
    return number


def _xml_size(width, height) -> tuple[float, float]:
    if width is None or height is None:
        raise Bad("the image declares no width and height, so its boxes have no frame")
    size = _xml_number(width, "width"), _xml_number(height, "height")
    if size[0] <= 0 or size[1] <= 0:
        raise Bad(f"the image size {size[0]:g} x {size[1]:g} is not positive")
    return size


# CVAT shapes a box cannot stand for (a polygon is the box around it)
CVAT_OTHER_SHAPES = ("polyline", "points", "ellipse", "cuboid", "mask", "skeleton")
CVAT_BOXES = ("box", "polygon")
# A box's flags from another tool's marks: a CVAT shape's attribute of one of these names (any case) set true
# (a checkbox: "true"), VOC's <difficult>1</difficult>. Occlusion and truncation are not about the label.
CVAT_FLAG_ATTRIBUTES = {"difficult": "borderline", "borderline": "borderline", "uncertain": "uncertain"}
XML_TRUE = ("1", "true", "yes")
# How the result names the boxes that bring a flag the project has no option for, per format and flag.
FLAGS_FROM = {
    ("voc", "borderline"): "VOC marks difficult",
    ("cvat", "borderline"): "a CVAT attribute marks difficult or borderline",
    ("cvat", "uncertain"): "a CVAT attribute marks uncertain",
    ("coco", "borderline"): "a COCO attribute marks difficult or borderline",
    ("coco", "uncertain"): "a COCO attribute marks uncertain",
}


def _xml_true(text) -> bool:
    return (text or "").strip().lower() in XML_TRUE


def _cvat_label(classes, element, what):
    try:
        return classes.key(element.get("label", ""))
    except Bad as exc:
        raise Bad(f"{what}: {exc}") from None


def _cvat_box(element, size, classes, what) -> dict:
    """A ``<box>`` (``xtl ytl xbr ybr`` in pixels; turned ``rotation`` degrees about its centre: the upright box
    around it, within the image) or a ``<polygon>`` (``points="x,y;x,y;..."``: the upright box around it). An
    ``<attribute>`` named ``difficult`` or ``borderline`` set true makes it borderline, ``uncertain`` uncertain
    (``CVAT_FLAG_ATTRIBUTES``); ``occluded`` and the other attributes are not read."""
    label = _cvat_label(classes, element, what)
    if element.tag == "box":
        x0, y0, x1, y1 = (_xml_number(element.get(k), f"{what}: {k}") for k in ("xtl", "ytl", "xbr", "ybr"))
        rotation = _xml_number(element.get("rotation", "0"), f"{what}: rotation") % 360
        if min(rotation, 360 - rotation) > 0.01:
            a = math.radians(rotation)
            cx, cy, hw, hh = (x0 + x1) / 2, (y0 + y1) / 2, (x1 - x0) / 2, (y1 - y0) / 2
            hw, hh = abs(hw * math.cos(a)) + abs(hh * math.sin(a)), abs(hw * math.sin(a)) + abs(hh * math.cos(a))
            x0, y0 = max(cx - hw, 0.0), max(cy - hh, 0.0)
            x1, y1 = min(cx + hw, size[0]), min(cy + hh, size[1])
        shown = f"the box {x0:g},{y0:g}..{x1:g},{y1:g}"
    else:
        pairs = [p.split(",") for p in (element.get("points") or "").split(";") if p.strip()]
        if len(pairs) < 3 or any(len(p) != 2 for p in pairs):
            raise Bad(f"{what}: a polygon's points are 'x,y;x,y;...', at least three")
        xs = [_xml_number(p[0], f"{what}: a point's x") for p in pairs]
        ys = [_xml_number(p[1], f"{what}: a point's y") for p in pairs]
        x0, y0, x1, y1 = min(xs), min(ys), max(xs), max(ys)
        shown = f"the polygon's box {x0:g},{y0:g}..{x1:g},{y1:g}"
    box = _pixel_box(x0, y0, x1 - x0, y1 - y0, size, label, what, shown)
    for attribute in element.iterfind("attribute"):
        flag = CVAT_FLAG_ATTRIBUTES.get((attribute.get("name") or "").strip().lower())
        if flag and _xml_true(attribute.text):
            box[flag] = True
    return box


def _cvat_value(image, project, classes, size):
    """An ``<image>``'s answer: a detection project's boxes (``<box>``, ``<polygon>``; an image with only other
    shapes is refused, not taken for "nothing here"), a classification project's one ``<tag>`` (none: no
    answer)."""
    if project.task_type == TaskType.CLASSIFICATION:
        tags = []
        for n, tag in enumerate(image.findall("tag"), start=1):
            tags.append(_cvat_label(classes, tag, f"tag {n}"))
        tags = list(dict.fromkeys(tags))
        if len(tags) > 1:
            raise Bad(f"{len(tags)} tags ({', '.join(tags)}); a classification answer takes one")
        return tags[0] if tags else None
    boxes, errors, other, counts = [], [], None, defaultdict(int)
    for element in image:
        counts[element.tag] += 1
        what = f"{element.tag} {counts[element.tag]}"
        if element.tag in CVAT_BOXES:
            try:
                boxes.append(_cvat_box(element, size, classes, what))
            except Bad as exc:
                errors.append(str(exc))
        elif element.tag in CVAT_OTHER_SHAPES and other is None:
            other = what
    if errors:
        raise Bad(_first_error(errors))
    if other and not boxes:
        raise Bad(f"{other}: a {other.split()[0]} is not imported: a detection project takes boxes and polygons")
    return {"boxes": boxes}


def cvat_parse(*, open_file, filename, project, media, labeler) -> Parsed:
    """Tasks of CVAT's "CVAT for images 1.1" ``annotations.xml`` (alone, or in a zip with ``images/``, a project's
    with ``images/<subset>/``): one per ``<image>`` (``name`` its path, folders and all), its shapes in pixels of
    its ``width`` and ``height``. The video variant's ``<track>`` elements are refused as a whole. The file is
    read an ``<image>`` at a time (``_XmlChildren``, ``open_file`` a context manager giving it as bytes); a file
    that is no well-formed XML, or whose root or a ``<track>`` refuses it, is refused once read through."""
    classes = _Classes(project)
    parsed = Parsed(annotators={"labeler": Annotator(username=labeler)})
    folder = posixpath.dirname(filename)
    children, tracks, n = _XmlChildren(open_file, caps={"image": (CVAT_BOXES, MAX_SHAPES)}), False, 0
    try:
        for element in children:
            if children.root.tag != "annotations" or tracks or element.tag not in ("image", "track"):
                continue
            if element.tag == "track":
                tracks, parsed.tasks = True, []
                continue
            parsed.tasks.append(_cvat_task(element, n, filename, folder, project, classes, media, children.over))
            n += 1
    except Bad as exc:
        raise InputRejected(f"{filename}: {exc}") from None
    root = children.root
    if root.tag != "annotations":
        raise InputRejected(f"{filename}: a CVAT for images 1.1 file is <annotations>, not <{root.tag[:40]}>")
    if tracks:
        raise InputRejected(
            f"{filename}: it holds <track> elements, as CVAT's \"CVAT for video 1.1\" export writes a video's "
            'tracks: export the task as "CVAT for images 1.1", which writes each frame\'s shapes'
        )
    return parsed


def _cvat_task(image, n, filename, folder, project, classes, media, over) -> Task:
    """The task of the ``n``th ``<image>`` of a CVAT for images file: its file found, its shapes its answer
    (``over``: the images whose boxes and polygons ``_xml_parser`` counted past ``MAX_SHAPES``)."""
    name = image.get("name") or ""
    task = Task(where=f"{filename} image {image.get('id', f'#{n}')} ({name or '?'})")
    try:
        if not name:
            raise Bad("the image has no name")
        size = _xml_size(image.get("width"), image.get("height"))
        if project.task_type == TaskType.DETECTION:
            task.size = size
        subset = path_parts(image.get("subset") or "")  # a project's export: images/<subset>/<name>
        images = posixpath.join(folder, "images")
        files = [posixpath.join(images, *subset, *path_parts(name)), posixpath.join(images, *path_parts(name))]
        if not posixpath.splitext(name)[1]:  # a video's frame ("frame_000000"), saved with an extension added
            files = [f + ext for f in files for ext in sorted(IMAGE_EXTENSIONS)]
        media.find(task, [*files, name])
        if image in over and project.task_type == TaskType.DETECTION:
            raise Bad(f"{over.pop(image):,} boxes and polygons, over the limit of {MAX_SHAPES}")
        value = _cvat_value(image, project, classes, size)
    except Bad as exc:
        task.error = str(exc)
        return task
    if value is not None:
        task.answers.append(Answer(annotator="labeler", value=value, where="shapes"))
    return task


def _voc_box(element, size, classes, what) -> dict:
    """An ``<object>``'s box: ``<bndbox>`` in VOC's 1-based pixels, ``xmin`` the first pixel column inside it and
    ``xmax`` the last, so the box spans ``xmin - 1`` to ``xmax``; a 0 (a writer counting from 0) is the edge.
    A ``difficult`` object (hard to recognise; VOC's evaluation ignores it) is a borderline box; ``truncated`` and
    ``occluded`` say how much of the object shows, not how sure its label is, and are not read."""
    try:
        label = classes.key((element.findtext("name") or "").strip())
    except Bad as exc:
        raise Bad(f"{what}: {exc}") from None
    bndbox = element.find("bndbox")
    if bndbox is None:
        raise Bad(f"{what}: the object has no <bndbox>")
    xmin, ymin, xmax, ymax = (_xml_number(bndbox.findtext(k), f"{what}: {k}") for k in ("xmin", "ymin", "xmax", "ymax"))
    x0 = max(xmin - 1, 0.0) if xmin >= 0 else xmin - 1
    y0 = max(ymin - 1, 0.0) if ymin >= 0 else ymin - 1
    shown = f"the box xmin {xmin:g}, ymin {ymin:g}, xmax {xmax:g}, ymax {ymax:g}"
    box = _pixel_box(x0, y0, xmax - x0, ymax - y0, size, label, what, shown)
    if _xml_true(element.findtext("difficult")):
        box["borderline"] = True
    return box


def _voc_task(raw, name, classes, media) -> Task:
    """One VOC annotation file's task: its image (``filename``: in ``JPEGImages/`` beside the ``Annotations/``
    folder, its subfolders kept, else beside the file, else as ``_Media`` finds it) and its objects' boxes."""
    task = Task(where=name)
    try:
        root, over = _xml_root(raw, caps={"annotation": (("object",), MAX_SHAPES)})
        if root.tag != "annotation":
            raise Bad(f"a Pascal VOC file is <annotation>, not <{root.tag[:40]}>")
        filename = (root.findtext("filename") or "").strip()
        if not filename:
            raise Bad("the annotation has no <filename>")
        size = root.find("size")
        task.size = size = _xml_size(
            size.findtext("width") if size is not None else None, size.findtext("height") if size is not None else None
        )
        parts = name.split("/")
        candidates = []
        if "Annotations" in parts[:-1]:
            at = parts.index("Annotations")
            candidates.append("/".join([*parts[:at], "JPEGImages", *parts[at + 1 : -1], filename]))
            candidates.append("/".join([*parts[:at], "JPEGImages", filename]))
        candidates += [posixpath.join(posixpath.dirname(name), filename), filename]
        media.find(task, candidates)
        if root in over:
            raise Bad(f"{over[root]:,} objects, over the limit of {MAX_SHAPES}")
        boxes, errors = [], []
        for n, element in enumerate(root.findall("object"), start=1):
            try:
                boxes.append(_voc_box(element, size, classes, f"object {n}"))
            except Bad as exc:
                errors.append(str(exc))
        if errors:
            raise Bad(_first_error(errors))
    except Bad as exc:
        task.error = str(exc)
        return task
    task.answers.append(Answer(annotator="labeler", value={"boxes": boxes}, where="objects"))
    return task


def voc_parse(*, archive, raw, filename, project, media, labeler) -> Parsed:
    """Tasks of Pascal VOC annotations: one ``.xml`` file, or a zip's (``Annotations/*.xml`` with
    ``JPEGImages/`` as CVAT writes them, or each beside its image as Roboflow does; ``ImageSets/`` lists and
    ``labelmap.txt`` are not read); an image of ``JPEGImages/`` or beside an .xml file that no file names has no
    boxes (CVAT's ``SegmentationClass/`` and ``SegmentationObject/`` masks are no images to label)."""
    classes = _Classes(project)
    parsed = Parsed(annotators={"labeler": Annotator(username=labeler)})
    if archive is None:
        parsed.tasks.append(_voc_task(raw, filename, classes, media))
        return parsed
    files = sorted(n for n in media.paths if n.lower().endswith(".xml"))
    if not files:
        raise InputRejected("the archive must hold Pascal VOC .xml files (Annotations/*.xml) (found: none)")
    for name in files:
        try:
            raw = _read_member(archive, media, name)
        except InputRejected as exc:
            parsed.rejected.append({"name": name, "reason": str(exc)})
            continue
        parsed.tasks.append(_voc_task(raw, name, classes, media))
    named = {t.name for t in parsed.tasks if t.load is not None}
    folders = {posixpath.dirname(n) for n in files}
    for name in sorted(media.paths):
        folder = posixpath.dirname(name)
        if name in named or not name.lower().endswith(IMAGE_EXTENSIONS):
            continue
        if "JPEGImages" in folder.split("/") or folder in folders:
            task = Task(where=name, name=name, load=media.loader(name))
            task.answers.append(Answer(annotator="labeler", value={"boxes": []}, where="no .xml file names it"))
            parsed.tasks.append(task)
    return parsed


# --- Hugging Face object detection ---------------------------------------------------------------


# How deep a dataset card's features are looked through for class names (datasets writes a few levels)
CARD_DEPTH = 64


def _class_labels(node, under, found, seen=None, depth=0) -> None:
    """Add to ``found`` the ``names`` of each ``class_label`` of a feature named ``category`` or ``categories``
    in a dataset card's features (``under``: the name of the feature ``node`` is in). Each list or mapping is
    looked through once (``seen``): YAML aliases repeat one node anywhere, so a card of a few hundred bytes
    was 10^12 nodes to walk, and the worker never finished."""
    seen = set() if seen is None else seen
    if not isinstance(node, dict | list) or depth > CARD_DEPTH or (id(node), under) in seen:
        return
    seen.add((id(node), under))
    if isinstance(node, dict):
        label = node.get("class_label") if isinstance(node.get("class_label"), dict) else None
        if label is not None and under in ("category", "categories"):
            found.append(label.get("names"))
        named = node.get("name") if isinstance(node.get("name"), str) else under
        for value in node.values():
            _class_labels(value, named, found, seen, depth + 1)
    else:
        for value in node:
            _class_labels(value, under, found, seen, depth + 1)


def _info_class_labels(node, under, found, depth=0) -> None:
    """Add to ``found`` the ``names`` of each ClassLabel (``{"names": [...], "_type": "ClassLabel"}``) of a feature
    named ``category`` or ``categories`` in ``dataset_infos.json``'s features (a Sequence's items are under its
    ``feature``, which keeps the name of the feature it is in)."""
    if depth > CARD_DEPTH:
        return
    if isinstance(node, dict):
        if node.get("_type") == "ClassLabel" and under in ("category", "categories"):
            found.append(node.get("names"))
        for key, value in node.items():
            _info_class_labels(value, under if key == "feature" else key, found, depth + 1)
    elif isinstance(node, list):
        for value in node:
            _info_class_labels(value, under, found, depth + 1)


def _hf_class_names(archive, media) -> list[str] | None:
    """The names a dataset card's ClassLabel gives ``objects``' ``category`` (``README.md``'s YAML front matter,
    ``dataset_info.features``, as ``push_to_hub`` writes it), the shallowest card's; else those of the shallowest
    ``dataset_infos.json`` (its first config naming them), as older ``datasets`` wrote them; None without one."""
    cards = sorted((n for n in media.paths if posixpath.basename(n) == "README.md"), key=lambda n: n.count("/"))
    infos = sorted(
        (n for n in media.paths if posixpath.basename(n) == "dataset_infos.json"), key=lambda n: n.count("/")
    )
    found = []
    for name in cards[:1]:
        text = _read_member(archive, media, name).decode("utf-8-sig", errors="replace")
        match = re.match(r"---\s*\n(.*?)\n---\s*(\n|$)", text, re.S)
        try:
            card = yaml.safe_load(match.group(1)) if match else None
        except (yaml.YAMLError, RecursionError):  # nested past Python's stack: no card to read
            card = None
        _class_labels(card.get("dataset_info") if isinstance(card, dict) else None, "", found)
    for name in infos[:1]:
        try:
            info = json.loads(_read_member(archive, media, name).decode("utf-8-sig"))
        except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
            info = None
        for config in info.values() if isinstance(info, dict) else ():
            _info_class_labels(config.get("features") if isinstance(config, dict) else None, "", found)
    for names in found:
        if isinstance(names, dict):
            try:
                names = [names.get(str(i), names.get(i)) for i in range(len(names))]
            except TypeError:
                continue
        if isinstance(names, list) and all(isinstance(n, str) for n in names):
            return names
    return None


def _hf_objects(objects) -> list[tuple]:
    """``objects`` as (bbox, category) pairs: a mapping of lists (``{"bbox": [...], "category": [...]}``, as a
    dataset's Sequence of a struct is written) or a list of mappings (``[{"bbox": ..., "category": ...}]``)."""
    if isinstance(objects, dict):
        boxes = objects.get("bbox")
        categories = objects.get("category", objects.get("categories"))
        if not isinstance(boxes, list) or not isinstance(categories, list) or len(boxes) != len(categories):
            raise Bad("objects must hold 'bbox' and 'category' lists of the same length")
        return list(zip(boxes, categories, strict=True))
    if isinstance(objects, list) and all(isinstance(o, dict) for o in objects):
        return [(o.get("bbox"), o.get("category", o.get("categories"))) for o in objects]
    raise Bad("objects must be {'bbox': [...], 'category': [...]} or a list of {'bbox', 'category'}")


def _hf_label(category, names, classes) -> str:
    if isinstance(category, int) and not isinstance(category, bool):
        if names is None:
            raise Bad(
                f"category {category} is a ClassLabel index, and no dataset card (README.md's dataset_info, or "
                "dataset_infos.json) names its classes: give the names, or the card"
            )
        if not 0 <= category < len(names):
            raise Bad(f"category {category} is not among the ClassLabel's {len(names)} names")
        category = names[category]
    return classes.key(category)


def _hf_rows(text, meta):
    """(line, row or None, problem) of a metadata file, a line at a time; a CSV cell holding JSON (``objects``) is
    read as JSON. ``text`` is the file as text (a stream read with ``newline=""``); raises InputRejected when it
    is not UTF-8 or not CSV, on reaching the problem."""
    try:
        if not meta.lower().endswith(".csv"):
            yield from imports.jsonl_lines(text)
            return
        reader = csv.DictReader(text)
        try:
            for row in reader:
                if any((v or "").strip() for v in row.values() if isinstance(v, str)):
                    row = {k: v for k, v in row.items() if k is not None}
                    if isinstance(row.get("objects"), str):
                        try:
                            row["objects"] = json.loads(row["objects"])
                        except json.JSONDecodeError as exc:
                            yield reader.line_num, None, f"objects is not JSON: {exc.msg}"
                            continue
                    yield reader.line_num, row, ""
        except csv.Error as exc:
            raise InputRejected(f"{meta} line {reader.line_num}: not CSV: {exc}") from None
    except UnicodeDecodeError:
        raise InputRejected(f"{meta}: not UTF-8 text") from None


def huggingface_parse(*, archive, open_file, filename, project, media, labeler) -> Parsed:
    """Tasks of a Hugging Face object detection dataset: each ``metadata.jsonl``/``metadata.csv`` line (its
    ``file_name`` relative to the file's folder) with its ``objects``' ``bbox`` ([x, y, w, h] in pixels, as COCO)
    and ``category`` (a class, or a ClassLabel index the dataset card names) the labeler's boxes; its other
    columns but ``label`` the item's metadata. Boxes are fractions of the line's ``width`` and ``height`` when
    it has them, else of the image's own size, once stored. Each file is read a line at a time (``open_file``:
    the file alone, a context manager giving it as bytes, when there is no archive)."""
    classes = _Classes(project)
    parsed = Parsed(annotators={"labeler": Annotator(username=labeler)})
    if archive is None:
        files, names = {filename: open_file}, None
    else:
        found = sorted(n for n in media.paths if posixpath.basename(n) in imports.HF_METADATA_NAMES)
        if not found:
            raise InputRejected("the archive must hold a metadata.jsonl or metadata.csv (found: none)")
        files = {n: _member_opener(archive, media, n, skip_bom=False) for n in found}
        names = _hf_class_names(archive, media)
    for meta, opener in files.items():
        folder = posixpath.dirname(meta)
        with opener() as f:
            text = io.TextIOWrapper(f, encoding="utf-8-sig", newline="")
            try:
                for line, row, problem in _hf_rows(text, meta):
                    parsed.tasks.append(_hf_task(f"{meta} line {line}", row, problem, folder, names, classes, media))
            finally:
                text.detach()  # the upload stays open: the job closes it
    return parsed


def _hf_task(where, row, problem, folder, names, classes, media) -> Task:
    """The task of a Hugging Face metadata line (``row``, or None with its ``problem``)."""
    task = Task(where=where)
    try:
        if problem:
            raise Bad(problem)
        file_name = row.get("file_name")
        if not isinstance(file_name, str) or not file_name.strip():
            raise Bad("a metadata line names its file in 'file_name'")
        media.find(task, [posixpath.join(folder, *path_parts(file_name)), file_name])
        size = None
        if row.get("width") is not None and row.get("height") is not None:
            size = (_number(row["width"], "width"), _number(row["height"], "height"))
            if size[0] <= 0 or size[1] <= 0:
                raise Bad(f"the image size {size[0]:g} x {size[1]:g} is not positive")
            task.size = size
        boxes, errors, objects = [], [], _hf_objects(row.get("objects", []))
        if len(objects) > MAX_SHAPES:
            raise Bad(f"{len(objects):,} objects, over the limit of {MAX_SHAPES}")
        for n, (bbox, category) in enumerate(objects, start=1):
            what = f"object {n}"
            try:
                label = _hf_label(category, names, classes)
                if not isinstance(bbox, list) or len(bbox) != 4:
                    raise Bad(f"bbox must be [x, y, width, height] in pixels, not {json.dumps(bbox)}")
                box = (*(_number(v, "bbox") for v in bbox), label, what, f"bbox {json.dumps(bbox)}")
                boxes.append(_pixel_box(*box[:4], size, *box[4:]) if size else box)
            except Bad as exc:
                errors.append(f"{what}: {exc}" if not str(exc).startswith(what) else str(exc))
        if errors:
            raise Bad(_first_error(errors))
        task.metadata = {k: v for k, v in row.items() if k not in ("file_name", "objects", "label")}
    except Bad as exc:
        task.error = str(exc)
        return task
    if size is None:
        task.pixel_boxes = boxes
        boxes = []
    task.answers.append(Answer(annotator="labeler", value={"boxes": boxes}, where="objects"))
    return task


def _pixel_boxes_placed(task, item) -> None:
    """Boxes a file gave in pixels of the image, without its size: fractions of the stored item's (Bad when a
    box reaches outside it)."""
    if task.pixel_boxes is None:
        return
    stats = item.stats or {}
    if not stats.get("width") or not stats.get("height"):
        raise Bad("the image's size is not known, so its boxes in pixels have no frame")
    size = (float(stats["width"]), float(stats["height"]))
    task.answers[0].value = {"boxes": [_pixel_box(*box[:4], size, *box[4:]) for box in task.pixel_boxes]}


# --- segments: a version's segments.csv and RTTM (diarization tools write it too) ----------------


@dataclass
class _Line:
    """One segment of a segments file, with the line it came from (messages name it)."""

    line: int
    start: float
    end: float
    label: str


def _uncell(value: str) -> str:
    """A CSV cell as written before LabelHub's CSV rule (``labelhub.csvsafe``) quoted it: ``'=x`` is ``=x``."""
    if value.startswith("'") and value[1:2] and value[1:2] in DANGEROUS_PREFIXES:
        return value[1:]
    return value


def _seconds(text, what, line):
    try:
        value = float(text)
    except ValueError:
        raise Bad(f"line {line}: {what} '{text[:40]}' is not a number of seconds") from None
    if not math.isfinite(value):
        raise Bad(f"line {line}: {what} '{text[:40]}' is not a number of seconds")
    return value


def _span(start, end, line, negative) -> None:
    """Check a segment read from ``line``; ``negative`` says how a segment ending before it starts reads."""
    if start < 0:
        raise Bad(f"line {line}: the onset {start:g} s is before the clip's start")
    if end < start:
        raise Bad(f"line {line}: {negative}")
    if end == start:
        raise Bad(f"line {line}: the segment at {start:g} s has no length")


class _SegmentFile:
    """What a segments file says, recording by recording: the lines naming each recording (its key: a
    file name, an item id, an RTTM file id) and the lines that fit none."""

    def __init__(self, filename, project):
        self.filename = filename
        self.classes = _Classes(project)
        self.lines = defaultdict(list)  # key -> [_Line]
        self.errors = defaultdict(list)  # key -> ["line 3: ..."]
        self.first = {}  # key -> its first line
        self.rejected = []  # lines naming no recording

    def add(self, key, line, read):
        """Record ``read()`` (start, end, label as written) for ``key``, or its problem. A key is composed
        (NFC), as ``path_parts`` compares names: "canción" written on a Mac (decomposed) is the same clip."""
        key = unicodedata.normalize("NFC", key)
        self.first.setdefault(key, line)
        try:
            start, end, label = read()
            try:
                label = self.classes.key(label)
            except Bad as exc:
                raise Bad(f"line {line}: {exc}") from None
            self.lines[key].append(_Line(line, start, end, label))
        except Bad as exc:
            self.errors[key].append(str(exc))

    def reject(self, line, reason):
        self.rejected.append({"name": f"{self.filename} line {line}", "reason": reason})

    def tasks(self, parsed, find):
        """One task per recording, in the order the file first names them; ``find(task, key)`` points a task
        at its file or item (raising Bad)."""
        for key in sorted(self.first, key=self.first.get):
            task = Task(where=f"{self.filename} {key}")
            parsed.tasks.append(task)
            try:
                find(task, key)
                if self.errors[key]:
                    raise Bad(_first_error(self.errors[key]))
            except Bad as exc:
                task.error = str(exc) if str(exc).startswith("line ") else f"line {self.first[key]}: {exc}"
                continue
            task.lines = sorted(self.lines[key], key=lambda s: (s.start, s.end, s.label))
            segments = [{"start": s.start, "end": s.end, "label": s.label} for s in task.lines]
            task.answers.append(Answer(annotator="labeler", value={"segments": segments}, where="segments"))
        parsed.rejected.extend(self.rejected)


def _segments_checked(parsed, media) -> None:
    """Refuse, naming the line, a segment past the end of the clip it is on (a clip the project holds; a new
    clip from the zip is checked once stored), and a second recording naming an item another one names; a
    segment ending within ``end_tolerance`` past the clip's end is stored ending at it."""
    tasks = [t for t in parsed.tasks if not t.error and t.item is not None]
    durations = {
        pk: (stats or {}).get("duration")
        for pk, stats in Item.objects.filter(pk__in={t.item for t in tasks}).values_list("pk", "stats")
    }
    named = {}
    for task in parsed.tasks:  # two names of one clip ("a/x.wav" and "x.wav") would make one answer the other's
        key = task.item if task.item is not None else task.name
        if task.error or not key:
            continue
        if key in named:
            task.error = f"line {task.lines[0].line}: this is {task.name} again, which line {named[key]} names"
        named.setdefault(key, task.lines[0].line)
    for task in tasks:
        if task.error:
            continue
        duration = durations.get(task.item)
        if duration is None:
            continue
        duration = float(duration)
        for s in task.lines:
            if s.start >= duration:
                task.error = f"line {s.line}: the onset {s.start:g} s is past the end of {task.name} ({duration:g} s)"
                break
            if s.end > duration + end_tolerance(duration):
                task.error = (
                    f"line {s.line}: the segment ends at {s.end:g} s, past the end of {task.name} ({duration:g} s)"
                )
                break


def _clips_unnamed(parsed, media):
    """Clips in the zip that no line names: answered "nothing here", as a YOLO image without a label file is."""
    named = {t.name for t in parsed.tasks if t.load is not None}
    for name in sorted(media.paths):
        if name not in named and posixpath.splitext(name)[1].lower() in AUDIO_EXTENSIONS:
            task = Task(where=name, name=name, load=media.loader(name))
            task.answers.append(Answer(annotator="labeler", value={"segments": []}, where="no line names it"))
            parsed.tasks.append(task)


def segments_csv_parse(*, text, filename, project, media, labeler) -> Parsed:
    """Tasks of a segments CSV (a version's ``segments.csv``: ``item,start,end,label,support,file``): one per
    recording, its lines the labeler's segments. A recording is named by ``file`` (a path, matched as COCO's
    ``file_name``), else by ``item``: an id of this project's items, else a file name. ``support`` is ignored."""
    reader = csv.reader(io.StringIO(text))
    columns = _csv_header(reader, filename, SEGMENTS_CSV_COLUMNS, SEGMENTS_CSV_SHAPE)
    missing = [c for c in ("start", "end", "label") if c not in columns]
    if "file" not in columns and "item" not in columns:
        missing.insert(0, "file or item")
    if missing:
        raise InputRejected(f"{filename}: the header lacks {', '.join(missing)}")
    at = {c: n for n, c in enumerate(columns)}
    ids = {}  # item id -> its file name, for an item column naming this project's items
    rows = _csv_rows(reader, filename)
    item_cells = [r[at["item"]].strip() for _, r in rows if "item" in at and len(r) > at["item"]]
    maybe_ids = {int(c) for c in item_cells if c.isdigit() and len(c) < 19}
    if maybe_ids:
        ids = dict(Item.objects.filter(project=project, pk__in=maybe_ids).values_list("pk", "original_name"))
    found = _SegmentFile(filename, project)
    for line, row in rows:
        if not any(cell.strip() for cell in row):
            continue
        cells = {c: _uncell(row[n].strip()) if n < len(row) else "" for c, n in at.items()}
        key = cells.get("file") or cells.get("item")
        if not key:
            found.reject(line, "the line names no recording (its file and item cells are empty)")
            continue

        n_cells = len(row)

        def read(cells=cells, line=line, n=n_cells):
            if n != len(columns):
                raise Bad(f"line {line}: {n} cells, where the header has {len(columns)}")
            start = _seconds(cells["start"], "start", line)
            end = _seconds(cells["end"], "end", line)
            _span(start, end, line, f"it ends at {end:g} s, before it starts at {start:g} s (a negative duration)")
            return start, end, cells["label"]

        found.add(key, line, read)
    parsed = Parsed(annotators={"labeler": Annotator(username=labeler)})

    def find(task, key):
        if key.isdigit() and int(key) in ids:
            task.item, task.name = int(key), ids[int(key)] or f"item {key}"
            return
        try:
            media.find(task, [key])
        except Bad as exc:
            if not key.isdigit():
                raise
            # Another project's item id: a segments.csv written before it named files has only those.
            raise Bad(f"{exc}, and no item of this project has the id {key}") from None

    found.tasks(parsed, find)
    return parsed


def rttm_parse(*, text, filename, project, media, labeler) -> Parsed:
    """Tasks of an RTTM file (``SPEAKER <file> <channel> <onset> <duration> <NA> <NA> <label> <NA> <NA>``,
    as a version's ``rttm`` download and diarization tools write it): one per file id, its lines the labeler's
    segments, ``label`` a class. The file id is a file's name without its extension (folders kept or not), as
    YOLO's label paths name images: in the zip, else among the project's items (``q00-<id>`` the item of that
    id when no file is named so; ``a_b`` the file ``a b.wav``, RTTM having no spaces). The channel is not
    read: a segment is on its clip. Comment lines (``;;``) and records of other types are skipped."""
    found = _SegmentFile(filename, project)
    for line, raw in enumerate(text.splitlines(), start=1):
        fields = raw.split()
        if not fields or fields[0].startswith((";;", "#")):
            continue
        kind = fields[0].upper()
        if kind in RTTM_OTHER_TYPES:
            continue
        if kind != "SPEAKER":
            found.reject(line, f"'{fields[0][:40]}' is no RTTM record type; a segment is '{RTTM_LINE}'")
            continue
        if len(fields) < 2:
            found.reject(line, f"a SPEAKER record is '{RTTM_LINE}', not {len(fields)} field")
            continue

        def read(fields=fields, line=line):
            if len(fields) not in (9, 10):
                raise Bad(f"line {line}: a SPEAKER record is '{RTTM_LINE}' (10 fields), not {len(fields)} fields")
            onset = _seconds(fields[3], "the onset", line)
            duration = _seconds(fields[4], "the duration", line)
            end = round(onset + duration, 9)
            _span(onset, end, line, f"the duration {duration:g} s is negative")
            return onset, end, fields[7]

        found.add(fields[1], line, read)
    parsed = Parsed(annotators={"labeler": Annotator(username=labeler)})
    claimed = set()  # items a file id names by their id (q00-<id>)
    for key in found.first:
        items, by_id = media.stem_items(key) if re.search(r"-[0-9]+$", key) else ([], False)
        if by_id:
            claimed.update(items)
    found.tasks(parsed, lambda task, key: media.find_recording(task, key, claimed))
    return parsed


def segments_parse(*, fmt, raw, filename, project, media, labeler) -> Parsed:
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise InputRejected(f"{filename}: not UTF-8 text") from None
    parse = segments_csv_parse if fmt == "segments_csv" else rttm_parse
    parsed = parse(text=text, filename=filename, project=project, media=media, labeler=labeler)
    _segments_checked(parsed, media)
    if media.archive is not None:
        _clips_unnamed(parsed, media)
    return parsed


# --- answers CSV (one line per answer: classification and transcription) ----------------------------


def _flag(text, column, line) -> bool:
    value = text.strip().lower()
    if value in TRUE_CELLS:
        return True
    if value in FALSE_CELLS:
        return False
    raise Bad(f"line {line}: {column} '{text[:40]}' is not true or false (1/0, yes/no)")


def _answer_cells(cells, columns, line, project, classes, class_keys) -> tuple[str, dict, float | None]:
    """(value as stored, flags, seconds) of a labels CSV line, checked as a labeler's answer is; Bad naming
    the line otherwise. A classification label is a class's key or name, in any case."""
    value = next(cells[c] for c in LABEL_COLUMNS if c in columns)
    flags = {c: _flag(cells[c], c, line) for c in ("borderline", "uncertain", "out_of_domain") if c in columns}
    for c in ("borderline_with", "comment"):
        if cells.get(c):
            flags[c] = cells[c]
    if project.task_type == TaskType.CLASSIFICATION:
        if flags.get("borderline_with"):
            try:
                flags["borderline_with"] = classes.key(flags["borderline_with"])
            except Bad as exc:
                raise Bad(f"line {line}: borderline_with: {exc}") from None
        if value:
            try:
                value = classes.key(value)
            except Bad as exc:
                raise Bad(f"line {line}: {exc}") from None
    if not value and not any(flags.get(c) for c in ("borderline", "uncertain", "out_of_domain")):
        what = "label" if project.task_type == TaskType.CLASSIFICATION else "transcript"
        raise Bad(f"line {line}: no {what} (a version's row that needs review has none)")
    seconds = None
    if cells.get("seconds"):
        seconds = _seconds(cells["seconds"], "seconds", line)
    try:
        value = annotation_validate(project=project, value=value, class_keys=class_keys, seconds=seconds, **flags)
    except ValidationError as exc:
        raise Bad(f"line {line}: {_message(exc)}") from None
    return value, flags, seconds


def _csv_header(reader, filename, allowed, shape):
    """The lower-cased column names of a CSV's header; InputRejected when it cannot be read, is empty, names
    a column twice or one not in ``allowed`` (``shape`` says what the header should hold)."""
    try:
        header = next(reader, None)
    except csv.Error as exc:
        raise InputRejected(f"{filename} line {reader.line_num}: {csv_problem(exc)}") from None
    if not header or not any(h.strip() for h in header):
        raise InputRejected(f"{filename}: the CSV starts with its header ({shape})")
    columns = [h.strip().lower().lstrip("\ufeff") for h in header]
    for column in columns:
        if column not in allowed:
            # a spreadsheet saved where the decimal mark is a comma writes semicolons (or tabs)
            sep = next((name for c, name in ((";", "semicolons"), ("\t", "tabs")) if c in column), None)
            hint = f"; the columns of a CSV are separated by commas, not {sep}" if sep else ""
            raise InputRejected(f"{filename}: unknown column '{column[:40]}' ({shape}{hint})")
    if len(set(columns)) < len(columns):
        raise InputRejected(f"{filename}: a column is named twice in the header")
    return columns


def _csv_rows(reader, filename):
    rows = []
    try:
        for row in reader:
            rows.append((csv_row_start(reader.line_num, row), row))
    except csv.Error as exc:
        raise InputRejected(f"{filename} line {reader.line_num}: {csv_problem(exc)}") from None
    return rows


def labels_csv_parse(*, text, filename, project, media, labeler) -> Parsed:
    """Answers from a CSV, one line per answer (see ``LABELS_CSV_SHAPE``): what a team's spreadsheet or an earlier
    tool holds, and a version's ``manifest.csv`` (its own columns ignored: its ``label`` becomes the named
    labeler's answer, a row needing review is refused as having none). An item is named by ``sha256`` (its
    content, as a version's manifest names it, in this project or another), ``item`` (an id of this project's
    items) or ``file`` (a path, in the zip or among the project's items, as COCO's ``file_name``), the first
    that finds one. A line is one answer, all or nothing: a bad line is reported by its number and the others
    go in (the request refuses the file when it can check it while waiting: ``label_import_precheck``)."""
    reader = csv.reader(io.StringIO(text))
    columns = _csv_header(reader, filename, (*LABELS_CSV_COLUMNS, *MANIFEST_CSV_IGNORED), LABELS_CSV_SHAPE)
    at = {c: n for n, c in enumerate(columns)}
    named_by = [c for c in ("sha256", "item", "file") if c in at]
    problems = [] if named_by else ["file, item or sha256"]
    if project.task_type == TaskType.CLASSIFICATION and "transcript" in at:
        raise InputRejected(f"{filename}: a transcript column is for a transcription project, not a classification one")
    given = [c for c in LABEL_COLUMNS if c in at]
    if len(given) > 1:
        raise InputRejected(f"{filename}: {' and '.join(given)} name the same thing, the answer: keep one column")
    if not given:
        problems.append("label" if project.task_type == TaskType.CLASSIFICATION else "transcript (or label)")
    if problems:
        raise InputRejected(f"{filename}: the header lacks {' and '.join(problems)} ({LABELS_CSV_SHAPE})")
    if "labeler" not in at and not labeler:
        raise InputRejected(f"{filename}: no labeler column, so give the labeler whose answers these are")
    rows = [(line, row) for line, row in _csv_rows(reader, filename) if any(cell.strip() for cell in row)]

    def column(name):
        n = at.get(name)
        return () if n is None else (_uncell(row[n].strip()) for _, row in rows if n < len(row))

    shas = {cell.lower() for cell in column("sha256") if cell}
    ids = {int(cell) for cell in column("item") if cell.isdigit() and len(cell) < 19}
    # the items the lines name by content or id, read once
    found_items = Item.objects.filter(Q(sha256__in=shas) | Q(pk__in=ids), project=project)
    by_sha, names = {}, {}
    for pk, sha, name in found_items.values_list("pk", "sha256", "original_name"):
        names[pk] = name
        if sha in shas:
            by_sha[sha] = pk
    classes = _Classes(project)
    class_keys = sorted(classes.keys)
    parsed = Parsed()
    tasks = {}  # ("item", pk) or ("file", name) -> Task
    found = {}  # (sha256, item, file) cells -> the key of tasks, or the Bad it raised
    given = {}  # (task key, username) -> the line giving that answer
    usernames = {}  # username -> problem ("" when valid)

    def locate(sha, item, path):
        if sha and sha.lower() in by_sha:
            pk = by_sha[sha.lower()]
            return ("item", pk), names[pk] or f"item {pk}", None
        if item.isdigit() and int(item) in names:
            return ("item", int(item)), names[int(item)] or f"item {item}", None
        if path and not API_FILE_PATH.match(path):
            task = Task(where="")
            media.find(task, [path])
            if task.load is not None:
                return ("file", task.name), task.name, task.load
            return ("item", task.item), task.name, None
        tried = [f"{c} '{v[:70]}'" for c, v in (("sha256", sha), ("item", item), ("file", path)) if v]
        if not tried:
            raise Bad("the line names no item (its file, item and sha256 cells are empty)")
        raise Bad(f"no item of this project has the {' or '.join(tried)}")

    for line, row in rows:
        cells = {c: _uncell(row[n].strip()) if n < len(row) else "" for c, n in at.items()}
        where = f"{filename} line {line}"
        try:
            if len(row) != len(columns):
                raise Bad(f"line {line}: {len(row)} cells, where the header has {len(columns)}")
            who = cells.get("labeler") or labeler
            if not who:
                raise Bad(f"line {line}: no labeler (its labeler cell is empty and the import names none)")
            if who not in usernames:
                usernames[who] = ""
                try:
                    UnicodeUsernameValidator()(who)
                    if len(who) > 150:
                        raise ValidationError("")
                except ValidationError:
                    usernames[who] = f"'{who[:40]}' is not a valid username"
            if usernames[who]:
                raise Bad(f"line {line}: labeler {usernames[who]}")
            value, flags, seconds = _answer_cells(cells, at, line, project, classes, class_keys)
            ref = (cells.get("sha256", ""), cells.get("item", ""), cells.get("file", ""))
            if ref not in found:
                try:
                    found[ref] = locate(*ref)
                except Bad as exc:
                    found[ref] = exc
            if isinstance(found[ref], Bad):
                raise Bad(f"line {line}: {found[ref]}")
            key, name, load = found[ref]
            if (key, who) in given:
                raise Bad(f"line {line}: {who}'s answer on {name} again, which line {given[key, who]} gives")
            given[key, who] = line
        except Bad as exc:
            parsed.rejected.append({"name": where, "reason": str(exc).removeprefix(f"line {line}: ")})
            continue
        task = tasks.get(key)
        if task is None:
            task = tasks[key] = Task(where=f"{filename} {name}", name=name, load=load)
            if key[0] == "item":
                task.item = key[1]
            parsed.tasks.append(task)
        parsed.annotators.setdefault(who, Annotator(username=who))
        task.answers.append(Answer(annotator=who, value=value, where=f"line {line}", seconds=seconds, flags=flags))
    return parsed


# --- Label Studio --------------------------------------------------------------------------------


def _ls_email_checked(email) -> str:
    """An annotator's e-mail, which names a new account (its username): a real address whose username
    passes the rules every other account's does (no markup, no '/'); Bad otherwise."""
    try:
        validate_email(email)
        UnicodeUsernameValidator()(email[:150])
    except ValidationError:
        raise Bad(f"completed_by {email[:80]!r} is not an e-mail address a username can be made of") from None
    return email


def _ls_annotator(parsed, completed_by, labeler) -> str:
    if isinstance(completed_by, dict):
        email = str(completed_by.get("email") or "").strip()
        if email:
            _ls_email_checked(email)
            key = f"email:{email.casefold()}"
            if isinstance(completed_by.get("id"), int):
                parsed.ids.setdefault(completed_by["id"], key)
            parsed.annotators.setdefault(
                key,
                Annotator(
                    email=email,
                    first_name=str(completed_by.get("first_name") or "")[:150],
                    last_name=str(completed_by.get("last_name") or "")[:150],
                ),
            )
            return key
        completed_by = completed_by.get("id")
    if isinstance(completed_by, int) and not isinstance(completed_by, bool):
        if completed_by in parsed.ids:  # the same person, named by e-mail elsewhere in the export
            return parsed.ids[completed_by]
        key = f"id:{completed_by}"
        parsed.annotators.setdefault(key, Annotator(username=f"label-studio-{completed_by}"))
        return key
    if labeler:
        parsed.annotators.setdefault("labeler", Annotator(username=labeler))
        return "labeler"
    raise Bad("the annotation names no annotator (completed_by); name one with labeler")


def _ls_is_media(value, modality) -> bool:
    """Whether a data field's string names a file of the modality (its path's extension: a clip's, an image's)."""
    url = urlparse(value)
    path = parse_qs(url.query)["d"][0] if "d" in parse_qs(url.query) else unquote(url.path)
    extension = posixpath.splitext(path)[1].lower()
    return extension in {"audio": AUDIO_EXTENSIONS, "image": IMAGE_EXTENSIONS}.get(modality, ())


def _ls_media(data, modality):
    """The task's file reference (or text): data[modality], else its only string value, else its only string
    naming a file of the modality: Label Studio names the field after the labeling config's value (``$url``,
    ``$clip``), which JSON-MIN writes beside the task's other data fields."""
    if not isinstance(data, dict):
        raise Bad("'data' must be an object")
    value = data.get(modality)
    if value is None:
        strings = {k: v for k, v in data.items() if isinstance(v, str)}
        if len(strings) > 1:
            files = {k: v for k, v in strings.items() if _ls_is_media(v, modality)}
            if len(files) != 1:
                raise Bad(
                    f"'data' has no '{modality}', and {len(files) or 'none'} of its fields "
                    f"({_listed(sorted(strings))}) name a file of the {modality} kind"
                )
            strings = files
        if len(strings) != 1:
            raise Bad(f"'data' has no '{modality}'")
        value = next(iter(strings.values()))
    if not isinstance(value, str) or not value:
        raise Bad(f"data.{modality} must be a non-empty string")
    return value


def _ls_candidates(reference):
    """File names a Label Studio data URL may stand for: its path, its base name, and the base name
    without the upload prefix Label Studio adds ("1a2b3c4d-photo.jpg")."""
    url = urlparse(reference)
    path = unquote(url.path)
    if "d" in parse_qs(url.query):  # /data/local-files/?d=folder/photo.jpg
        path = parse_qs(url.query)["d"][0]
    base = posixpath.basename(path)
    return [path.lstrip("/"), base, LS_UPLOAD_PREFIX.sub("", base)]


def _ls_unlabeled(result, key) -> bool:
    """Whether a region has no label: Label Studio's ``allowEmpty`` lets an annotator draw one and pick none
    (``"rectanglelabels": []``)."""
    value = result.get("value")
    return isinstance(value, dict) and value.get(key) in (None, [])


def _ls_value(project, classes, results, what, skipped):
    """An annotation's answer value from its results, or None when it holds nothing for this project. A region
    without a label is left out, its place added to ``skipped``; an annotation of only such regions is None."""
    wanted = LS_TYPES[project.task_type]
    before = len(skipped)
    if project.task_type == TaskType.DETECTION:
        regions = sum(
            1 for r in results if isinstance(r, dict) and r.get("type") in ("rectanglelabels", "polygonlabels")
        )
        if regions > MAX_SHAPES:  # counted, not read into boxes
            raise Bad(f"{what}: {regions:,} regions, over the limit of {MAX_SHAPES}")
        boxes, shaped, other = [], False, None
        for n, r in enumerate(r for r in results if isinstance(r, dict)):
            where = f"{what}, result {r.get('id', n)}"
            if r.get("type") in ("rectanglelabels", "polygonlabels") and _ls_unlabeled(r, r["type"]):
                skipped.append(where)
                continue
            if r.get("type") == "rectanglelabels":
                boxes.extend(_ls_boxes(r, classes, where))
                shaped = True
            elif r.get("type") == "polygonlabels":
                boxes.extend(_ls_polygon_boxes(r, classes, where))
                shaped = True
            elif r.get("type") in LS_OTHER_REGIONS and other is None:
                other = (where, r["type"])
        if other and not shaped:
            # its image would read "nothing here", though the annotator marked something on it
            raise Bad(
                f"{other[0]}: a {other[1]} region is not imported: a detection project takes rectanglelabels "
                "and polygonlabels (as their boxes)"
            )
        if not boxes and len(skipped) > before:
            return None  # its annotator marked regions without saying what: not "nothing here"
        return {"boxes": boxes}
    results = [r for r in results if isinstance(r, dict) and r.get("type") == wanted]
    if project.task_type == TaskType.SEGMENTS:
        segments = []
        for n, r in enumerate(results):
            where = f"{what}, result {r.get('id', n)}"
            value = r.get("value") if isinstance(r.get("value"), dict) else {}
            if isinstance(value.get("text"), str):
                continue  # a span of a text shown beside the clip (Labels on a Text tag): characters, not seconds
            if _ls_unlabeled(r, "labels"):
                skipped.append(where)
                continue
            start, end = _number(value.get("start"), f"{where}: start"), _number(value.get("end"), f"{where}: end")
            labels = value.get("labels")
            if not isinstance(labels, list):
                raise Bad(f"{where}: the region's labels must be a list")
            if end <= start or start < 0:
                raise Bad(f"{where}: the region {start:g}..{end:g} s is not a time span")
            for label in labels:
                try:
                    segments.append({"start": start, "end": end, "label": classes.key(label)})
                except Bad as exc:
                    raise Bad(f"{where}: {exc}") from None
        # A region marked on two channels (``splitchannels``), or given one class by two Labels controls, is
        # one segment: a clip's segments have no channel.
        unique = {(s["start"], s["end"], s["label"]): s for s in segments}
        if not unique and len(skipped) > before:
            return None
        return {"segments": list(unique.values())}
    if project.task_type == TaskType.CLASSIFICATION:
        chosen = []
        for n, r in enumerate(results):
            value = r.get("value") if isinstance(r.get("value"), dict) else {}
            for choice in value.get("choices") or []:
                try:
                    chosen.append(classes.key(choice))
                except Bad as exc:
                    raise Bad(f"{what}, result {r.get('id', n)}: {exc}") from None
        chosen = list(dict.fromkeys(chosen))
        if len(chosen) > 1:
            raise Bad(f"{what}: {len(chosen)} choices ({', '.join(chosen)}); a classification answer takes one")
        return chosen[0] if chosen else None
    lines = []
    # Per-region transcripts (a TextArea with perRegion) come in the order their regions were drawn: read
    # them in the clip's order, after any transcript of the whole clip.
    results = sorted(results, key=lambda r: _ls_start(r.get("value")))
    for r in results:
        text = (r.get("value") or {}).get("text") if isinstance(r.get("value"), dict) else None
        lines.extend([text] if isinstance(text, str) else [t for t in text or [] if isinstance(t, str)])
    transcript = "\n".join(t for t in lines if t.strip())
    return transcript or None


def _ls_polygon_boxes(result, classes, where):
    """A polygon's upright box around its points (percentages of the image), one per label."""
    value = result.get("value")
    points = value.get("points") if isinstance(value, dict) else None
    if not isinstance(points, list) or len(points) < 3 or not all(isinstance(p, list) and len(p) == 2 for p in points):
        raise Bad(f"{where}: a polygon's points must be [x, y] pairs, at least three")
    xs = [_number(p[0], f"{where}: a point") / 100 for p in points]
    ys = [_number(p[1], f"{where}: a point") / 100 for p in points]
    labels = value.get("polygonlabels")
    if not isinstance(labels, list) or not labels:
        raise Bad(f"{where}: the polygon has no polygonlabels")
    boxes = []
    for label in labels:
        try:
            boxes.append(_box(min(xs), min(ys), max(xs) - min(xs), max(ys) - min(ys), classes.key(label), where))
        except Bad as exc:
            raise Bad(str(exc) if str(exc).startswith(where) else f"{where}: {exc}") from None
    return boxes


def _ls_start(value) -> float:
    """Where a result's region starts (seconds), or -inf for a result of the whole task."""
    start = value.get("start") if isinstance(value, dict) else None
    if isinstance(start, bool) or not isinstance(start, int | float) or not math.isfinite(start):
        return -math.inf
    return float(start)


def _ls_boxes(result, classes, where):
    value = result.get("value")
    if not isinstance(value, dict):
        raise Bad(f"{where}: the result has no value")
    x, y, w, h = (_number(value.get(k), f"{where}: {k}") / 100 for k in ("x", "y", "width", "height"))
    labels = value.get("rectanglelabels")
    if not isinstance(labels, list) or not labels:
        raise Bad(f"{where}: the box has no rectanglelabels")
    rotation = _number(value.get("rotation", 0) or 0, f"{where}: rotation") % 360
    if min(rotation, 360 - rotation) > 0.01:
        # Label Studio turns a box about its top-left corner: keep the upright box around it, turned in
        # the image's pixels (in the unit square, as a missing size made it, any image not square was skewed)
        if not result.get("original_width") or not result.get("original_height"):
            raise Bad(f"{where}: a rotated box needs the image's original_width and original_height")
        width = _number(result["original_width"], f"{where}: original_width")
        height = _number(result["original_height"], f"{where}: original_height")
        a = math.radians(rotation)
        px, py, pw, ph = x * width, y * height, w * width, h * height
        xs = [px, px + pw * math.cos(a), px - ph * math.sin(a), px + pw * math.cos(a) - ph * math.sin(a)]
        ys = [py, py + pw * math.sin(a), py + ph * math.cos(a), py + pw * math.sin(a) + ph * math.cos(a)]
        x0, x1 = max(min(xs), 0) / width, min(max(xs), width) / width
        y0, y1 = max(min(ys), 0) / height, min(max(ys), height) / height
        x, y, w, h = x0, y0, x1 - x0, y1 - y0
    boxes = []
    for label in labels:
        try:
            boxes.append(_box(x, y, w, h, classes.key(label), where))
        except Bad as exc:
            raise Bad(str(exc) if str(exc).startswith(where) else f"{where}: {exc}") from None
    return boxes


# A JSON-MIN record's own fields; the others are the task's data fields and each control's results.
LS_MIN_META = ("id", "annotator", "annotation_id", "created_at", "updated_at", "lead_time", "agreement", "history")


def _is_ls_min(data) -> bool:
    """Label Studio's JSON-MIN export: one record per annotation, the task's data fields at its top
    (no ``data`` and no ``annotations``), with its ``annotator`` and ``annotation_id``."""
    records = [r for r in data if isinstance(r, dict)]
    return (
        bool(records)
        and not any(k in r for r in records for k in ("data", "annotations", "completions"))
        and any(k in r for r in records for k in ("annotator", "annotation_id"))
    )


def _ls_min_result(value) -> dict | None:
    """A JSON-MIN result (a control's value, its ``type`` left out) as the JSON export writes it."""
    if not isinstance(value, dict):
        return None
    regions = [
        k for k in ("rectanglelabels", "polygonlabels", *LS_OTHER_REGIONS) if k.endswith("labels") and k in value
    ]
    if regions:
        kind = regions[0]
    elif "labels" in value and "start" in value:
        kind = "labels"
    elif "choices" in value:
        kind = "choices"
    elif "text" in value:
        kind = "textarea"
    else:
        return None
    extra = {k: value[k] for k in ("original_width", "original_height") if k in value}
    return {"type": kind, "value": value, **extra}


def _ls_min_tasks(records, *, project, classes, filename) -> list:
    """JSON-MIN records as the JSON export's tasks: the records of one task ``id`` its annotations. A
    single choice or text is written as a plain string, like a data field beside it: for classification
    the fields holding one of the project's classes in any record are the choices, for transcription the
    one string field besides the clip's."""
    answer_fields, kind = _ls_min_fields(records, project=project, classes=classes, filename=filename)
    tasks = {}
    for key, data, annotation in _ls_min_records(records, answer_fields, kind):
        task = tasks.setdefault(key, data)
        if annotation is not None:
            task["annotations"].append({**annotation, "id": annotation.get("id", f"#{len(task['annotations'])}")})
    return list(tasks.values())


def _ls_min_fields(records, *, project, classes, filename) -> tuple[set, str]:
    """The fields of JSON-MIN records that hold a plain-string answer (``_ls_min_tasks``), and its result type."""
    strings, answer_fields, several = set(), set(), False
    for r in records:
        if not isinstance(r, dict):
            continue
        for k, v in r.items():
            if isinstance(v, str) and k not in LS_MIN_META and k != project.modality:
                strings.add(k)
                if project.task_type == TaskType.CLASSIFICATION and k not in answer_fields and _is_class(classes, v):
                    answer_fields.add(k)
            elif project.task_type == TaskType.CLASSIFICATION and not several:
                several = any(isinstance(one, dict) and "choices" in one for one in (v if isinstance(v, list) else [v]))
    if project.task_type == TaskType.CLASSIFICATION:
        if not answer_fields and not several:
            # Every task would go in without an answer, and no word said: classes named otherwise than here.
            raise InputRejected(
                f"{filename}: no field of this JSON-MIN export holds one of the project's classes "
                f"({', '.join(sorted(classes.keys))}) in any record; its text fields: "
                f"{_listed(sorted(strings)) or 'none'}"
            )
    elif project.task_type == TaskType.TRANSCRIPTION:
        if len(strings) > 1:
            raise InputRejected(
                f"{filename}: a JSON-MIN export's transcript is a plain string, and {len(strings)} fields hold one "
                f"({_listed(sorted(strings))}): export JSON instead, which says which is the transcript"
            )
        answer_fields = strings
    return answer_fields, "choices" if project.task_type == TaskType.CLASSIFICATION else "textarea"


def _ls_min_records(records, answer_fields, kind):
    """(task key, the task as its first record makes it, the record's annotation or None) of each JSON-MIN
    record: a record that is no object is its own task, itself (refused as the JSON export's would be). An
    annotation without ``annotation_id`` has no ``id``: the grouping numbers it in its task."""
    for n, record in enumerate(records):
        if not isinstance(record, dict):
            yield ("record", n), record, None
            continue
        data, results = {}, []
        for k, v in record.items():
            if k in LS_MIN_META:
                continue
            if k in answer_fields and isinstance(v, str):
                results.append({"id": k, "type": kind, "value": {kind if kind == "choices" else "text": [v]}})
                continue
            found = [_ls_min_result(one) for one in (v if isinstance(v, list) else [v])]
            if found and all(found):
                results.extend({"id": k, **one} for one in found)
            else:
                data[k] = v
        task_id = record.get("id")
        key = ("id", task_id) if isinstance(task_id, int | str) else ("record", n)
        task = {"data": data, "annotations": [], **({"id": task_id} if key[0] == "id" else {})}
        annotator = record.get("annotator")
        if record.get("annotation_id") is None and annotator is None and not results:
            # an "all tasks" export writes a task nobody annotated as a record without annotation or
            # annotator: the task, with no answer (not the labeler's "nothing here", not a refusal)
            yield key, task, None
            continue
        if isinstance(annotator, str):
            annotator = int(annotator) if annotator.isdigit() else {"email": annotator}
        annotation = {"completed_by": annotator, "result": results, "lead_time": record.get("lead_time")}
        if "annotation_id" in record:
            annotation = {"id": record["annotation_id"], **annotation}
        yield key, task, annotation


class _JsonMin:
    """A JSON-MIN export streamed (``_ls_read``): its records, whose tasks' records come one after another,
    read a record at a time, and grouped a task at a time into the JSON export's tasks (``_ls_min_tasks``)."""

    def __init__(self, records):
        self.records = records  # a _JsonList

    def tasks(self, *, project, classes, filename):
        """The JSON export's tasks; raises InputRejected as ``_ls_min_tasks`` does, before the first."""
        answer_fields, kind = _ls_min_fields(self.records, project=project, classes=classes, filename=filename)
        return self._grouped(answer_fields, kind)

    def _grouped(self, answer_fields, kind):
        current = task = None
        for key, data, annotation in _ls_min_records(self.records, answer_fields, kind):
            if key != current:
                if current is not None:
                    yield task
                current, task = key, data
            if annotation is not None:
                task["annotations"].append({**annotation, "id": annotation.get("id", f"#{len(task['annotations'])}")})
        if current is not None:
            yield task


def _is_class(classes, label) -> bool:
    try:
        classes.key(label)
    except Bad:
        return False
    return True


class _JsonList:
    """A file's top-level JSON list read a record at a time (ijson), once ``_ls_read`` has read it through."""

    def __init__(self, open_file):
        self.open_file = open_file

    def __iter__(self):
        with self.open_file() as f:
            yield from ijson.items(f, "item", use_float=True)


def _ls_read(open_file, filename):
    """A Label Studio export as ``label_studio_parse`` takes it: a JSON export (a list of tasks) streamed
    (``_JsonList``), each task read, answered and let go, instead of the whole file's objects; else (one
    task, a JSON-MIN export, whose records are grouped into tasks, or JSON the streaming parser refuses)
    as ``json.loads`` reads it whole, its errors and messages as before."""
    _depth_checked(open_file, filename)
    streamed = _JsonList(open_file)
    try:
        with open_file() as f:
            if next(ijson.parse(f, buf_size=64), None) != ("", "start_array", None):  # its first bytes
                raise _NotStreamed
        records = task_keys = min_keys = False
        seen, last, together = set(), None, True  # the task ids of JSON-MIN records, whether each task's are together
        for record in streamed:  # a pass over the whole file: its JSON is checked before anything is used
            if isinstance(record, dict):
                records = True
                task_keys = task_keys or any(k in record for k in ("data", "annotations", "completions"))
                min_keys = min_keys or any(k in record for k in ("annotator", "annotation_id"))
                task_id = record.get("id")
                if together and isinstance(task_id, int | str) and ("id", task_id) != last:
                    last = ("id", task_id)
                    together = last not in seen
                    seen.add(last)
                elif not isinstance(task_id, int | str):
                    last = None
            else:
                last = None
        if records and not task_keys and min_keys:  # JSON-MIN (_is_ls_min)
            if not together:  # a task's records apart: grouped in memory (json.loads)
                raise _NotStreamed
            return _JsonMin(streamed)
        return streamed
    except (_NotStreamed, ijson.JSONError):
        with open_file() as f:
            return _read_json(f.read(), filename)


def label_studio_parse(*, data, filename, project, media, labeler) -> Parsed:
    """Tasks of a Label Studio JSON export (a list of tasks), or of its JSON-MIN export (a list of
    annotations): each task's file (or text) and one answer per completed annotation. ``data`` is the
    file's JSON, or the export streamed (``_ls_read``)."""
    if isinstance(data, dict) and "data" in data:
        data = [data]
    if not isinstance(data, list | _JsonList | _JsonMin):
        raise InputRejected(f"{filename}: a Label Studio JSON export is a list of tasks")
    classes = _Classes(project)
    if isinstance(data, list) and _is_ls_min(data):
        data = _ls_min_tasks(data, project=project, classes=classes, filename=filename)
    elif isinstance(data, _JsonMin):
        data = data.tasks(project=project, classes=classes, filename=filename)
    parsed = Parsed()
    for n, raw in enumerate(data):
        task_id = raw.get("id", n + 1) if isinstance(raw, dict) else n + 1
        task = Task(where=f"{filename} task {task_id}")
        parsed.tasks.append(task)
        try:
            if not isinstance(raw, dict):
                raise Bad("a task must be an object with 'data' and 'annotations'")
            reference = _ls_media(raw.get("data"), project.modality)
            if project.modality == "text":
                task.name, task.text = f"task {task_id}", reference
            else:
                media.find(task, _ls_candidates(reference))
            notes = []  # regions without a label, left out
            annotations = raw.get("annotations", raw.get("completions")) or []
            if not isinstance(annotations, list):
                raise Bad("'annotations' must be a list")
            for m, ann in enumerate(annotations):
                if not isinstance(ann, dict) or ann.get("was_cancelled"):
                    continue
                what = f"annotation {ann.get('id', f'#{m}')}"
                annotator = _ls_annotator(parsed, ann.get("completed_by"), labeler)
                shown = parsed.annotators[annotator].email or parsed.annotators[annotator].username
                what = f"{what} by {shown}"
                results = ann.get("result") or []
                if not isinstance(results, list):
                    raise Bad(f"{what}: 'result' must be a list")
                skipped = []
                value = _ls_value(project, classes, results, what, skipped)
                outcome = (
                    "the task's labeled regions are imported"
                    if value is not None
                    else "the annotation has no labeled region, so it is not imported"
                )
                notes += [{"name": task.where, "reason": f"{where}: {LS_UNLABELED}; {outcome}"} for where in skipped]
                if value is None:
                    continue  # no choice or transcript: nothing was answered
                seconds = ann.get("lead_time")
                seconds = float(seconds) if isinstance(seconds, int | float) and 0 <= seconds <= 86400 else None
                task.answers.append(Answer(annotator=annotator, value=value, where=what, seconds=seconds))
            parsed.rejected.extend(notes)
        except Bad as exc:
            task.error = str(exc)
    return parsed


# --- running an import ---------------------------------------------------------------------------


@dataclass
class LabelImportReport(imports.ImportReport):
    answers: dict = field(default_factory=lambda: {"created": 0, "revised": 0, "unchanged": 0})
    labelers: set = field(default_factory=set)

    def extra(self) -> dict:
        return {"answers": self.answers, "labelers": sorted(self.labelers)}


def _read_json(raw: bytes, filename):
    try:
        return json.loads(raw.decode("utf-8-sig"))
    except UnicodeDecodeError:
        raise InputRejected(f"{filename}: not UTF-8 text") from None
    except json.JSONDecodeError as exc:
        raise InputRejected(f"{filename}: not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})") from None
    except RecursionError:
        raise InputRejected(f"{filename}: {imports.NESTED_TOO_DEEP}") from None


def labels_parse(
    *, project, fmt, handle, filename, archive=None, labeler="", images_without_boxes=NOTHING_HERE
) -> Parsed:
    """Read a labels upload: a JSON file (COCO, Label Studio) or a zip holding one with its media (a
    YOLO upload is always a zip). Raises InputRejected when the labels file itself cannot be read.
    With ``images_without_boxes`` ``unanswered`` an answer of no boxes is left out: its image comes in
    unanswered rather than as the labeler's "nothing here"."""
    media = _Media(project, archive)
    if fmt in CHECKED_FILES:
        if archive is not None:
            suffix = CHECKED_FILES[fmt]
            found = [n for n in media.paths if n.lower().endswith(suffix)]
            if len(found) != 1:
                listed = ", ".join(sorted(found)[:3]) if found else "none"
                raise InputRejected(f"the archive must hold exactly one {suffix} labels file (found: {listed})")
            filename = found[0]
            info = media.paths[filename]
            imports.zip_member_check(info)
            raw = archive.read(info)
        else:
            raw = handle.read()
        if fmt in SEGMENT_FILES:
            parsed = segments_parse(fmt=fmt, raw=raw, filename=filename, project=project, media=media, labeler=labeler)
        else:
            text = utf8_decoded(raw, filename)
            parsed = labels_csv_parse(text=text, filename=filename, project=project, media=media, labeler=labeler)
    elif fmt == "yolo":
        if archive is None:
            raise InputRejected("a YOLO import is a zip archive (labels/*.txt, classes.txt or data.yaml, images)")
        parsed = yolo_parse(archive=archive, project=project, media=media, labeler=labeler)
    elif fmt == "cvat":
        if archive is not None:
            found = [n for n in media.paths if n.lower().endswith(".xml")]
            if len(found) != 1:
                raise InputRejected(
                    f"the archive must hold exactly one .xml labels file, CVAT's annotations.xml (found: "
                    f"{_listed(sorted(found)) or 'none'})"
                )
            filename = found[0]
            open_file = _member_opener(archive, media, filename, skip_bom=False)
        else:
            open_file = lambda: _from_start(handle)  # noqa: E731
        parsed = cvat_parse(open_file=open_file, filename=filename, project=project, media=media, labeler=labeler)
    elif fmt == "voc":
        raw = None if archive is not None else handle.read()
        parsed = voc_parse(archive=archive, raw=raw, filename=filename, project=project, media=media, labeler=labeler)
    elif fmt == "huggingface":
        parsed = huggingface_parse(
            archive=archive, open_file=lambda: _from_start(handle), filename=filename, project=project, media=media,
            labeler=labeler,
        )  # fmt: skip
    elif fmt == "coco" and archive is not None:
        parsed = _coco_archive(
            project=project,
            archive=archive,
            media=media,
            labeler=labeler,
            unanswered=images_without_boxes == UNANSWERED,
        )
    elif fmt == "coco":
        data = _coco_read(_json_opener(lambda: _from_start(handle)), filename)
        parsed = coco_parse(data=data, filename=filename, project=project, media=media, labeler=labeler,
                            unanswered=images_without_boxes == UNANSWERED)  # fmt: skip
    else:
        if archive is not None:
            found = [n for n in media.paths if n.lower().endswith(".json")]
            if len(found) != 1:
                listed = ", ".join(sorted(found)[:3]) if found else "none"
                raise InputRejected(f"the archive must hold exactly one .json labels file (found: {listed})")
            filename = found[0]
            data = _ls_read(_member_opener(archive, media, filename), filename)
        else:
            data = _ls_read(_json_opener(lambda: _from_start(handle)), filename)
        parsed = label_studio_parse(data=data, filename=filename, project=project, media=media, labeler=labeler)
    parsed.rejected[:0] = media.bad
    _flags_without_option(project, fmt, parsed)
    _same_image_twice(parsed)
    if images_without_boxes == UNANSWERED:
        for task in parsed.tasks:
            task.answers = [a for a in task.answers if not _no_boxes(task, a)]
    return parsed


def _flags_without_option(project, fmt, parsed) -> None:
    """Take off the boxes the flags (VOC's difficult, CVAT's and COCO's attributes: ``FLAGS_FROM``) that the
    project has no option for, which would refuse each such image's answer, and say once per flag how many
    boxes went in without it, naming the first's file: the boxes go in, and turning the option on and
    importing again flags them (a new revision of each answer)."""
    missing = [flag for flag in ("borderline", "uncertain") if (fmt, flag) in FLAGS_FROM]
    missing = [flag for flag in missing if not getattr(project, f"allow_{flag}")]
    if not missing:
        return
    dropped = {}  # flag -> [boxes, the first one's task]
    for task in parsed.tasks:
        for answer in task.answers:
            boxes = answer.value.get("boxes") if isinstance(answer.value, dict) else None
            for box in boxes or ():
                for flag in missing:
                    if box.pop(flag, False):
                        dropped.setdefault(flag, [0, task])[0] += 1
    for flag in missing:
        if flag in dropped:
            n, task = dropped[flag]
            parsed.rejected.append(
                {
                    "name": task.where,
                    "reason": f"{n} {'box' if n == 1 else 'boxes'} {FLAGS_FROM[fmt, flag]} (the first here) went in "
                    f"without the {flag} flag: this project has no {flag} option; turn it on in the project's "
                    "settings and import again to keep it",
                }
            )


def _same_image_twice(parsed) -> None:
    """Refuse the tasks that name one image (a file of the zip, or an item) with different answers by the same
    labeler, each naming the others: the later one replaced the earlier's answer without a word, and which one
    the file meant cannot be told. The same answers twice are one answer, and go in."""
    by_image = defaultdict(list)
    for task in parsed.tasks:
        if task.error or not task.answers:
            continue
        if task.item is not None:
            by_image[("item", task.item)].append(task)
        elif task.load is not None:
            by_image[("file", task.name)].append(task)
    for tasks in by_image.values():
        if len(tasks) < 2:
            continue
        given = defaultdict(set)
        for task in tasks:
            for answer in task.answers:
                value = json.dumps([answer.value, task.pixel_boxes, task.size], sort_keys=True, default=str)
                given[answer.annotator].add(value)
        differ = [key for key, values in given.items() if len(values) > 1]
        if not differ:
            continue
        annotator = parsed.annotators.get(differ[0])
        who = (annotator.username or annotator.email if annotator else "") or differ[0]
        for task in tasks:
            others = [other.where for other in tasks if other is not task]
            task.error = (
                f"{_listed(others)} names the same image with other answers by {who}: which one is meant cannot be told"
            )


def _no_boxes(task, answer) -> bool:
    """Whether an answer is "nothing here": no boxes (nor boxes in pixels waiting for the image's size)."""
    value = answer.value
    return isinstance(value, dict) and value.get("boxes") == [] and not task.pixel_boxes


def _read_member(archive, media, filename) -> bytes:
    info = media.paths[filename]
    imports.zip_member_check(info)
    return archive.read(info)


@contextlib.contextmanager
def _from_start(handle):
    """The upload itself, at its start (left open: the job closes it)."""
    handle.seek(0)
    yield handle


def _member_opener(archive, media, filename, skip_bom=True):
    """``open_file`` for ``_CocoFile`` (a UTF-8 BOM skipped) or ``_XmlChildren`` (``skip_bom`` False: expat reads
    it): the zip member, once its size is checked against the import limit."""
    info = media.paths[filename]
    imports.zip_member_check(info)
    if not skip_bom:
        return lambda: archive.open(info)
    return _json_opener(lambda: archive.open(info))


COCO_OTHER_FILES = ("person_keypoints_", "captions_")  # COCO's files of an instances file's images


def _coco_instances_beside(name, names) -> str | None:
    """The ``instances_<subset>.json`` in the folder of a ``person_keypoints_<subset>.json`` or
    ``captions_<subset>.json``, if ``names`` has it."""
    folder, base = posixpath.split(name)
    prefix = next((p for p in COCO_OTHER_FILES if base.lower().startswith(p)), None)
    if prefix is None:
        return None
    instances = posixpath.join(folder, "instances_" + base[len(prefix) :])
    return instances if instances in names else None


def _coco_archive(*, project, archive, media, labeler, unanswered=False) -> Parsed:
    """A zip's COCO files with its images: one file, or one per split (Roboflow's ``train/``, ``valid/``,
    ``test/`` each with its ``_annotations.coco.json``; CVAT's ``annotations/instances_<subset>.json``),
    each file's images looked for beside it too. Of several .json files, those that are no COCO file (an
    object with ``images`` and ``annotations`` lists) are left alone, and so is a ``person_keypoints_<subset>.json``
    beside the subset's ``instances_<subset>.json`` (COCO's own zips, CVAT's "COCO Keypoints"): the same images,
    its boxes those of one class, which would read each image twice and leave only that class's boxes (and
    COCO's ``captions_<subset>.json``, the same images without boxes)."""
    found = sorted(n for n in media.paths if n.lower().endswith(".json"))
    found = [n for n in found if _coco_instances_beside(n, found) is None]
    if not found:
        raise InputRejected("the archive must hold a .json COCO labels file (found: none)")
    files = [(name, _coco_read(_member_opener(archive, media, name), name)) for name in found]
    if len(files) > 1:  # a streamed file with no images or no annotations: read whole, to tell whether it is COCO
        files = [
            (
                name,
                data
                if not isinstance(data, _CocoFile) or data.has("images") and data.has("annotations")
                else data.whole(),
            )
            for name, data in files
        ]
        files = [
            (name, data)
            for name, data in files
            if isinstance(data, _CocoFile)
            or isinstance(data, dict)
            and all(isinstance(data.get(k), list) for k in ("images", "annotations"))
        ]
        if not files:
            raise InputRejected(f"no .json file of the archive is a COCO file ({_listed(found)})")
    parsed = Parsed(annotators={"labeler": Annotator(username=labeler)})
    for name, data in files:
        one = coco_parse(
            data=data,
            filename=name,
            project=project,
            media=media,
            labeler=labeler,
            folders=_coco_folders(name),
            unanswered=unanswered,
        )
        parsed.tasks.extend(one.tasks)
        parsed.rejected.extend(one.rejected)
    return parsed


def _users(annotators, keys, cache, project):
    """Users for annotator keys: found by e-mail or username, else created (without a usable password:
    they set one with a password reset); each made a labeler of the project unless a member already."""
    User = get_user_model()
    for key in keys:
        if key in cache:
            continue
        who = annotators[key]
        user = None
        if who.email:
            user = User.objects.filter(email__iexact=who.email).order_by("pk").first()
        username = who.username or who.email[:150]
        if user is None:
            user = User.objects.filter(username=username).first()
        if user is None:
            user = User.objects.create_user(
                username=username, email=who.email, first_name=who.first_name, last_name=who.last_name
            )
        Membership.objects.get_or_create(project=project, user=user, defaults={"role": Role.LABELER})
        cache[key] = user
    return cache


def _message(exc: ValidationError):
    if hasattr(exc, "message_dict"):
        return "; ".join(m for messages in exc.message_dict.values() for m in messages)
    return "; ".join(exc.messages)


def _pre_validate(project, parsed, class_keys):
    """Answers checked before any item is stored (all but a clip's length, which needs the item)."""
    for task in parsed.tasks:
        if task.error:
            continue
        for answer in task.answers:
            try:
                annotation_validate(project=project, value=answer.value, class_keys=class_keys, **answer.flags)
            except ValidationError as exc:
                task.error = _answer_problem(task, answer, exc)
                break


MAX_LISTED_PROBLEMS = 20
# A segments file read while the request waits: 16 MB is about 250,000 RTTM lines, 2 s of CPU and 120 MB of
# the web process's memory at most. A larger one is checked by the job, like a COCO file.
PRECHECK_BYTES = 16 * 2**20


def label_import_precheck(*, project, fmt, upload, labeler) -> None:
    """Read a segments file (``segments_csv``, ``rttm``; alone or in a zip with its clips) while the request
    waits, and raise ValidationError ``{"file": [...]}`` naming each bad line and its problem (an unknown
    class, a malformed line, a negative duration, an onset past the clip's end, a file no clip or item has):
    then nothing is imported. A zip's new clips are measured once stored, by the job (which reports a
    segment past their end, importing the other recordings), and a file over ``PRECHECK_BYTES`` is left to
    the job altogether. Leaves ``upload`` at its start."""
    if fmt not in CHECKED_FILES:
        return
    upload.seek(0)
    head = upload.read(4)
    upload.seek(0)
    archive = None
    try:
        archive = zipfile.ZipFile(upload) if head.startswith(b"PK") else None
        suffix = CHECKED_FILES[fmt]
        sizes = [i.file_size for i in archive.infolist() if i.filename.lower().endswith(suffix)] if archive else []
        if max(sizes, default=upload.size if archive is None else 0) > PRECHECK_BYTES:
            return
        parsed = labels_parse(
            project=project, fmt=fmt, handle=upload, filename=upload.name.rsplit("/", 1)[-1], archive=archive,
            labeler=labeler,
        )  # fmt: skip
        _pre_validate(project, parsed, [c.key for c in project.active_classes()])
    except (InputRejected, zipfile.BadZipFile) as exc:
        raise ValidationError({"file": str(exc)}) from None
    finally:
        if archive is not None:
            archive.close()
        upload.seek(0)
    problems = [f"{r['name']}: {r['reason']}" for r in parsed.rejected]
    problems += [f"{t.where}: {t.error}" for t in parsed.tasks if t.error]
    if problems:
        if len(problems) > MAX_LISTED_PROBLEMS:
            more = len(problems) - MAX_LISTED_PROBLEMS
            problems = [*problems[:MAX_LISTED_PROBLEMS], f"... and {more} more; nothing was imported"]
        else:
            problems.append("nothing was imported")
        raise ValidationError({"file": problems})


def label_import_run(*, job, handle, source, on_start, on_progress) -> LabelImportReport:
    """Run a labels import job: items first (new files stored as usual), then each chunk's answers in one
    transaction. ``on_start(total)`` once the labels are read, ``on_progress(done)`` after each chunk."""
    params = job.params
    project = job.project
    head = handle.read(4)
    handle.seek(0)
    archive = zipfile.ZipFile(handle) if head.startswith(b"PK") else None
    try:
        parsed = labels_parse(
            project=project,
            fmt=params["format"],
            handle=handle,
            filename=params.get("filename", "labels.json"),
            archive=archive,
            labeler=params.get("labeler", ""),
            images_without_boxes=params.get("images_without_boxes", NOTHING_HERE),
        )
        class_keys = [c.key for c in project.active_classes()]
        _pre_validate(project, parsed, class_keys)
        report = LabelImportReport()
        report.rejected.extend(parsed.rejected)
        on_start(len(parsed.tasks))
        run = imports._Run(job_id=job.pk)
        users = {}
        size = imports.CHUNK_SIZE
        for start in range(0, len(parsed.tasks), size):
            chunk = parsed.tasks[start : start + size]
            _chunk_items(project=project, chunk=chunk, job=job, run=run, report=report, params=params, source=source)
            try:
                _chunk_answers(
                    project=project, chunk=chunk, parsed=parsed, users=users, report=report, class_keys=class_keys
                )
            except OperationalError as exc:
                if not is_deadlock(exc):
                    raise
                raise BatchNotSaved(_not_saved(start, len(chunk), len(parsed.tasks))) from exc
            on_progress(start + len(chunk))
        return report
    finally:
        if archive is not None:
            archive.close()


def _chunk_items(*, project, chunk, job, run, report, params, source):
    entries = []
    for task in chunk:
        if task.error:
            report.rejected.append({"name": task.where, "reason": task.error})
            continue
        if task.load is not None or task.text is not None:
            entry = imports.ImportEntry(
                name=task.name,
                load=task.load,
                text=task.text,
                tags=list(params.get("tags", [])),
                source=source,
                metadata=dict(task.metadata),
            )
            task.entry = entry
            entries.append(entry)
    if entries:
        report.extend(imports._import_chunk(project=project, entries=entries, job=job, run=run))
    for task in chunk:
        entry = task.entry
        if entry is not None:
            task.item = entry.item
            if entry.item is None and not task.error:
                task.error = "its file was rejected"  # reported by the item import, under the file's name


def _not_saved(start, n, total) -> str:
    before = f" (those of entries 1-{start} are stored)" if start else ""
    return (
        f"entries {start + 1}-{start + n} of {total}: another change to the same items was being saved at the "
        f"same moment and the database stopped this import there twice; none of their answers was saved{before}. "
        "Retry the job to finish it: it stores nothing twice."
    )


@dataclass
class _Stored:
    """What one chunk's answers did, added to the import's report and users only once its transaction
    committed: a deadlock's victim runs again from the start, and a user made by the rolled-back try is a
    row that no longer exists (an answer of theirs failed on its foreign key)."""

    users: dict
    rejected: list = field(default_factory=list)
    answers: dict = field(default_factory=lambda: {"created": 0, "revised": 0, "unchanged": 0})
    labelers: set = field(default_factory=set)


def _chunk_answers(*, project, chunk, parsed, users, report, class_keys):
    tasks = [t for t in chunk if not t.error and t.item is not None and t.answers]
    if not tasks:
        return
    stored = _store_answers(project=project, tasks=tasks, parsed=parsed, users=users, class_keys=class_keys)
    users.update(stored.users)
    report.rejected.extend(stored.rejected)
    for outcome, n in stored.answers.items():
        report.answers[outcome] += n
    report.labelers |= stored.labelers


def _turned(task, item) -> str:
    """Why a COCO image's boxes cannot go in as fractions of its declared size: it declares the item's
    upright size turned a quarter (a phone photo's stored pixels, its EXIF orientation not applied), so
    its boxes are in a frame turned against the one labelers see; "" otherwise (a resized copy's size,
    the same shape, is fine)."""
    stats = item.stats or {}
    width, height = stats.get("width"), stats.get("height")
    if task.size is None or not width or not height or width == height:
        return ""
    if task.size != (float(height), float(width)):
        return ""
    return (
        f"the image is declared {task.size[0]:g} x {task.size[1]:g} pixels, but it is {width} x {height} as "
        "labeled (upright, its EXIF orientation applied): its boxes would land turned a quarter; declare the "
        "upright size and boxes"
    )


def _answer_problem(task, answer, exc) -> str:
    """Why an answer was refused once its item was known: a segments file's answer names the line of the
    segment (``segments[2]`` is the line the file gave it on), any other its annotation or result."""
    message = _message(exc)
    if task.lines:
        return re.sub(r"segments\[([0-9]+)\]", lambda m: f"line {task.lines[int(m.group(1))].line}", message)
    return f"{answer.where}: {message}"


def _same_flags(mine, flags) -> bool:
    """Whether a stored answer carries the flags an imported one gives: the three flags as given (unset:
    false), its borderline class and comment where the file gives them (a file with no comment column leaves a
    labeler's comment alone)."""
    if any(getattr(mine, flag) != flags.get(flag, False) for flag in ("borderline", "uncertain", "out_of_domain")):
        return False
    return all(getattr(mine, key) == flags[key] for key in ("borderline_with", "comment") if key in flags)


@retry_deadlock_once  # it locks its items in id order; a labeler's answer (?next=1) may lock two the other way
def _store_answers(*, project, tasks, parsed, users, class_keys) -> _Stored:
    """One chunk's answers in one transaction. Each try starts from the users of the chunks committed
    before (``users``, left untouched) and reads its items again."""
    stored = _Stored(users=dict(users))
    items = {i.pk: i for i in Item.objects.filter(pk__in={t.item for t in tasks}).select_related("project")}
    guideline = project.active_guideline
    with transaction.atomic():
        # Label imports of a project write their answers one chunk at a time: two jobs of the same file (a
        # double click) each found no user and no answer and made them, and the second failed on the
        # unique constraints. NO KEY UPDATE leaves the labelers' reservations and item imports alone.
        # Then the items, in id order, as relabel campaigns lock them (labeling.services.queue); a
        # labeler's answer with ?next=1 locks its item, then the one they hold: a deadlock, run again.
        project_lock(project.pk)
        list(Item.objects.filter(pk__in=items).order_by("pk").select_for_update().values_list("pk", flat=True))
        users = _users(parsed.annotators, {a.annotator for t in tasks for a in t.answers}, stored.users, project)
        current = {
            (a.item_id, a.labeler_id): a
            for a in Annotation.objects.filter(item__in=items, labeler__in=[u.pk for u in users.values()]).only(
                "item_id", "labeler_id", "value", *ANSWER_FLAGS
            )
        }
        for task in tasks:
            item = items[task.item]
            turned = _turned(task, item)
            if turned:
                stored.rejected.append({"name": task.where, "reason": turned})
                continue
            try:
                _pixel_boxes_placed(task, item)
            except Bad as exc:
                stored.rejected.append({"name": task.where, "reason": str(exc)})
                continue
            checked = []
            try:
                for answer in task.answers:
                    value = annotation_validate(
                        project=project, item=item, value=answer.value, class_keys=class_keys, **answer.flags
                    )
                    checked.append((answer, value))
            except ValidationError as exc:
                stored.rejected.append({"name": task.where, "reason": _answer_problem(task, answer, exc)})
                continue
            for answer, value in checked:
                user = users[answer.annotator]
                mine = current.get((item.pk, user.pk))
                if mine is not None and mine.value == value and _same_flags(mine, answer.flags):
                    stored.answers["unchanged"] += 1
                    continue
                annotation, created = annotation_store(
                    item=item, labeler=user, value=value, seconds=answer.seconds, guideline=guideline, validated=True,
                    **answer.flags,
                )  # fmt: skip
                current[(item.pk, user.pk)] = annotation
                stored.answers["created" if created else "revised"] += 1
                stored.labelers.add(user.username)
    return stored
