"""Item embeddings: computed by a built-in or local-model embedder, or pushed by the team's pipeline."""

import collections
import contextlib
import io
import math
import os
import tempfile
import time

import numpy as np
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files.storage import FileSystemStorage, default_storage
from django.db import transaction

from analysis.embeddings.parallel import cores, embed_chunks
from analysis.embeddings.pretrained import PRETRAINED, pretrained_installed, read_speeds, record_speed
from analysis.embeddings.registry import BUILTIN_DIMS, available_embedders, get_embedder
from analysis.models import Embedding
from labelhub.deadlocks import retry_deadlock_once
from labelhub.storage import MediaMissing, stored_files_read
from labeling.models import Item

# The built-in embedder used for each modality when none is named and no pretrained one is installed.
DEFAULT_EMBEDDER = {"image": "image-basic", "audio": "audio-mfcc", "text": "text-tfidf"}
MAX_PUSH_VECTORS = 10_000
MAX_DIM = 8192
# A run shorter than this many items measures start-up more than speed: its speed is not remembered.
SPEED_MIN_ITEMS = 100


def models_dir():
    return os.fspath(settings.LABELHUB_MODELS_DIR)


def _installed_pretrained(modality):
    return [
        s.name for s in PRETRAINED.values() if s.modality == modality and pretrained_installed(s.name, models_dir())
    ]


def embedder_names(*, modality):
    """Embedders a project of this modality may compute itself: built-in ones, the pretrained ones whose
    models are installed, and the local ONNX one when configured."""
    names = [n for n in available_embedders(modality) if n != "onnx" and n not in PRETRAINED]
    names += _installed_pretrained(modality)
    if modality in ("image", "audio") and getattr(settings, "LABELHUB_ONNX_MODEL", ""):
        names.append("onnx")
    return names


def default_embedder(*, modality):
    """A project's default embedder: the pretrained one for its modality when installed (semantic features
    that no histogram or TF-IDF gives), else the built-in one. ``audio-voice`` is never the default: it
    describes who speaks and on what channel, and an audio project's labels are mostly about what is said."""
    installed = [n for n in _installed_pretrained(modality) if PRETRAINED[n].default]
    return installed[0] if installed else DEFAULT_EMBEDDER[modality]


def embedder_catalog(*, modality):
    """Every embedder a project of this modality could use on this installation, with its dimension and
    the items/s last measured here (None before a run of ``SPEED_MIN_ITEMS`` or ``make embedders``):
    pretrained ones are listed even when not installed, with ``installed`` false, so the page can say how."""
    speeds = read_speeds(models_dir())
    default = default_embedder(modality=modality)
    rows = []
    for name in available_embedders(modality):
        if name == "onnx":
            if not getattr(settings, "LABELHUB_ONNX_MODEL", ""):
                continue
            kind, dim, installed, model = "local", None, True, os.path.basename(settings.LABELHUB_ONNX_MODEL)
        elif name in PRETRAINED:
            spec = PRETRAINED[name]
            kind, dim, installed, model = "pretrained", spec.dim, pretrained_installed(name, models_dir()), spec.model
        else:
            kind, dim, installed, model = "built-in", BUILTIN_DIMS.get(name), True, ""
        rows.append(
            {
                "name": name,
                "modality": modality,
                "kind": kind,
                "model": model,
                "dim": dim,
                "installed": installed,
                "default": name == default,
                "items_per_second": speeds.get(name),
            }
        )
    return sorted(rows, key=lambda r: (not r["default"], not r["installed"], r["kind"] != "pretrained", r["name"]))


def make_embedder(*, name, modality):
    if name == "onnx":
        path = getattr(settings, "LABELHUB_ONNX_MODEL", "")
        if not path:
            raise ValidationError({"embedder": "no local ONNX model is configured (LABELHUB_ONNX_MODEL)"})
        return get_embedder("onnx", model_path=path, modality=modality)
    if name in PRETRAINED:
        if not pretrained_installed(name, models_dir()):
            raise ValidationError({"embedder": f"the {name} embedder is not installed here (run `make embedders`)"})
        return get_embedder(name, models_dir=models_dir())
    return get_embedder(name)


