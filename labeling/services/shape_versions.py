"""Dataset versions of detection and segments projects: consensus shapes, their artifacts and diffs.

An item's label is the consensus of its labelers' shapes (``analysis.metrics.shapes.consensus``): boxes
matched across labelers at IoU ≥ 0.5 (same class) are clustered and fused, segments resolved by majority
over time; each shape carries ``support``, the number of labelers who drew it. An item an SME decided
(its latest decision a final label with shapes, under the recipe's ``use_decisions``) ships the
decision's shapes instead, each with ``decided: true`` and ``support`` the labelers who drew a matching
shape, and ``resolved_by`` ``decision``. Answers archived by a relabel campaign are not mixed with
new ones (shapes have no votes to weigh), but a relabel never loses the evidence: an item sent back that
has no new answer yet ships the consensus of its archived answers (each labeler's answer as it stood when
the campaign started, under the same filters), ``resolved_by`` ``archived``, unless the recipe's
``archived_weight`` is 0. Shape flags (borderline, uncertain) are ignored: the shape counts. Shape
classes, the labelers' and the decisions', count as the project's taxonomy changes and the recipe's
``class_map`` say (``effective_class_map``, as for classification): after "kitten" is merged into "cat",
a box one labeler drew as a kitten and another as a cat is one cat with support 2, and no "kitten" is
shipped.

Manifest rows keep the classification fields, with these meanings:

* ``label`` — ``{"boxes": [{"x", "y", "w", "h", "label", "support"}]}`` (fractions of the image) or
  ``{"segments": [{"start", "end", "label", "support"}]}`` (seconds); an empty list means "nothing here";
  ``null`` for a "needs review" row (fewer labelers than the recipe's ``min_answers``);
* ``agreement`` — mean over the consensus shapes of support / answering labelers (null without shapes);
* ``n_annotations`` — the labelers who answered; ``answers`` — {class: shapes the labelers drew};
* ``resolved_by`` — ``majority``, ``decision`` for an item an SME decided, or ``archived`` for an item
  whose only answers were archived by a relabel campaign.

Extra artifacts: detection ``coco`` (COCO JSON: bbox in pixels, to 6 decimals, from the item's stored ``width`` and
``height`` stats, those of the upright image as labelers saw it, EXIF orientation applied; category ids
1.. in the project's class order; ``file_name`` the item's file path, folders included: a manifest
line's path, not its display name) and ``yolo``
(a zip of ``labels/<path>.txt`` with ``class cx cy w h`` lines in fractions, class 0.. in the same order,
and ``data.yaml``; ``<path>`` the item's file path without its extension, folders kept, so ``a/x.png`` and
``b/x.png`` are ``labels/a/x.txt`` and ``labels/b/x.txt``, mirroring an ``images/`` tree as YOLO tools
expect, and ``-<item id>`` added when an earlier item has that path, ``a/x.jpg`` after ``a/x.png`` being
``labels/a/x-<id>.txt``; the label import reads both back); segments ``segments_csv``
(``item,start,end,label,support,file``, ``file`` the item's file path as COCO's ``file_name``) and ``rttm``
(``SPEAKER <file> 1 <start> <duration> <NA> <NA> <label> <NA> <NA>``, ``<file>`` the file name without its
extension, whitespace as ``_``, and ``-<item id>`` added when an earlier item has that name, as in YOLO's
label paths); the label import reads both back. Items are streamed in chunks; every writer appends to a
local file, so memory stays flat.
"""

import json
import os
import posixpath
import re
import zipfile
from collections import Counter

import numpy as np

from analysis.metrics.shapes import consensus, match_shapes, shape_table
from labelhub.csvsafe import arrow_strings, csv_writer
from labeling.choices import SHAPE_TASKS
from labeling.models import Annotation, ArchivedAnnotation, Decision, Tag
from labeling.selectors import class_mapping
from labeling.services import exports
from labeling.services.exports import NAMED_ITEMS, split_codes, split_hashes
from labeling.services.imports import file_path
from labeling.services.recipes import SHAPE_FORMATS, recipe_moment, recipe_parse
from labeling.services.resolution import _answers_queryset

