"""Peak memory (RSS) and CPU of reading a labels file as a label import job's worker does, for a
synthetic file of N images and M annotations (boxes): COCO JSON (COCO's train2017 instances file: about
118,000 images, 860,000 annotations, 448 MB), CVAT for images 1.1 XML (``annotations.xml``, a box with an
attribute and occluded flag per annotation, one in five a polygon), a Hugging Face ``metadata.jsonl``, or a
Label Studio JSON-MIN export (a record per image with its boxes).

    .venv/bin/python benchmarks/coco_import_memory_bench.py [--format coco|cvat|huggingface|json_min]
        [--images 5000] [--annotations 36000] [--annotations-first] [--db NAME]

    e.g. train2017-sized: --images 120000 --annotations 860000 (about 450 MB of JSON; minutes of CPU);
    a large CVAT task: --format cvat --images 100000 --annotations 1000000 (about 200 MB of XML)

Creates (and drops at the end) a throwaway database on 127.0.0.1:5432 (user postgres) and a detection
project without items, writes the file to a temporary folder (annotations with segmentation polygons,
as COCO's are), then runs the parse step alone: ``labels_parse`` as ``label_import_run`` calls it, from
the open file. Storing the items and answers is left out: it works a chunk at a time and its memory
does not grow with the file; the parse holds the whole file's tasks. The project's items (one per image,
the labels of images already imported) are stood in for: the lookup of the project's items by name is
given them without rows in the database (inserting 100,000 items would dominate the run).
Peak RSS is the process's high-water mark (VmHWM) from just before the parse (reset through
/proc/self/clear_refs), beside the RSS before it.
"""

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--format", choices=sorted(WRITERS), default="coco")
    parser.add_argument("--images", type=int, default=5000)
    parser.add_argument("--annotations", type=int, default=36000)
    parser.add_argument("--annotations-first", action="store_true", help="write 'annotations' before 'images'")
    parser.add_argument("--db", default="labelhub_bench_coco_memory")
    args = parser.parse_args()
    psql = ["psql", "-q", "-h", "127.0.0.1", "-U", "postgres", "-c"]
    subprocess.run([*psql, f"DROP DATABASE IF EXISTS {args.db}"], check=True)
    subprocess.run([*psql, f"CREATE DATABASE {args.db}"], check=True)
    folder = tempfile.TemporaryDirectory()
    os.environ.update(
        DATABASE_URL=f"postgres://postgres@127.0.0.1:5432/{args.db}",
        SECRET_KEY="bench",
        DEBUG="0",
        LOG_LEVEL="WARNING",
        MEDIA_ROOT=folder.name,
        CELERY_BROKER_DIR=str(Path(folder.name) / "celery"),
        DJANGO_SETTINGS_MODULE="labelhub.settings",
    )
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.db import connections

    from labeling.services import label_imports
    from labeling.services.projects import project_create

    try:
        call_command("migrate", verbosity=0)
        user = get_user_model().objects.create_user("bench")
        project = project_create(name="bench", modality="image", task_type="detection", classes=CLASSES, creator=user)
        filename, write = WRITERS[args.format]
        path = Path(folder.name) / filename
        started = time.perf_counter()
        write(path, args.images, args.annotations, args.annotations_first)
        size = path.stat().st_size
        print(
            f"synthetic {args.format} file: {args.images:,} images, {args.annotations:,} annotations, "
            f"{size / 2**20:,.1f} MB{' (annotations first)' if args.annotations_first else ''}, written in "
            f"{time.perf_counter() - started:.1f} s"
        )
        _stand_in_items(label_imports, args.images)
        project.active_classes()  # the classes read once, before the measure
        before = _rss_kb("VmRSS")
        Path("/proc/self/clear_refs").write_text("5")  # resets VmHWM to the current RSS
        wall, cpu = time.perf_counter(), time.process_time()
        with path.open("rb") as handle:
            parsed = label_imports.labels_parse(
                project=project, fmt=FORMATS[args.format], handle=handle, filename=path.name, labeler="bench"
            )
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        peak = _rss_kb("VmHWM")
        boxes = sum(len(a.value["boxes"]) for t in parsed.tasks for a in t.answers)
        print(
            f"parse: {len(parsed.tasks):,} tasks, {boxes:,} boxes kept, {len(parsed.rejected):,} rejected; "
            f"{cpu:.2f} s CPU, {wall:.2f} s wall"
        )
        print(
            f"  RSS before {before / 1024:,.0f} MB, peak {peak / 1024:,.0f} MB "
            f"(+{(peak - before) / 1024:,.0f} MB for a {size / 2**20:,.0f} MB file)"
        )
        print(f"load average: {' / '.join(f'{v:.2f}' for v in os.getloadavg())} (1 / 5 / 15 min)")
    finally:
        connections.close_all()
        subprocess.run([*psql, f"DROP DATABASE IF EXISTS {args.db}"])
        folder.cleanup()