def vectors_to_bytes(vector) -> bytes:
    return np.asarray(vector, dtype="<f4").tobytes()


def _is_number(value) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


@retry_deadlock_once  # its rows key-share-lock their items at commit; an answer (?next=1) may lock two the other way
@transaction.atomic
def embeddings_push(*, project, model, vectors) -> int:
    """Store vectors pushed by the team's own pipeline: ``vectors`` is a list of {"item", "vector"}.

    Every vector is checked before anything is written: items must belong to the project, vectors
    must be finite numbers of one dimension (the dimension already stored for ``model`` if any), and
    ``model`` may not shadow a built-in embedder. Answers how many vectors were stored (new or replaced).
    """
    if not model or not isinstance(model, str) or len(model) > 100:
        raise ValidationError({"model": "a model name of 1-100 characters is required"})
    if model in available_embedders():
        raise ValidationError({"model": f"'{model}' is a built-in embedder's name; choose another name"})
    if not isinstance(vectors, list) or not vectors:
        raise ValidationError({"vectors": "a non-empty list of {item, vector} is required"})
    if len(vectors) > MAX_PUSH_VECTORS:
        raise ValidationError({"vectors": f"at most {MAX_PUSH_VECTORS:,} vectors per request"})
    existing_dim = Embedding.objects.filter(item__project=project, model=model).values_list("dim", flat=True).first()
    dim = existing_dim
    ids = []
    for i, row in enumerate(vectors):
        if not isinstance(row, dict) or "item" not in row or "vector" not in row:
            raise ValidationError({"vectors": f"entry {i}: each entry needs 'item' and 'vector'"})
        # As a model run's predictions: a key beside them (a "weight", a misspelt "vectr" next to a stale
        # "vector") was dropped without a word and the vector stored as if it had not been sent.
        extra = sorted(set(row) - {"item", "vector"})
        if extra:
            fields = ", ".join(extra)
            raise ValidationError({"vectors": f"entry {i}: unknown fields {fields} (an entry has item, vector)"})
        vector = row["vector"]
        # bool is an int to Python: true and false would be stored as 1.0 and 0.0
        if not isinstance(vector, list) or not vector or not all(_is_number(v) for v in vector):
            raise ValidationError({"vectors": f"entry {i} (item {row['item']}): the vector must be a list of numbers"})
        if not all(math.isfinite(v) for v in vector):
            raise ValidationError({"vectors": f"entry {i} (item {row['item']}): the vector has NaN or infinite values"})
        if len(vector) > MAX_DIM:
            raise ValidationError({"vectors": f"entry {i}: {len(vector)} dimensions, over the limit of {MAX_DIM}"})
        if dim is None:
            dim = len(vector)
        elif len(vector) != dim:
            origin = f"the {dim} already stored for '{model}'" if existing_dim else f"the first vector's {dim}"
            raise ValidationError(
                {"vectors": f"entry {i} (item {row['item']}): {len(vector)} dimensions, not {origin}"}
            )
        item = row["item"]
        # int() took 12.5 for item 12 and true for item 1; an id sent as text ("12") stays fine
        if isinstance(item, bool) or not (
            isinstance(item, int) or (isinstance(item, str) and item.isascii() and item.isdigit())
        ):
            raise ValidationError({"vectors": f"entry {i}: item must be an item id"})
        ids.append(int(item))
    found = set(Item.objects.filter(project=project, pk__in=ids).values_list("pk", flat=True))
    unknown = [i for i in ids if i not in found]
    if unknown:
        raise ValidationError({"vectors": f"unknown items (not in this project): {', '.join(map(str, unknown[:20]))}"})
    if len(set(ids)) != len(ids):
        raise ValidationError({"vectors": "an item appears twice"})
    # An upsert, not a delete and an insert: two pushes of the same items at once (a client retrying a
    # request that timed out) each deleted nothing the other had not committed yet, and the second's
    # insert failed on the unique key (a 500). In item order: two pushes of the same items listed in
    # opposite orders each stored its first vector and waited for the other's row of its second, and the
    # database stopped one of them (503); now the second waits for the first's rows in turn.
    Embedding.objects.bulk_create(
        [
            Embedding(item_id=i, model=model, dim=dim, vector=vectors_to_bytes(r["vector"]))
            for i, r in sorted(zip(ids, vectors, strict=True), key=lambda pair: pair[0])
        ],
        batch_size=2000,
        update_conflicts=True,
        unique_fields=["item", "model"],
        update_fields=["dim", "vector", "content", "created"],
    )
    return len(ids)