FILENAMES = exports.FILENAMES
MOVED_IOU = 0.5  # a shape matched at this IoU or more, but not identical, has moved
# COCO pixels keep 6 decimals: a box read back is within 5e-7 of the drawn fractions on any image of a pixel
# or more (hundredths of a pixel moved a box on a 641-pixel image by 8e-6 and made a tiny box 0 wide).
PIXEL_DIGITS = 6


def is_shape_project(project) -> bool:
    return project.task_type in SHAPE_TASKS


def _dumps(value):
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _finished(fmt, path, n_rows):
    return exports.ArtifactFile(fmt, path, FILENAMES[fmt], os.path.getsize(path), exports.file_sha256(path), n_rows)


def _file_name(row):
    """The item's file name as a dataset knows it: the path it was imported from (``file_path``: a zip's
    ``a/x.png``; a manifest line's path, not its display name ``line 3 (img/a/x.png)``), its stored name,
    or ``item-<id>``."""
    name = file_path(row["original_name"] or "") or posixpath.basename(row["file"] or "")
    return name or f"item-{row['pk']}"


class _Classes:
    """Class keys in a stable order: the project's classes, then any other key met, as met."""

    def __init__(self, project):
        self.keys = [c.key for c in project.active_classes()]
        self.index = {k: i for i, k in enumerate(self.keys)}

    def code(self, key):
        if key not in self.index:
            self.index[key] = len(self.keys)
            self.keys.append(key)
        return self.index[key]


class _CocoWriter:
    """COCO JSON written in parts (images, annotations) and joined at close."""

    def __init__(self, folder, classes):
        self.folder, self.classes = folder, classes
        self.path = os.path.join(folder, FILENAMES["coco"])
        self.images = open(os.path.join(folder, "coco-images.part"), "w", encoding="utf-8")  # noqa: SIM115
        self.anns = open(os.path.join(folder, "coco-annotations.part"), "w", encoding="utf-8")  # noqa: SIM115
        self.n_images = self.n_anns = 0

    def write(self, row, item, shapes):
        width, height = _size(item)
        sep = "," if self.n_images else ""
        image = {"id": row["item"], "file_name": _file_name(item), "width": width, "height": height}
        self.images.write(sep + _dumps(image))
        self.n_images += 1
        for shape in shapes:
            x, y = shape["x"] * (width or 0), shape["y"] * (height or 0)
            w, h = shape["w"] * (width or 0), shape["h"] * (height or 0)
            self.n_anns += 1
            ann = {
                "id": self.n_anns,
                "image_id": row["item"],
                "category_id": self.classes.code(shape["label"]) + 1,
                "bbox": [
                    round(x, PIXEL_DIGITS),
                    round(y, PIXEL_DIGITS),
                    round(w, PIXEL_DIGITS),
                    round(h, PIXEL_DIGITS),
                ],
                "area": round(w * h, PIXEL_DIGITS),
                "iscrowd": 0,
                "support": shape["support"],
            }
            self.anns.write(("," if self.n_anns > 1 else "") + _dumps(ann))

    def close(self):
        self.images.close()
        self.anns.close()
        categories = [{"id": i + 1, "name": k, "supercategory": ""} for i, k in enumerate(self.classes.keys)]
        with open(self.path, "w", encoding="utf-8") as out:
            out.write('{"annotations":[')
            for part in ("coco-annotations.part", "coco-images.part"):
                with open(os.path.join(self.folder, part), encoding="utf-8") as handle:
                    while block := handle.read(1 << 20):
                        out.write(block)
                out.write('],"categories":' + _dumps(categories) + ',"images":[' if part.startswith("coco-a") else "]}")
                os.remove(os.path.join(self.folder, part))
        return _finished("coco", self.path, self.n_images)


def _size(item):
    stats = item["stats"] or {}
    width, height = stats.get("width"), stats.get("height")
    return (int(width) if width else None), (int(height) if height else None)


class _Stems:
    """File names without their extension, unique within one artifact: a name met before (``a.png`` and
    ``a.jpg``, two items) takes the item's id, ``a-<id>`` (and again, should a file be called that)."""

    def __init__(self):
        self.taken = set()

    def unique(self, stem, item_id):
        while stem in self.taken:
            stem = f"{stem}-{item_id}"
        self.taken.add(stem)
        return stem