CLASSES = [{"key": f"class{n}"} for n in range(80)]


def _write_coco(path, n_images, n_annotations, annotations_first):
    """A COCO instances file written a record at a time (the writer holds no whole list)."""
    rng = random.Random(0)
    with path.open("w") as out:

        def images():
            out.write('"images": [')
            for i in range(1, n_images + 1):
                image = {
                    "license": 1,
                    "file_name": f"{i:012d}.jpg",
                    "coco_url": f"http://images.cocodataset.org/train2017/{i:012d}.jpg",
                    "height": 480,
                    "width": 640,
                    "date_captured": "2013-11-14 11:18:45",
                    "flickr_url": f"http://farm1.staticflickr.com/1/{i}_abcdef_z.jpg",
                    "id": i,
                }
                out.write(("," if i > 1 else "") + json.dumps(image))
            out.write("]")

        def annotations():
            out.write('"annotations": [')
            for a in range(1, n_annotations + 1):
                x, y = rng.uniform(0, 500), rng.uniform(0, 350)
                w, h = rng.uniform(5, 640 - x), rng.uniform(5, 480 - y)
                polygon = [round(rng.uniform(0, 640), 2) for _ in range(24)]
                annotation = {
                    "segmentation": [polygon],
                    "area": round(w * h, 4),
                    "iscrowd": 0,
                    "image_id": rng.randint(1, n_images),
                    "bbox": [round(x, 2), round(y, 2), round(w, 2), round(h, 2)],
                    "category_id": rng.randint(1, len(CLASSES)),
                    "id": a,
                }
                out.write(("," if a > 1 else "") + json.dumps(annotation))
            out.write("]")

        categories = [{"supercategory": "thing", "id": n + 1, "name": c["key"]} for n, c in enumerate(CLASSES)]
        out.write('{"info": {"description": "synthetic"}, "licenses": [], ')
        first, second = (annotations, images) if annotations_first else (images, annotations)
        first()
        out.write(", ")
        second()
        out.write(f', "categories": {json.dumps(categories)}}}')


def _boxes(rng, n_images, n_annotations):
    """(image number, x, y, w, h, class) of each annotation, in pixels of a 640 x 480 image."""
    for _ in range(n_annotations):
        x, y = rng.uniform(0, 500), rng.uniform(0, 350)
        w, h = rng.uniform(5, 640 - x), rng.uniform(5, 480 - y)
        yield rng.randint(1, n_images), x, y, w, h, CLASSES[rng.randrange(len(CLASSES))]["key"]


def _by_image(n_images, n_annotations):
    """Each image's annotations, in order of the images (as CVAT, Hugging Face and JSON-MIN files hold them),
    made an image at a time so that the writer holds no whole list."""
    rng = random.Random(0)
    per_image = [0] * (n_images + 1)
    for _ in range(n_annotations):
        per_image[rng.randint(1, n_images)] += 1
    for i in range(1, n_images + 1):
        yield i, [(i, *box[1:]) for box in _boxes(rng, 1, per_image[i])]