@contextlib.contextmanager
def local_paths(names):
    """Local file paths for stored media names, None for a file the storage no longer has: a local
    storage's own paths, or copies of the objects in a temporary folder (object storage)."""
    if isinstance(default_storage, FileSystemStorage):
        yield [default_storage.path(n) if default_storage.exists(n) else None for n in names]
        return
    with tempfile.TemporaryDirectory() as folder:
        paths = []
        for i, (name, data) in enumerate(zip(names, stored_files_read(names, missing_ok=True), strict=True)):
            if data is None:
                paths.append(None)
                continue
            path = os.path.join(folder, f"{i}{os.path.splitext(name)[1]}")
            with open(path, "wb") as dst:
                dst.write(data)
            paths.append(path)
        yield paths


# Embedders whose work is Python on small arrays (GIL-bound) and whose input may be an open binary
# file: computed by worker processes, one per core, from bytes read through the storage.
PROCESS_EMBEDDERS = {"image-basic"}
# Fewer items than this are embedded in the job's process: starting the workers costs a second or two.
PROCESS_MIN_ITEMS = 2000


def _read_media(items, gone):
    """(items, in-memory binary files) of those of ``items`` whose file the storage has, read through it
    (S3-compatible or local); the others are appended to ``gone``."""
    kept, out = [], []
    for item, data in zip(items, stored_files_read([item.file.name for item in items], missing_ok=True), strict=True):
        if data is None:
            gone.append(item)
            continue
        blob = io.BytesIO(data)
        blob.name = item.file.name  # named in an error message
        kept.append(item)
        out.append(blob)
    return kept, out


def _embed_batches(embedder, embedder_name, modality, batches, processes, gone):
    """(items, their vectors) of each batch, in order: in ``processes`` worker processes for the embedders
    that gain from it, else in this process. Items whose file the storage no longer has are left out of
    their batch and appended to ``gone``."""
    if modality == "text":
        for batch in batches:
            yield batch, embedder.embed([item.text for item in batch])
        return
    if embedder_name in PROCESS_EMBEDDERS and processes > 1:
        kept = collections.deque()  # each chunk's items, in the order embed_chunks answers the chunks

        def chunks():
            for batch in batches:
                items, files = _read_media(batch, gone)
                if items:
                    kept.append(items)
                    yield files

        for vectors in embed_chunks(embedder, chunks(), processes=processes):
            yield kept.popleft(), vectors
        return
    for batch in batches:
        with local_paths([item.file.name for item in batch]) as paths:
            gone.extend(item for item, path in zip(batch, paths, strict=True) if path is None)
            items = [item for item, path in zip(batch, paths, strict=True) if path is not None]
            if items:
                yield items, embedder.embed([path for path in paths if path is not None])