def _rttm_field(value):
    """RTTM fields are separated by whitespace and records by line ends: a file name's or a class's
    spaces (tabs, line breaks) would shift every column after them, so they become ``_``."""
    return re.sub(r"\s", "_", str(value))


class _YoloWriter:
    def __init__(self, folder, classes):
        self.classes = classes
        self.path = os.path.join(folder, FILENAMES["yolo"])
        self.zip = zipfile.ZipFile(self.path, "w", zipfile.ZIP_DEFLATED)
        self.stems = _Stems()
        self.n = 0

    def write(self, row, item, shapes):
        # The image's folders are kept: labels/a/x.txt and labels/b/x.txt mirror images/a/x.png, images/b/x.png.
        path = file_path(_file_name(item)) or f"item-{row['item']}"
        stem = self.stems.unique(posixpath.splitext(path)[0], row["item"])
        lines = [
            f"{self.classes.code(s['label'])} {s['x'] + s['w'] / 2:.6f} {s['y'] + s['h'] / 2:.6f} "
            f"{s['w']:.6f} {s['h']:.6f}\n"
            for s in shapes
        ]
        self.zip.writestr(f"labels/{stem}.txt", "".join(lines))
        self.n += 1

    def close(self):
        import yaml

        names = dict(enumerate(self.classes.keys))
        self.zip.writestr("data.yaml", yaml.safe_dump({"nc": len(names), "names": names}, sort_keys=False))
        self.zip.close()
        return _finished("yolo", self.path, self.n)


class _SegmentsCsvWriter:
    def __init__(self, folder, classes):
        self.path = os.path.join(folder, FILENAMES["segments_csv"])
        self.handle = open(self.path, "w", newline="", encoding="utf-8")  # noqa: SIM115
        self.writer = csv_writer(self.handle)
        self.writer.writerow(["item", "start", "end", "label", "support", "file"])
        self.n = 0

    def write(self, row, item, shapes):
        # The file's path (folders and extension kept, as COCO's file_name) names the recording outside this
        # project: the label import matches it, where the item id means nothing to another project.
        name = _file_name(item)
        for s in shapes:
            self.writer.writerow([row["item"], f"{s['start']:.3f}", f"{s['end']:.3f}", s["label"], s["support"], name])
            self.n += 1

    def close(self):
        self.handle.close()
        return _finished("segments_csv", self.path, self.n)


class _RttmWriter:
    def __init__(self, folder, classes):
        self.path = os.path.join(folder, FILENAMES["rttm"])
        self.handle = open(self.path, "w", encoding="utf-8")  # noqa: SIM115
        self.uris = _Stems()
        self.n = 0

    def write(self, row, item, shapes):
        # Made unique after the spaces are replaced: "a b.wav" and "a_b.wav" are two recordings.
        uri = self.uris.unique(_rttm_field(posixpath.splitext(_file_name(item))[0]), row["item"])
        for s in shapes:
            label = _rttm_field(s["label"])
            # The duration runs from the written start to the written end (segments.csv's): rounded on its
            # own it could end a segment 1 ms before the next one starts where the two touch.
            start, end = f"{s['start']:.3f}", f"{s['end']:.3f}"
            duration = float(end) - float(start)
            self.handle.write(f"SPEAKER {uri} 1 {start} {duration:.3f} <NA> <NA> {label} <NA> <NA>\n")
            self.n += 1

    def close(self):
        self.handle.close()
        return _finished("rttm", self.path, self.n)