def _write_cvat(path, n_images, n_annotations, _annotations_first):
    """CVAT for images 1.1: its meta, then an ``<image>`` per frame, its shapes with CVAT's attributes."""
    rng = random.Random(1)
    with path.open("w") as out:
        labels = "".join(f"<label><name>{c['key']}</name><color>#fa3253</color></label>" for c in CLASSES)
        out.write(f'<?xml version="1.0" encoding="utf-8"?>\n<annotations>\n  <version>1.1</version>\n  <meta><task>'
                  f"<labels>{labels}</labels></task></meta>\n")  # fmt: skip
        for i, boxes in _by_image(n_images, n_annotations):
            out.write(
                f'  <image id="{i - 1}" name="{i:012d}.jpg" subset="default" task_id="7" width="640" height="480">\n'
            )
            for _, x, y, w, h, label in boxes:
                if rng.random() < 0.2:
                    points = ";".join(f"{rng.uniform(x, x + w):.2f},{rng.uniform(y, y + h):.2f}" for _ in range(12))
                    out.write(f'    <polygon label="{label}" source="manual" occluded="0" points="{points}" '
                              'z_order="0">\n    </polygon>\n')  # fmt: skip
                    continue
                out.write(
                    f'    <box label="{label}" source="manual" occluded="{int(rng.random() < 0.1)}" xtl="{x:.2f}" '
                    f'ytl="{y:.2f}" xbr="{x + w:.2f}" ybr="{y + h:.2f}" z_order="0">\n'
                    '      <attribute name="truncated">false</attribute>\n    </box>\n'
                )
            out.write("  </image>\n")
        out.write("</annotations>\n")


def _write_huggingface(path, n_images, n_annotations, _annotations_first):
    """A Hugging Face object detection ``metadata.jsonl``: a line per image, its objects' bbox and category."""
    with path.open("w") as out:
        for i, boxes in _by_image(n_images, n_annotations):
            objects = {
                "bbox": [[round(v, 2) for v in b[1:5]] for b in boxes],
                "category": [b[5] for b in boxes],
                "area": [round(b[3] * b[4], 2) for b in boxes],
                "id": list(range(len(boxes))),
            }
            line = {"file_name": f"{i:012d}.jpg", "image_id": i, "width": 640, "height": 480, "objects": objects}
            out.write(json.dumps(line) + "\n")


def _write_json_min(path, n_images, n_annotations, _annotations_first):
    """Label Studio's JSON-MIN export: a record per annotation (one per image here), its boxes in percent."""
    with path.open("w") as out:
        out.write("[")
        for i, boxes in _by_image(n_images, n_annotations):
            regions = [
                {"x": x / 6.4, "y": y / 4.8, "width": w / 6.4, "height": h / 4.8, "rotation": 0,
                 "rectanglelabels": [label], "original_width": 640, "original_height": 480}
                for _, x, y, w, h, label in boxes
            ]  # fmt: skip
            record = {
                "image": f"/data/upload/3/0a1b2c3d-{i:012d}.jpg", "id": i, "label": regions,
                "annotator": "ana@example.com", "annotation_id": i, "created_at": "2024-05-02T10:00:00.000000Z",
                "updated_at": "2024-05-02T10:00:00.000000Z", "lead_time": 12.5,
            }  # fmt: skip
            out.write(("," if i > 1 else "") + json.dumps(record))
        out.write("]")


WRITERS = {
    "coco": ("instances_bench.json", _write_coco),
    "cvat": ("annotations.xml", _write_cvat),
    "huggingface": ("metadata.jsonl", _write_huggingface),
    "json_min": ("project-3-min.json", _write_json_min),
}
FORMATS = {"coco": "coco", "cvat": "cvat", "huggingface": "huggingface", "json_min": "label_studio"}


def _stand_in_items(label_imports, n_images):
    """The project's items as ``_Media.items`` reads them, one per image, without database rows."""

    def items(media):
        if media._items is None:
            media._items = {}
            for i in range(1, n_images + 1):
                name = f"{i:012d}.jpg"
                media._names[i], media._paths[i] = name, [(name,)]
                media._items[name] = [(i, [(name,)])]
        return media._items

    label_imports._Media.items = items


def _rss_kb(field):
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(field)


if __name__ == "__main__":
    main()