def embeddings_compute(
    *,
    project,
    embedder_name,
    items,
    on_progress=None,
    batch_size=512,
    processes=None,
    min_items_for_processes=None,
    missing=None,
):
    """Compute and store the vectors ``items`` (Item rows, in order) lack for a built-in embedder.

    A vector is kept per item, embedder and content (the item's ``sha256``): items whose stored vector
    was computed from their current content are skipped, so a later map of the same or a grown project
    computes only the new items' vectors. The built-in image featurizer runs in ``processes`` worker
    processes (default: one per core) when there are at least ``min_items_for_processes`` items to do
    (default ``PROCESS_MIN_ITEMS``). Corpus-fitted embedders (text-tfidf) are recomputed for all items,
    since a vector only means something beside the others fitted with it. Answers the number of vectors
    computed.

    An item whose file the media storage no longer has gets no vector: it is appended to ``missing`` (a
    list) and the others are computed; without ``missing``, MediaMissing naming them is raised once the
    others are stored.
    """
    embedder = make_embedder(name=embedder_name, modality=project.modality)
    refit = embedder_name == "text-tfidf"
    have = (
        {}
        if refit
        else dict(
            Embedding.objects.filter(item__project=project, model=embedder_name).values_list("item_id", "content")
        )
    )
    todo = [item for item in items if have.get(item.pk) != item.sha256]
    started = time.perf_counter()
    if refit:
        Embedding.objects.filter(item__project=project, model=embedder_name).delete()
        vectors = embedder.embed([item.text for item in todo])
        _store(todo, vectors, embedder_name)
        if on_progress:
            on_progress(len(todo))
        return len(todo)
    if processes is None:
        processes = cores()
    if len(todo) < (PROCESS_MIN_ITEMS if min_items_for_processes is None else min_items_for_processes):
        processes = 1
    batches = [todo[start : start + batch_size] for start in range(0, len(todo), batch_size)]
    done, gone = 0, []
    for kept, vectors in _embed_batches(embedder, embedder_name, project.modality, batches, processes, gone):
        _store(kept, vectors, embedder_name)
        done += len(kept)
        if on_progress:
            on_progress(done + len(gone))
    if done >= SPEED_MIN_ITEMS:
        record_speed(models_dir(), embedder_name, done / max(time.perf_counter() - started, 1e-9))
    if gone:
        gone.sort(key=lambda item: item.pk)
        if missing is None:
            raise MediaMissing(gone)
        missing.extend(gone)
    return done


def _store(items, vectors, model):
    dim = int(vectors.shape[1]) if len(vectors) else 0
    Embedding.objects.bulk_create(
        [
            Embedding(item_id=item.pk, model=model, dim=dim, vector=vectors_to_bytes(v), content=item.sha256)
            for item, v in zip(items, vectors, strict=True)
        ],
        batch_size=2000,
        update_conflicts=True,
        unique_fields=["item", "model"],
        update_fields=["dim", "vector", "content", "created"],
    )


# Rows of vectors read from the database at a time by embeddings_load (their bytes are held meanwhile).
LOAD_CHUNK_ROWS = 5000


def embeddings_load(*, project, model, item_ids):
    """(vectors (n, dim) float32, item ids that have one) for ``model``, in the order of ``item_ids``.

    All of the project's vectors for the model are read, each written into its row of the array as it
    arrives: an IN list of 100,000 ids would be slower, and over SQLite's parameter limit; and holding
    every row's bytes until the array was built held the vectors twice (1.5 GB for 100,000 pretrained
    image vectors of 1,884 dimensions)."""
    position = {item_id: i for i, item_id in enumerate(item_ids)}
    out, found = None, np.zeros(len(item_ids), dtype=bool)
    rows = Embedding.objects.filter(item__project=project, model=model).values_list("item_id", "vector")
    for item_id, blob in rows.iterator(chunk_size=LOAD_CHUNK_ROWS):
        i = position.get(item_id)
        if i is None:
            continue
        vector = np.frombuffer(blob, dtype="<f4")
        if out is None:
            out = np.empty((len(item_ids), len(vector)), dtype=np.float32)
        out[i] = vector
        found[i] = True
    if out is None:
        return np.zeros((0, 0), dtype=np.float32), []
    present = [item_id for item_id, have in zip(item_ids, found, strict=True) if have]
    return (out if found.all() else out[found]), present