class _TabularWriter:
    """The manifest as JSON Lines (canonical), Parquet and CSV, row by row (label as JSON in the last two)."""

    def __init__(self, folder, formats):
        import pyarrow as pa
        import pyarrow.parquet as pq
        from pyarrow import csv as pa_csv

        self.pa = pa
        self.fields = list(exports.MANIFEST_FIELDS)
        types = {
            "item": pa.int64(),
            "agreement": pa.float64(),
            "n_annotations": pa.int32(),
            "answers": pa.map_(pa.string(), pa.int32()),
            "tags": pa.list_(pa.string()),
        }
        self.schema = pa.schema([(f, types.get(f, pa.string())) for f in self.fields])
        self.paths = {f: os.path.join(folder, exports.FILENAMES[f]) for f in ("jsonl", "parquet", "csv")}
        self.jsonl = open(self.paths["jsonl"], "w", encoding="utf-8", newline="\n")  # noqa: SIM115
        self.parquet = pq.ParquetWriter(self.paths["parquet"], self.schema, compression="zstd")
        self.csv = None
        if "csv" in formats:
            csv_types = {"item": pa.int64(), "agreement": pa.float64(), "n_annotations": pa.int32()}
            self.csv_schema = pa.schema([(f, csv_types.get(f, pa.string())) for f in self.fields])
            self.csv = pa_csv.CSVWriter(self.paths["csv"], self.csv_schema)
        self.n = 0

    def write(self, rows):
        pa = self.pa
        for row in rows:
            self.jsonl.write(_dumps(row) + "\n")
        columns = {f: [r[f] for r in rows] for f in self.fields}
        columns["label"] = [None if v is None else _dumps(v) for v in columns["label"]]
        parquet = dict(columns, answers=[list(a.items()) for a in columns["answers"]])
        self.parquet.write_table(pa.Table.from_pydict(parquet, schema=self.schema))
        if self.csv is not None:
            flat = dict(
                columns, answers=[_dumps(a) for a in columns["answers"]], tags=[",".join(t) for t in columns["tags"]]
            )
            arrays = []
            for f in self.fields:
                array = pa.array(flat[f], self.csv_schema.field(f).type)
                arrays.append(arrow_strings(array) if pa.types.is_string(array.type) else array)
            self.csv.write_table(pa.Table.from_arrays(arrays, schema=self.csv_schema))
        self.n += len(rows)

    def close(self):
        self.jsonl.close()
        self.parquet.close()
        out = [exports._finished("jsonl", self.paths["jsonl"], self.n)]
        if self.csv is not None:
            self.csv.close()
            out.append(exports._finished("csv", self.paths["csv"], self.n))
        out.append(exports._finished("parquet", self.paths["parquet"], self.n))
        return out


_WRITERS = {"coco": _CocoWriter, "yolo": _YoloWriter, "segments_csv": _SegmentsCsvWriter, "rttm": _RttmWriter}


def mapped_shapes(shapes: dict, kind: str, class_map: dict) -> dict:
    """``{kind: [shape, ...]}`` with each shape's class replaced by the one it counts as (``class_map``:
    old key -> key); the same object when there is nothing to map."""
    if not class_map or not isinstance(shapes.get(kind), list):
        return shapes
    return {
        **shapes,
        kind: [
            {**x, "label": class_map.get(x.get("label"), x.get("label"))} if isinstance(x, dict) else x
            for x in shapes[kind]
        ],
    }


def _consensus(project, kind, answers, class_map=None):
    """{item id: consensus dict} and {item id: (labelers, {class: shapes drawn}, [each labeler's shapes])}
    of ``(item, labeler, value)`` answers, their classes mapped by ``class_map``."""
    parsed, drawn = [], {}
    for item_id, labeler_id, value in answers:
        try:
            obj = json.loads(value) if value else {kind: []}
        except ValueError:
            continue  # not a shapes answer (written before the project's type was set)
        if not isinstance(obj, dict):
            continue
        parsed.append((item_id, labeler_id, mapped_shapes(obj, kind, class_map)))
    latest = {(i, lab): obj for i, lab, obj in parsed}
    for (item_id, _), obj in latest.items():
        n, classes, lists = drawn.get(item_id, (0, Counter(), []))
        shapes = obj.get(kind, [])
        classes.update(s.get("label") for s in shapes)
        drawn[item_id] = (n + 1, classes, [*lists, shapes])
    if not latest:
        return {}, {}
    return consensus(shape_table(parsed, kind=kind), iou=MOVED_IOU), drawn


def consensus_for(*, project, item_ids) -> dict:
    """The labelers' consensus shapes of some items as a version would ship them without a decision:
    ``{item id: {"boxes" | "segments": [shape with support]}}`` (items without answers left out), in
    the classes the project's taxonomy changes make of theirs. An item a relabel campaign sent back that
    has no new answer yet gets the consensus of its archived answers, as a version ships it (the default
    recipe's; none when its ``archived_weight`` is 0): it had none, so its review page started from no
    shapes and "accept the consensus" was refused."""
    _, kind = SHAPE_TASKS[project.task_type]
    item_ids = [int(i) for i in item_ids]
    mapping = class_mapping(project=project)
    answers = Annotation.objects.filter(item__project=project, item_id__in=item_ids).order_by(
        "item_id", "updated", "pk"
    )
    cons, _ = _consensus(project, kind, answers.values_list("item_id", "labeler_id", "value").iterator(), mapping)
    waiting = [i for i in item_ids if i not in cons]
    if waiting:
        policy = recipe_parse(project=project, data={})
        archived, _ = _consensus(project, kind, _archived_rows(project, policy, waiting), mapping)
        cons.update(archived)
    return cons


def decided_shapes(*, project, item_ids=None) -> dict:
    """The latest decision of each decided item whose action is a final label with shapes, as
    ``{item id: Decision}`` (its ``shapes`` the final ``{"boxes" | "segments": [...]}``)."""
    rows = Decision.objects.filter(item__project=project)
    if item_ids is not None:
        rows = rows.filter(item_id__in=list(item_ids))
    latest = {}
    for decision in rows.order_by("item_id", "created", "id"):
        latest[decision.item_id] = decision
    return {i: d for i, d in latest.items() if d.action == "label" and d.shapes is not None}


def _archived_rows(project, policy, item_ids):
    """``(item, labeler, value)`` of the answers relabel campaigns archived on ``item_ids``, oldest first
    (so each labeler's latest stands), under the recipe's ``guideline`` and ``answered_to`` filters; none
    when ``archived_weight`` is 0."""
    if float(policy.get("archived_weight", 0)) <= 0:
        return []
    filters = policy["filters"]
    rows = ArchivedAnnotation.objects.filter(campaign__project=project, item_id__in=item_ids)
    if filters.get("guideline") is not None:
        rows = rows.filter(guideline__project=project, guideline__version=filters["guideline"])
    if filters.get("answered_to"):
        rows = rows.filter(answered__lte=recipe_moment(filters["answered_to"]))
    return rows.order_by("item_id", "answered", "pk").values_list("item_id", "labeler_id", "value").iterator()


def _decided_label(kind, decision, latest_answers, class_map=None):
    """A decision's shapes as a manifest label: each shape with ``decided: true`` and ``support``, the
    labelers who drew a matching shape (same class, IoU ≥ 0.5), so a reader still sees how contested it was.
    Classes are mapped by ``class_map`` (the answers' are already)."""
    keys = ("x", "y", "w", "h") if kind == "boxes" else ("start", "end")
    final = [dict(s) for s in mapped_shapes(decision.shapes or {}, kind, class_map).get(kind, [])]
    support = [0] * len(final)
    for shapes in latest_answers:
        if not final or not shapes:
            continue
        matched = match_shapes(
            [[s[k] for k in keys] for s in final],
            [[float(s.get(k, "nan")) for k in keys] for s in shapes],
            [s["label"] for s in final],
            [s.get("label") for s in shapes],
            kind=kind,
            iou=MOVED_IOU,
        )
        for i, _, _ in matched:
            support[i] += 1
    return {kind: [{**s, "support": n, "decided": True} for s, n in zip(final, support, strict=True)]}


def build_shapes(*, project, policy, items, folder, beat, chunk_size, pause=0.0, class_map=None):
    """Write a shapes project's manifest and artifacts under ``folder``; answer (files, counts, info).
    ``class_map`` (old class key -> key) maps the classes of answers and decisions."""
    import time

    _, kind = SHAPE_TASKS[project.task_type]
    classes = _Classes(project)
    formats = policy["formats"]
    tabular = _TabularWriter(folder, formats)
    extra = [_WRITERS[f](folder, classes) for f in SHAPE_FORMATS[project.task_type] if f in formats]
    answers_qs = _answers_queryset(project, policy["filters"], items)
    tags = dict(Tag.objects.filter(project=project).values_list("pk", "name"))
    sources = dict(project.sources.values_list("pk", "name"))
    splits = policy["splits"]
    keep_review = policy["unresolved"] == "needs_review"
    counts = {"items": 0, "labeled": 0, "needs_review": 0, "shapes": 0, "classes": Counter(), "splits": Counter()}
    split_classes = {s: Counter() for s in exports.SPLITS}  # shapes per class in each split
    counts.update(majority=0, decided=0, archived=0)
    use_decisions = policy.get("use_decisions", True)
    left_out = {"unlabeled": 0, "decision": 0, "tie": 0, "low_agreement": 0, "few_answers": 0}
    left_out_items = {k: [] for k in left_out}
    review_items = {"few_answers": []}
    columns = ["pk", "sha256", "file", "source_id", "original_name", "stats"]
    group_by = splits.get("group_by", "")  # absent from recipes stored before it existed
    listed = items
    if group_by:  # the item's metadata value under it, read by the database (not the whole metadata)
        listed = exports.split_group_annotate(items, group_by)
        columns.append(exports.SPLIT_GROUP)
    counts["split_by_group"] = 0
    rows = listed.order_by("pk").values(*columns)
    chunk, done = [], 0

    def flush(chunk):
        ids = [r["pk"] for r in chunk]
        answers = answers_qs.filter(item_id__in=ids).order_by("item_id", "updated", "pk")
        cons, drawn = _consensus(
            project, kind, answers.values_list("item_id", "labeler_id", "value").iterator(), class_map
        )
        decided = decided_shapes(project=project, item_ids=ids) if use_decisions else {}
        waiting = [i for i in ids if i not in drawn and i not in decided]  # sent back, not answered again
        old_cons, old_drawn = _consensus(project, kind, _archived_rows(project, policy, waiting), class_map)
        links = Tag.items.through.objects.filter(item_id__in=ids, tag_id__in=list(tags)).values_list(
            "item_id", "tag_id"
        )
        item_tags = {}
        for item_id, tag_id in links:
            item_tags.setdefault(item_id, []).append(tags[tag_id])
        drawn_from = [r["sha256"] for r in chunk]
        if group_by:
            drawn_from = split_hashes(drawn_from, [r[exports.SPLIT_GROUP] for r in chunk])
        split = split_codes(drawn_from, train=splits["train"], dev=splits["dev"], salt=splits["salt"])
        out, shaped = [], []
        for r, s in zip(chunk, split.tolist(), strict=True):
            n, classes_drawn, lists = drawn.get(r["pk"], (0, Counter(), []))
            decision = decided.get(r["pk"])
            archived = n == 0 and decision is None and r["pk"] in old_drawn
            if archived:
                n, classes_drawn, lists = old_drawn[r["pk"]]
            if n == 0 and decision is None:
                left_out["unlabeled"] += 1
                _name(left_out_items["unlabeled"], r["pk"])
                continue
            if decision is not None:  # the SME's final shapes win over the labelers' consensus
                label = _decided_label(kind, decision, lists, class_map)
                few = False
            else:
                label = (old_cons if archived else cons).get(r["pk"], {kind: []})
                few = n < policy["min_answers"]
            if few and not keep_review:
                left_out["few_answers"] += 1
                _name(left_out_items["few_answers"], r["pk"])
                continue
            shapes = label[kind]
            resolved = "decision" if decision is not None else "archived" if archived else "majority"
            agreement = (
                round(float(np.mean([x["support"] for x in shapes])) / n, 4) if shapes and n and not few else None
            )
            row = {
                "item": r["pk"],
                "sha256": r["sha256"],
                "label": None if few else label,
                "split": exports.SPLITS[s],
                "agreement": agreement,
                "n_annotations": n,
                "answers": {k: classes_drawn[k] for k in sorted(classes_drawn, key=str)},
                "tags": sorted(item_tags.get(r["pk"], [])),
                "source": sources.get(r["source_id"]),
                "file": f"/api/items/{r['pk']}/file" if r["file"] else None,
                "resolved_by": None if few else resolved,
                "review": "few_answers" if few else None,
            }
            out.append(row)
            counts["items"] += 1
            if group_by and r[exports.SPLIT_GROUP] is not None:
                counts["split_by_group"] += 1
            if few:
                counts["needs_review"] += 1
                _name(review_items["few_answers"], r["pk"])
                continue
            counts["labeled"] += 1
            counts[{"decision": "decided"}.get(resolved, resolved)] += 1
            counts["shapes"] += len(shapes)
            counts["splits"][row["split"]] += 1
            counts["classes"].update(x["label"] for x in shapes)
            split_classes[row["split"]].update(x["label"] for x in shapes)
            shaped.append((row, r, shapes))
        if out:
            tabular.write(out)
        for row, r, shapes in shaped:
            for writer in extra:
                writer.write(row, r, shapes)

    for r in rows.iterator(chunk_size=chunk_size):
        chunk.append(r)
        if len(chunk) >= chunk_size:
            flush(chunk)
            done += len(chunk)
            chunk = []
            beat.set(processed=done)
            if pause:
                time.sleep(pause)
    if chunk:
        flush(chunk)
        beat.set(processed=done + len(chunk))
    files = tabular.close() + [w.close() for w in extra]
    out_counts = {
        "items": counts["items"],
        "labeled": counts["labeled"],
        "needs_review": counts["needs_review"],
        "shapes": counts["shapes"],
        "left_out": left_out,
        "left_out_total": sum(left_out.values()),
        "left_out_items": {k: v for k, v in left_out_items.items() if v},
        "needs_review_items": {k: v for k, v in review_items.items() if v},
        "splits": {s: counts["splits"][s] for s in exports.SPLITS},
        **({"split_by_group": counts["split_by_group"]} if group_by else {}),
        "resolved_by": {
            k: counts[v]
            for k, v in (("decision", "decided"), ("majority", "majority"), ("archived", "archived"))
            if counts[v]
        },
        "classes": {k: counts["classes"][k] for k in sorted(counts["classes"], key=str)},
        "split_classes": {s: {k: c[k] for k in sorted(c, key=str)} for s, c in split_classes.items()},
    }
    return (
        files,
        out_counts,
        {
            "categories": list(classes.keys),
            "consensus_iou": MOVED_IOU,
            "class_map": dict(class_map or {}),
        },
    )


def _name(names, item_id):
    if len(names) < NAMED_ITEMS:
        names.append(int(item_id))


# --- diffs -----------------------------------------------------------------------------------------------


def _shape_lists(name, kind):
    """{item id: [(label, coords)]} of a stored Parquet manifest's labelled rows."""
    table = exports.read_columns(name, ["item", "label"])
    keys = ("x", "y", "w", "h") if kind == "boxes" else ("start", "end")
    out = {}
    for item, label in zip(table.column("item").to_pylist(), table.column("label").to_pylist(), strict=True):
        if label is None:
            continue
        shapes = json.loads(label).get(kind, [])
        out[item] = [(s["label"], tuple(float(s[k]) for k in keys)) for s in shapes]
    return out


def shape_changes(*, old, new, kind) -> dict:
    """Shapes ``added``, ``removed``, ``moved`` and ``relabeled`` from the manifest stored as ``old`` to
    ``new``: per item, the two versions' shapes are matched one to one (same class, IoU ≥ 0.5); a matched
    pair whose coordinates differ has moved. Of the shapes left, those matched one to one in place (IoU
    ≥ 0.5) whatever their class were relabeled (a class merged or renamed, a labeler's other class: the
    same box, not one removed and one added); an unmatched new shape was added, an unmatched old one removed."""
    a, b = _shape_lists(old, kind), _shape_lists(new, kind)
    added = removed = moved = relabeled = 0
    for item in set(a) | set(b):
        before, after = a.get(item, []), b.get(item, [])
        if before == after:
            continue
        pairs = _pairs(before, after, kind, match_shapes)
        moved += sum(1 for i, j in pairs if before[i][1] != after[j][1])
        left_before = [s for n, s in enumerate(before) if n not in {i for i, _ in pairs}]
        left_after = [s for n, s in enumerate(after) if n not in {j for _, j in pairs}]
        # the same place under another class: matched with one class for all
        in_place = _pairs([("", s[1]) for s in left_before], [("", s[1]) for s in left_after], kind, match_shapes)
        relabeled += len(in_place)
        added += len(left_after) - len(in_place)
        removed += len(left_before) - len(in_place)
    return {"added": added, "removed": removed, "moved": moved, "relabeled": relabeled}


def _pairs(before, after, kind, match_shapes):
    if not before or not after:
        return []
    matched = match_shapes(
        [s[1] for s in before],
        [s[1] for s in after],
        [s[0] for s in before],
        [s[0] for s in after],
        kind=kind,
        iou=MOVED_IOU,
    )
    return [(i, j) for i, j, _ in matched]
