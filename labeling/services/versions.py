"""Dataset versions: build from a recipe (a Celery job), publish atomically, diff, retry.

How a build runs (``version_build_run``, called by the worker):

1. **Claim** the job (a conditional update; a redelivered message reclaims a job whose worker died).
   Each attempt writes its files in a local work folder ``job-<job>-<attempt>-*`` (under ``.building/``
   beside the media, or the system's temporary folder with object storage), then under its own storage
   prefix ``datasets/<project>/build-<job>-<attempt>/``; it first removes what earlier, interrupted
   attempts of the same job left in both (``build_debris_remove``), as a retry does when it queues the
   job and ``build_debris_cleanup`` (``manage.py cleanup_builds``) does for builds nobody retries.
2. **Answers pass** (``labeling.services.resolution``): the answers that count under the recipe are
   streamed in item order (PostgreSQL: a binary ``COPY ... TO STDOUT`` read with ``numpy.frombuffer``)
   in blocks cut at item boundaries; a majority vote resolves each block and keeps only per-item results
   (Dawid-Skene, a global fit, gathers every answer first). SME decisions come first.
3. **Items pass**: the items are streamed in id order (a server-side cursor) in chunks of ITEM_CHUNK;
   ``ManifestBuilder`` joins each chunk with the resolution and the tags into a columnar
   ``exports.ManifestChunk`` (NumPy), which every artifact writer appends to its local file (Parquet one
   row group per chunk). Nothing holds the whole manifest. Then the raw answers to the manifest's items
   (``answers.jsonl``, ``_answers_artifact``) in keyset batches. On PostgreSQL all passes read one
   REPEATABLE READ snapshot, so a manifest never mixes two states of the data.
4. **Publish**: the files are saved to storage, then one transaction locks the job and the project,
   checks that this attempt still owns the job, numbers the version (max + 1 under the project lock; a
   unique constraint backs it), creates the version and artifact rows, marks the job succeeded and queues
   the webhooks. Until that commit no version exists; a worker killed at any point before it leaves no
   version, only a job that is retried (``version_build_retry``) or reclaimed by a redelivered message.

A thread beats the job's ``heartbeat`` (and writes its progress) while the build runs, so a job whose
worker died is recognisable: running, with a heartbeat older than ``LABELHUB_JOB_STALE_SECONDS``.

Test-only hook: ``LABELHUB_TEST_BUILD_PAUSE=<seconds>`` in the worker's environment makes the items pass
work in chunks of 10 items and sleep that long after each, so a test can kill a worker mid-build.
"""

import contextlib
import json
import logging
import os
import shutil
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from datetime import timedelta

import numpy as np
from django.conf import settings
from django.core.files import File
from django.core.files.storage import FileSystemStorage, default_storage
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from labelhub.snapshots import read_snapshot
from labelhub.storage import s3_bucket
from labeling import selectors
from labeling.choices import JobKind, JobStatus, TaskType
from labeling.models import DatasetVersion, Item, Job, Project, Tag, TaxonomyChange, VersionArtifact
from labeling.services import answer_exports, exports
from labeling.services.exports import NAMED_ITEMS, split_codes, split_hashes
from labeling.services.jobs import (
    JobBeat,
    JobNotRetryable,
    job_claim,
    job_retry_stale,
    job_start,
    stale_seconds,
    under_way,
)
from labeling.services.recipes import recipe_parse

# answers_read, decisions_for, resolve: error analysis reads labels the way versions resolve them, from here.
from labeling.services.resolution import (
    REVIEW_REASONS,
    answer_blocks,
    answers_read,  # noqa: F401
    decision_codes,
    decisions_for,  # noqa: F401
    effective_class_map,
    labeler_priors,
    recipe_answers,
    recipe_items,
    resolve,  # noqa: F401
    resolve_blocks,
)
from labeling.services.shape_versions import SHAPE_TASKS, build_shapes, is_shape_project, shape_changes
from labeling.services.webhooks import webhooks_notify

logger = logging.getLogger(__name__)

ITEM_CHUNK = 20_000
DIFF_LIST_LIMIT = 10_000


class _Superseded(Exception):
    """A newer attempt owns the job now; this one must not publish."""


# --- start and retry -----------------------------------------------------------------------------------


@transaction.atomic
def version_build_start(*, project, user, recipe) -> Job:
    """Validate ``recipe`` (see ``labeling.services.recipes``) and queue a build job; answer the job (the
    build of the same recipe already queued or running, if any: see ``version_build_request``).

    Raises ValidationError naming every bad or unknown recipe field. Nothing is built inline.
    """
    return version_build_request(project=project, user=user, recipe=recipe)[0]


def version_build_request(*, project, user, recipe) -> tuple[Job, bool]:
    """Like ``version_build_start``, answering ``(job, started)``: ``started`` is False when a build of
    the project with the same parsed recipe was still queued or running (its worker alive: see
    ``labeling.services.jobs.under_way``), whose job is answered instead.

    A client whose answer to a build request was lost sends it again; each request used to queue a build
    of its own, so one lost answer made two identical builds (minutes of worker time each, two versions
    with the same labels). The project row is locked while looking, so two identical requests at once
    still start one build.
    """
    policy = recipe_parse(project=project, data=recipe)
    params = {"policy": policy}
    with transaction.atomic():
        Project.objects.select_for_update().filter(pk=project.pk).first()
        running = (
            Job.objects.filter(under_way(), project=project, kind=JobKind.VERSION, params=params)
            .order_by("-created", "-id")
            .first()
        )
        if running is not None:
            return running, False
        return job_start(kind=JobKind.VERSION, project=project, user=user, params=params), True


def version_build_retry(*, job) -> Job:
    """Retry a failed or abandoned version build (see ``job_retry_stale``); the files its earlier attempts
    left (work folders, unpublished storage files) are removed now."""
    if job.kind != JobKind.VERSION:
        raise JobNotRetryable(f"job {job.pk} is not a version build")
    job = job_retry_stale(job=job)
    build_debris_remove(job=job, before_attempt=job.attempts + 1)  # the next attempt has not started yet
    return job


# --- the build -----------------------------------------------------------------------------------------


@dataclass
class BuildResult:
    prefix: str
    files: list  # (ArtifactFile, storage name)
    content_hash: str
    counts: dict
    info: dict


def _name(names, ids):
    """Append ids to a reason's list of named items, up to NAMED_ITEMS."""
    room = NAMED_ITEMS - len(names)
    if room > 0 and len(ids):
        names.extend(int(i) for i in ids[:room])


def _chunks(iterator, size):
    chunk = []
    for row in iterator:
        chunk.append(row)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _gather_ranges(lo, hi):
    """Indexes lo[0]..hi[0]-1, lo[1]..hi[1]-1, ... concatenated, and the offsets of each range."""
    lengths = hi - lo
    ptr = np.zeros(len(lo) + 1, dtype=np.int64)
    np.cumsum(lengths, out=ptr[1:])
    return np.repeat(lo - ptr[:-1], lengths) + np.arange(ptr[-1]), ptr


class ManifestBuilder:
    """Turns chunks of item rows into columnar ``exports.ManifestChunk``s, and counts what it kept.

    ``resolution`` is every answered item's resolved label; ``decisions`` {item id: code or -1}; rows are
    ``(pk, sha256, file, source_id[, text][, split group])`` tuples in id order (the split group, the item's
    metadata value under ``splits.group_by``, when the recipe sets it). Everything per chunk is NumPy except
    the split hash (one int() per item).
    """

    def __init__(self, *, project, policy, resolution, categories, decisions, text):
        self.project, self.policy, self.res, self.text = project, policy, resolution, text
        self.names = list(categories.names)
        # Within an item, answers are listed by category name (JSON objects have sorted keys).
        self.rank = np.argsort(np.argsort(np.array(self.names, dtype=object))) if self.names else np.zeros(0, int)
        self.consensus_code = exports.RESOLVED_BY.index(policy["consensus"])
        self.decision_code = exports.RESOLVED_BY.index("decision")
        self.keep_review = policy["unresolved"] == "needs_review"
        ids = sorted(decisions)
        self.decision_ids = np.array(ids, dtype=np.int64)
        self.decision_values = np.array([decisions[i] for i in ids], dtype=np.int64)
        tags = list(Tag.objects.filter(project=project).values_list("pk", "name"))
        self.tag_names = sorted(name for _, name in tags)
        by_id = sorted(tags)
        self.tag_ids = np.array([pk for pk, _ in by_id], dtype=np.int64)
        self.tag_rank = np.array([self.tag_names.index(name) for _, name in by_id], dtype=np.int32)
        self.sources = dict(project.sources.values_list("pk", "name"))
        k, s = max(len(self.names), 1), len(exports.SPLITS)
        self.classes = np.zeros(k, dtype=np.int64)
        self.split_classes = np.zeros((s, k), dtype=np.int64)
        self.resolved_by = np.zeros(len(exports.RESOLVED_BY), dtype=np.int64)
        self.review = np.zeros(len(REVIEW_REASONS), dtype=np.int64)
        self.left_out = {"unlabeled": 0, "decision": 0, **{r: 0 for r in REVIEW_REASONS}}
        # Which items, by name (id), up to NAMED_ITEMS per reason: left out, and listed without a label.
        self.left_out_items = {r: [] for r in self.left_out}
        self.review_items = {r: [] for r in REVIEW_REASONS}
        self.n_items = 0
        # splits.group_by (absent from recipes stored before it existed): rows end with the item's value
        self.group_by = policy["splits"].get("group_by", "")
        self.grouped = 0  # manifest items whose split came from their group's value

    def _resolved(self, ids):
        """Per id, from the resolution: found, code, reason, agreement, answers, and the slice of its
        counted answers (lo, hi); defaults (-1, few answers, NaN, 0, empty) for unanswered items."""
        res, n = self.res, len(self.res.item)
        if not n:
            zero = np.zeros(len(ids), dtype=np.int64)
            return zero.astype(bool), zero - 1, zero + 3, np.full(len(ids), np.nan), zero, zero, zero
        pos = np.minimum(np.searchsorted(res.item, ids), n - 1)
        found = res.item[pos] == ids
        return (
            found,
            np.where(found, res.code[pos], -1).astype(np.int64),
            np.where(found, res.reason[pos], 3).astype(np.int64),
            np.where(found, res.agreement[pos], np.nan),
            np.where(found, res.n_all[pos], 0),
            np.where(found, res.t_ptr[pos], 0),
            np.where(found, res.t_ptr[pos + 1], 0),
        )

    def _decided(self, ids):
        if not len(self.decision_ids):
            return np.full(len(ids), -2, dtype=np.int64)
        pos = np.minimum(np.searchsorted(self.decision_ids, ids), len(self.decision_ids) - 1)
        return np.where(self.decision_ids[pos] == ids, self.decision_values[pos], -2)

    def chunk(self, rows) -> "exports.ManifestChunk | None":
        res = self.res
        ids = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
        found, code, reason, agreement, n_all, lo, hi = self._resolved(ids)
        resolved_by = np.where(code >= 0, self.consensus_code, -1)
        decided = self._decided(ids)
        out_by_decision = decided == -1
        has_decision = decided >= 0
        if has_decision.any():
            code[has_decision] = decided[has_decision]
            resolved_by[has_decision] = self.decision_code
            # Agreement of a decided item: the share of its counted answers that say what the SME said.
            for i in np.flatnonzero(has_decision):
                counts = res.t_count[lo[i] : hi[i]]
                total = int(counts.sum())
                agree = int(counts[res.t_code[lo[i] : hi[i]] == code[i]].sum())
                agreement[i] = agree / total if total else np.nan
        unlabeled = ~found & ~has_decision & ~out_by_decision
        unresolved = (code < 0) & found & ~out_by_decision
        keep = (code >= 0) & ~out_by_decision
        if self.keep_review:
            keep |= unresolved
        else:
            for r, n in zip(REVIEW_REASONS, np.bincount(reason[unresolved] - 1, minlength=3).tolist(), strict=True):
                self.left_out[r] += n
        self.left_out["unlabeled"] += int(unlabeled.sum())
        self.left_out["decision"] += int(out_by_decision.sum())
        named = self.review_items if self.keep_review else self.left_out_items
        for i, r in enumerate(REVIEW_REASONS, start=1):
            _name(named[r], ids[unresolved & (reason == i)])
        _name(self.left_out_items["unlabeled"], ids[unlabeled])
        _name(self.left_out_items["decision"], ids[out_by_decision])
        picked = np.flatnonzero(keep)
        if not len(picked):
            return None
        picked_l = picked.tolist()
        shas = [rows[i][1] for i in picked_l]
        splits = self.policy["splits"]
        drawn_from = shas
        if self.group_by:  # the group's value rides last in each row (see _build)
            groups = [rows[i][-1] for i in picked_l]
            drawn_from = split_hashes(shas, groups)
            self.grouped += sum(g is not None for g in groups)
        split = split_codes(drawn_from, train=splits["train"], dev=splits["dev"], salt=splits["salt"])
        code = code[picked]
        review = np.where(code < 0, reason[picked] - 1, -1).astype(np.int8)
        gather, answer_ptr = _gather_ranges(lo[picked], hi[picked])
        answer_code, answer_count = res.t_code[gather], res.t_count[gather]
        if len(answer_code):
            row_of = np.repeat(np.arange(len(picked)), np.diff(answer_ptr))
            order = np.lexsort((self.rank[answer_code], row_of))
            answer_code, answer_count = answer_code[order], answer_count[order]
        item_ids = ids[picked]
        tag_ptr, tag_code = self._tags(item_ids)
        sources = self.sources
        chunk = exports.ManifestChunk(
            names=self.names,
            item=item_ids,
            sha256=shas,
            label=code.astype(np.int32),
            split=split,
            agreement=np.round(agreement[picked], 4),
            n_annotations=n_all[picked].astype(np.int32),
            answer_ptr=answer_ptr,
            answer_code=answer_code.astype(np.int32),
            answer_count=answer_count.astype(np.int32),
            tag_names=self.tag_names,
            tag_ptr=tag_ptr,
            tag_code=tag_code,
            source=[sources.get(rows[i][3]) for i in picked_l],
            media=[rows[i][2] for i in picked_l],
            text=[rows[i][4] for i in picked_l] if self.text else None,
            resolved_by=resolved_by[picked].astype(np.int8),
            review=review,
        )
        self._count(chunk)
        return chunk

    def _tags(self, item_ids):
        """(offsets, tag codes) of the items' tags, sorted by name within each item."""
        n = len(item_ids)
        if not len(self.tag_ids):
            return np.zeros(n + 1, dtype=np.int64), np.zeros(0, dtype=np.int32)
        links = np.array(
            Item.tags.through.objects.filter(
                item_id__gte=int(item_ids[0]), item_id__lte=int(item_ids[-1]), tag_id__in=self.tag_ids.tolist()
            ).values_list("item_id", "tag_id"),
            dtype=np.int64,
        ).reshape(-1, 2)
        rows = np.minimum(np.searchsorted(item_ids, links[:, 0]), max(n - 1, 0))
        mine = item_ids[rows] == links[:, 0] if n else np.zeros(len(links), dtype=bool)
        rows = rows[mine]
        ranks = self.tag_rank[np.searchsorted(self.tag_ids, links[mine, 1])]
        order = np.lexsort((ranks, rows))
        ptr = np.zeros(n + 1, dtype=np.int64)
        np.cumsum(np.bincount(rows, minlength=n), out=ptr[1:])
        return ptr, ranks[order].astype(np.int32)

    def _count(self, chunk):
        self.n_items += len(chunk.item)
        labeled = chunk.label >= 0
        k = len(self.classes)
        self.classes += np.bincount(chunk.label[labeled], minlength=k)
        flat = chunk.split[labeled].astype(np.int64) * k + chunk.label[labeled]
        self.split_classes += np.bincount(flat, minlength=self.split_classes.size).reshape(self.split_classes.shape)
        self.resolved_by += np.bincount(chunk.resolved_by[labeled], minlength=len(self.resolved_by))
        self.review += np.bincount(chunk.review[~labeled], minlength=len(self.review))

    def counts(self, *, transcription) -> dict:
        labeled = int(self.classes.sum())
        splits = self.split_classes.sum(axis=1)
        out = {
            "items": self.n_items,
            "labeled": labeled,
            "needs_review": self.n_items - labeled,
            "review_reasons": dict(zip(REVIEW_REASONS, self.review.tolist(), strict=True)),
            "left_out": self.left_out,
            "left_out_total": sum(self.left_out.values()),
            "left_out_items": {r: ids for r, ids in self.left_out_items.items() if ids},
            "needs_review_items": {r: ids for r, ids in self.review_items.items() if ids},
            "splits": dict(zip(exports.SPLITS, splits.tolist(), strict=True)),
            **({"split_by_group": self.grouped} if self.group_by else {}),
            "resolved_by": {
                name: n for name, n in zip(exports.RESOLVED_BY, self.resolved_by.tolist(), strict=True) if n
            },
        }
        present = [i for i in range(len(self.names)) if self.classes[i]]
        if transcription:
            out["distinct_labels"] = len(present)
        else:
            order = sorted(present, key=lambda i: self.names[i])
            out["classes"] = {self.names[i]: int(self.classes[i]) for i in order}
            out["split_classes"] = {
                split: {self.names[i]: int(self.split_classes[s, i]) for i in order if self.split_classes[s, i]}
                for s, split in enumerate(exports.SPLITS)
            }
        return out


def _build_root():
    # Beside the media on a local disk, so that saving an artifact is a rename rather than a copy.
    if isinstance(default_storage, FileSystemStorage):
        return os.path.join(default_storage.location, ".building")
    return os.path.join(tempfile.gettempdir(), "labelhub-building")


def _workdir(job, attempt):
    """A fresh local folder for one attempt's files, named after the job and attempt so that a later
    attempt or a clean-up can find it when the worker was killed before removing it."""
    root = _build_root()
    os.makedirs(root, exist_ok=True)
    return tempfile.mkdtemp(prefix=f"job-{job.pk}-{attempt}-", dir=root)


def _workdir_attempts(root):
    """{(job id, attempt): [folder paths]} of the work folders under ``root``."""
    found = {}
    with contextlib.suppress(FileNotFoundError):
        for entry in os.scandir(root):
            parts = entry.name.split("-")
            if entry.is_dir() and len(parts) >= 3 and parts[0] == "job" and parts[1].isdigit() and parts[2].isdigit():
                found.setdefault((int(parts[1]), int(parts[2])), []).append(entry.path)
    return found


class _LocalFile(File):
    """A finished local file; FileSystemStorage moves it into place instead of copying."""

    def temporary_file_path(self):
        return self.file.name


def storage_delete_tree(prefix):
    """Delete every stored file under ``prefix`` (a folder name). On S3, a thousand objects a request (a
    deleted project's million items were a million requests, hours of a worker)."""
    bucket = s3_bucket(default_storage)
    if bucket is not None:
        bucket.objects.filter(Prefix=prefix.rstrip("/") + "/").delete()
        return
    try:
        folders, files = default_storage.listdir(prefix)
    except (FileNotFoundError, NotADirectoryError):
        return
    for name in files:
        default_storage.delete(f"{prefix}/{name}")
    for folder in folders:
        storage_delete_tree(f"{prefix}/{folder}")
    if isinstance(default_storage, FileSystemStorage):
        shutil.rmtree(default_storage.path(prefix), ignore_errors=True)


def _attempt_prefix(job, attempt):
    return f"datasets/{job.project_id}/build-{job.pk}-{attempt}"


def build_debris_remove(*, job, before_attempt):
    """Remove what attempts 1 .. ``before_attempt`` - 1 of a build job left: their local work folders and
    their stored, unpublished files. A published version's files are never touched."""
    published = set(DatasetVersion.objects.filter(job_id=job.pk).values_list("storage_prefix", flat=True))
    for earlier in range(1, before_attempt):
        if _attempt_prefix(job, earlier) not in published:
            storage_delete_tree(_attempt_prefix(job, earlier))
    for (job_id, attempt), paths in _workdir_attempts(_build_root()).items():
        if job_id == job.pk and attempt < before_attempt:
            for path in paths:
                shutil.rmtree(path, ignore_errors=True)


def build_debris_cleanup() -> int:
    """Remove the leftovers of every version build that no worker is running: failed builds, builds
    silent for ``LABELHUB_JOB_STALE_SECONDS``, finished or deleted jobs' work folders. Answers how many
    jobs were cleaned. Files of queued builds and of builds that beat recently are left alone."""
    stale = timezone.now() - timedelta(seconds=stale_seconds())
    alive = Q(status=JobStatus.QUEUED) | Q(
        Q(heartbeat__gte=stale) | Q(heartbeat__isnull=True, started__gte=stale), status=JobStatus.RUNNING
    )
    jobs = {j.pk: j for j in Job.objects.filter(kind=JobKind.VERSION).exclude(alive)}
    cleaned = 0
    for job in jobs.values():
        build_debris_remove(job=job, before_attempt=job.attempts + 1)
        cleaned += 1
    alive_ids = set(Job.objects.filter(alive, kind=JobKind.VERSION).values_list("pk", flat=True))
    for (job_id, _), paths in _workdir_attempts(_build_root()).items():
        if job_id not in alive_ids and job_id not in jobs:  # a deleted job's folder
            for path in paths:
                shutil.rmtree(path, ignore_errors=True)
    return cleaned


def _transcript_conventions(project):
    getter = getattr(selectors, "transcript_conventions", None)
    conventions = getter(project=project) if getter else None
    return conventions.as_dict() if conventions is not None else None


def _build(*, job, project, policy, prefix, beat) -> BuildResult:
    started = time.perf_counter()
    pause = float(os.environ.get("LABELHUB_TEST_BUILD_PAUSE") or 0)  # test-only hook, see the module doc
    chunk_size = 10 if pause else ITEM_CHUNK
    transcription = project.task_type == TaskType.TRANSCRIPTION
    text = project.modality == "text"
    workdir = _workdir(job, job.attempts)
    if is_shape_project(project):
        return _build_shapes(project=project, policy=policy, prefix=prefix, beat=beat, workdir=workdir, pause=pause)
    try:
        with read_snapshot():
            # In the snapshot, with the classes it counts: a merge committed between the two left the
            # merged class retired and unmapped, and its answers counted for nothing.
            class_map = {} if transcription else effective_class_map(project=project, policy=policy)
            items = recipe_items(project=project, filters=policy["filters"])
            beat.set(total=items.count(), phase="reading answers")
            categories, blocks = answer_blocks(
                project=project, policy=policy, items=items, class_map=class_map, beat=beat
            )
            decisions = None
            if policy["consensus"] == "dawid_skene":  # classification: the categories are known already
                decisions = decision_codes(project=project, policy=policy, categories=categories, class_map=class_map)
            resolution = resolve_blocks(
                blocks,
                categories,
                consensus=policy["consensus"],
                min_answers=policy["min_answers"],
                min_agreement=policy["min_agreement"],
                rater_prior=lambda answers: labeler_priors(answers=answers, reference=decisions or {}),
            )
            if decisions is None:
                decisions = decision_codes(project=project, policy=policy, categories=categories, class_map=class_map)
            beat.set(phase="writing the manifest")
            builder = ManifestBuilder(
                project=project,
                policy=policy,
                resolution=resolution,
                categories=categories,
                decisions=decisions,
                text=text,
            )
            artifacts = exports.ArtifactSet(
                folder=workdir, formats=policy["formats"], text=text, transcription=transcription
            )
            columns = ["pk", "sha256", "file", "source_id"] + (["text"] if text else [])
            group_by = policy["splits"].get("group_by", "")
            if group_by:
                columns.append(exports.SPLIT_GROUP)
            listed = exports.split_group_annotate(items, group_by) if group_by else items
            rows = listed.order_by("pk").values_list(*columns).iterator(chunk_size=chunk_size)
            done = 0
            for chunk in _chunks(rows, chunk_size):
                manifest = builder.chunk(chunk)
                if manifest is not None:
                    artifacts.write(manifest)
                done += len(chunk)
                beat.set(processed=done)
                if pause:
                    time.sleep(pause)
            finished = artifacts.close()
            finished.append(_answers_artifact(project=project, policy=policy, items=items, finished=finished))
            # In the snapshot too: read after it, conventions changed meanwhile were recorded as applied.
            conventions = _transcript_conventions(project) if transcription else None
        beat.set(phase="saving artifacts")
        content_hash = next(f.sha256 for f in finished if f.format == "jsonl")
        stored = []
        for artifact in finished:
            with open(artifact.path, "rb") as handle:
                name = default_storage.save(f"{prefix}/{artifact.filename}", _LocalFile(handle))
            stored.append((artifact, name))
        info = {
            "class_map": class_map,
            "n_answered_items": len(resolution.item),
            "n_decisions": len(decisions),
            "categories": len(categories.names),
            "seconds": round(time.perf_counter() - started, 2),
        }
        if transcription:
            info["transcript_conventions"] = conventions
        return BuildResult(prefix, stored, content_hash, builder.counts(transcription=transcription), info)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def _answers_artifact(*, project, policy, items, finished) -> exports.ArtifactFile:
    """``answers.jsonl``: the raw answers behind the manifest — every current answer to an item of the
    manifest that the recipe's answer filters (``guideline``, ``answered_to``) let in, counted or not,
    as given (before any class mapping). Read in the build's snapshot, so it matches the manifest; the
    manifest's items are read back from its Parquet file, which every build writes."""
    import pyarrow.parquet as pq

    manifest = next(f for f in finished if f.format == "parquet")
    manifest_items = pq.read_table(manifest.path, columns=["item"]).column("item").to_numpy()
    return answer_exports.version_answers_write(
        folder=os.path.dirname(manifest.path),
        answers=recipe_answers(project=project, filters=policy["filters"], items=items),
        items=manifest_items,
        localized=answer_exports.is_localized(project),
    )


def _save(prefix, finished):
    stored = []
    for artifact in finished:
        with open(artifact.path, "rb") as handle:
            name = default_storage.save(f"{prefix}/{artifact.filename}", _LocalFile(handle))
        stored.append((artifact, name))
    return stored


def _build_shapes(*, project, policy, prefix, beat, workdir, pause) -> BuildResult:
    """A detection or segments project's build: consensus shapes (``labeling.services.shape_versions``),
    classes mapped by the taxonomy changes and the recipe's class map."""
    started = time.perf_counter()
    try:
        with read_snapshot():
            class_map = effective_class_map(project=project, policy=policy)  # in the snapshot, as in _build
            items = recipe_items(project=project, filters=policy["filters"])
            beat.set(total=items.count(), phase="writing the manifest")
            finished, counts, info = build_shapes(
                project=project,
                policy=policy,
                items=items,
                folder=workdir,
                beat=beat,
                chunk_size=10 if pause else ITEM_CHUNK,
                pause=pause,
                class_map=class_map,
            )
            finished.append(_answers_artifact(project=project, policy=policy, items=items, finished=finished))
        beat.set(phase="saving artifacts")
        content_hash = next(f.sha256 for f in finished if f.format == "jsonl")
        stored = _save(prefix, finished)
        info["seconds"] = round(time.perf_counter() - started, 2)
        return BuildResult(prefix, stored, content_hash, counts, info)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


# --- publishing ----------------------------------------------------------------------------------------


def _artifact(version, fmt):
    return next((a for a in version.artifacts.all() if a.format == fmt), None)


def _publish(*, job, attempt, built: BuildResult) -> DatasetVersion:
    """Create the version and its artifacts in one transaction, if this attempt still owns the job."""
    parent = DatasetVersion.objects.filter(project_id=job.project_id).order_by("-number").first()
    parquet = next(name for f, name in built.files if f.format == "parquet")
    changes = diff_summary(old=_artifact(parent, "parquet").name, new=parquet, project=parent.project) if parent else {}
    with transaction.atomic():
        owned = Job.objects.select_for_update().filter(pk=job.pk, status=JobStatus.RUNNING, attempts=attempt).exists()
        if not owned:
            raise _Superseded
        project = Project.objects.select_for_update().get(pk=job.project_id)
        latest = DatasetVersion.objects.filter(project=project).order_by("-number").first()
        if (latest and latest.pk) != (parent and parent.pk):  # another build published meanwhile
            parent = latest
            changes = diff_summary(old=_artifact(parent, "parquet").name, new=parquet, project=project)
        version = DatasetVersion.objects.create(
            project=project,
            number=(latest.number if latest else 0) + 1,
            parent=parent,
            job=job,
            policy=job.params["policy"],
            content_hash=built.content_hash,
            counts=built.counts,
            info=built.info,
            changes=changes,
            storage_prefix=built.prefix,
            created_by=job.created_by,
        )
        VersionArtifact.objects.bulk_create(
            [
                VersionArtifact(
                    version=version, format=f.format, name=name, size=f.size, sha256=f.sha256, n_rows=f.n_rows
                )
                for f, name in built.files
            ]
        )
        Job.objects.filter(pk=job.pk).update(
            status=JobStatus.SUCCEEDED,
            finished=timezone.now(),
            heartbeat=timezone.now(),
            processed=job.total or 0,
            total=job.total or 0,
            result={"version": version.number, "content_hash": version.content_hash, "counts": built.counts},
        )
        webhooks_notify(project=project, event="version.ready", payload=version_event_payload(version=version))
    return version


def version_event_payload(*, version) -> dict:
    """What a "version.ready" webhook and an external trainer are told about a version."""
    base = getattr(settings, "LABELHUB_PUBLIC_URL", "").rstrip("/")
    path = f"/api/projects/{version.project_id}/versions/{version.number}/"
    return {
        "project": version.project_id,
        "version": version.number,
        "content_hash": version.content_hash,
        "counts": {k: version.counts.get(k) for k in ("items", "labeled", "needs_review", "splits")},
        "url": base + path,
        "manifest": base + path + "manifest",
        "downloads": {a.format: f"{base}{path}download?format={a.format}" for a in version.artifacts.all()},
    }


def _fail(*, job, attempt, message):
    Job.objects.filter(pk=job.pk, status=JobStatus.RUNNING, attempts=attempt).update(
        status=JobStatus.FAILED, finished=timezone.now(), errors=[{"reason": message}]
    )


def version_build_run(*, job_id):
    """Run a queued build job (called by the worker). Safe to call twice: only one call claims the job,
    and only the attempt that owns the job at publish time publishes."""
    if not Job.objects.filter(pk=job_id, kind=JobKind.VERSION).exists():
        logger.warning("job %s is not a version build; message ignored", job_id)
        return None
    job = job_claim(job_id=job_id)
    if job is None:
        logger.info("version build %s already claimed or finished", job_id)
        return None
    attempt = job.attempts
    project = job.project
    prefix = _attempt_prefix(job, attempt)
    build_debris_remove(job=job, before_attempt=attempt)
    try:
        policy = recipe_parse(project=project, data=job.params.get("policy", {}))
        with JobBeat(job) as beat:
            built = _build(job=job, project=project, policy=policy, prefix=prefix, beat=beat)
            beat.set(phase="publishing")
            # The items counted and read (the beat's, written from its thread; this job object never saw
            # them): the finished job says processed == total, not 0 of nothing.
            job.total = beat.total
            version = _publish(job=job, attempt=attempt, built=built)
    except _Superseded:
        logger.warning("version build %s attempt %s was superseded; its files are removed", job_id, attempt)
        storage_delete_tree(prefix)
        return None
    except Exception as exc:
        logger.exception("version build %s failed", job_id)
        storage_delete_tree(prefix)
        detail = "; ".join(f"{k}: {v}" for k, v in exc.message_dict.items()) if hasattr(exc, "message_dict") else exc
        _fail(job=job, attempt=attempt, message=f"build failed: {exc.__class__.__name__}: {detail}")
        raise
    logger.info("version build %s published %s v%s", job_id, project, version.number)
    return version


# --- diffs -----------------------------------------------------------------------------------------------


def _labels(name, resolved=False):
    """(item ids, label codes, label names, split codes) of a stored Parquet manifest, and with ``resolved``
    each row's ``resolved_by`` (else None), read in the same pass."""
    import pyarrow.compute as pc

    table = exports.read_columns(name, ["item", "label", "split", *(["resolved_by"] if resolved else [])])
    items = table.column("item").to_numpy()
    encoded = pc.dictionary_encode(table.column("label")).combine_chunks()
    codes = encoded.indices.to_numpy(zero_copy_only=False)
    valid = encoded.indices.is_valid().to_numpy(zero_copy_only=False)
    codes = np.where(valid, codes, -1).astype(np.int64)
    split = pc.dictionary_encode(table.column("split")).combine_chunks()
    split_names = split.dictionary.to_pylist()
    split_codes = np.array([exports.SPLITS.index(s) for s in split_names], dtype=np.int64)
    splits = split_codes[split.indices.to_numpy(zero_copy_only=False)] if len(split_names) else np.zeros(0, np.int64)
    by = np.array(table.column("resolved_by").to_pylist(), dtype=object) if resolved else None
    return items, codes, encoded.dictionary.to_pylist(), splits, by


# What a shipped shape carries beside the shape itself: how many labelers drew it, whether an SME decided
# it. More labelers drawing the same box is no relabel.
SHAPE_EVIDENCE = ("support", "decided")


def _label_key(name):
    """A manifest label as a diff compares it: a shapes label without its shapes' evidence fields."""
    if not isinstance(name, str) or not name.startswith("{"):
        return name
    try:
        value = json.loads(name)
    except ValueError:
        return name
    if not isinstance(value, dict) or len(value) != 1:
        return name
    ((kind, shapes),) = value.items()
    shaped = kind in ("boxes", "segments") and isinstance(shapes, list)
    if not shaped or not all(isinstance(s, dict) for s in shapes):
        return name  # a transcript that happens to be JSON text
    bare = [{k: v for k, v in shape.items() if k not in SHAPE_EVIDENCE} for shape in shapes]
    return json.dumps({kind: bare}, separators=(",", ":"))


def _diff_arrays(old, new, resolved=False):
    """The diff of two stored Parquet manifests; with ``resolved``, ``relabeled_by``: the relabeled rows'
    ``resolved_by`` in each (the diff's ``why`` reads it)."""
    a_items, a_codes, a_names, a_split, a_by = _labels(old, resolved)
    b_items, b_codes, b_names, b_split, b_by = _labels(new, resolved)
    a_names, b_names = [_label_key(n) for n in a_names], [_label_key(n) for n in b_names]
    # One shared code space for the labels of both versions.
    names = sorted(set(a_names) | set(b_names))
    index = {n: i for i, n in enumerate(names)}
    a_map = np.array([index[n] for n in a_names] + [-1], dtype=np.int64)
    b_map = np.array([index[n] for n in b_names] + [-1], dtype=np.int64)
    a_lab = a_map[np.where(a_codes >= 0, a_codes, len(a_names))]
    b_lab = b_map[np.where(b_codes >= 0, b_codes, len(b_names))]
    common, ia, ib = np.intersect1d(a_items, b_items, assume_unique=True, return_indices=True)
    added = np.setdiff1d(b_items, a_items, assume_unique=True)
    removed = np.setdiff1d(a_items, b_items, assume_unique=True)
    changed = a_lab[ia] != b_lab[ib]
    resplit = int((a_split[ia] != b_split[ib]).sum())
    return {
        "names": names,
        "a": (a_items, a_lab),
        "b": (b_items, b_lab),
        "added": added,
        "removed": removed,
        "relabeled": (common[changed], a_lab[ia][changed], b_lab[ib][changed]),
        "relabeled_by": (a_by[ia][changed].tolist(), b_by[ib][changed].tolist()) if resolved else None,
        "resplit": resplit,
    }


def _class_counts(labels, names):
    counts = np.bincount(labels[labels >= 0], minlength=len(names))
    return {names[i]: int(c) for i, c in enumerate(counts)}


def diff_summary(*, old, new, project=None) -> dict:
    """Counts of the changes from the manifest stored as ``old`` to ``new`` (Parquet storage names);
    detection and segments projects add ``shapes`` (added, removed, moved: see ``shape_changes``)."""
    d = _diff_arrays(old, new)
    out = {
        "added": len(d["added"]),
        "removed": len(d["removed"]),
        "relabeled": len(d["relabeled"][0]),
        "resplit": d["resplit"],
    }
    if project is not None and is_shape_project(project):
        out["shapes"] = shape_changes(old=old, new=new, kind=SHAPE_TASKS[project.task_type][1])
    return out


def _shape_class_counts(a_lab, b_lab, names, kind):
    """Shapes per class before and after, from the label codes of two manifests' rows (JSON labels)."""
    per_label = [Counter(s["label"] for s in json.loads(n).get(kind, [])) for n in names]

    def total(labels):
        out = Counter()
        for code, n in zip(*np.unique(labels[labels >= 0], return_counts=True), strict=True):
            for key, k in per_label[code].items():
                out[key] += k * int(n)
        return out

    before, after = total(a_lab), total(b_lab)
    return [
        {"class": c, "before": before[c], "after": after[c], "change": after[c] - before[c]}
        for c in sorted(set(before) | set(after), key=str)
    ]


# Why an item's label differs between two versions (``version_diff``'s relabeled rows, ``why``).
WHY_TAXONOMY = "taxonomy"  # a class renamed or merged between the two builds: the same answers, another key
WHY_DECISION = "decision"  # an SME's decision ships in the newer version (a new decision, or another one)
WHY_DECISION_GONE = "decision_gone"  # the older shipped a decision the newer does not (withdrawn, or not used)
WHY_ANSWERS = "answers"  # the labelers' answers (or how the recipe resolves them) changed
WHY_ORDER = (WHY_DECISION, WHY_DECISION_GONE, WHY_TAXONOMY, WHY_ANSWERS)


def _taxonomy_between(project, earlier, later) -> tuple[dict, dict]:
    """How the taxonomy changed between two builds at ``earlier`` and ``later`` (datetimes), as two class
    mappings (old class key → key): ``added``, the changes made after ``earlier`` and still standing at
    ``later``, leads a label shipped at the first to how the same answers read at the second; ``undone``, the
    changes standing at ``earlier`` and undone by ``later`` (a merge undone gives its classes their answers
    back), leads from the second's labels to the first's."""

    def mapping(changes):
        out = {}
        for change in changes.order_by("number"):
            out = selectors.mapping_with(mapping=out, op=change.op, payload=change.payload)
        return out

    changes = TaxonomyChange.objects.filter(project=project)
    added = changes.filter(created__gt=earlier, created__lte=later).filter(Q(undone__isnull=True) | Q(undone__gt=later))
    undone = changes.filter(created__lte=earlier, undone__gt=earlier, undone__lte=later)
    return mapping(added), mapping(undone)


def _mapped_label(name, mapping):
    """A diff's label key (``_label_key``) read through a class mapping: a class key, or each shape's class."""
    if not mapping or name is None:
        return name
    if name.startswith("{") and _label_key(name) == name:  # shapes, as _label_key keeps them
        try:
            ((kind, shapes),) = json.loads(name).items()
            mapped = [{**shape, "label": mapping.get(shape.get("label"), shape.get("label"))} for shape in shapes]
            return json.dumps({kind: mapped}, separators=(",", ":"))
        except (ValueError, AttributeError, TypeError):
            pass  # a transcript that begins with a brace
    return mapping.get(name, name)


def _why(old_name, new_name, old_by, new_by, forward, backward):
    """Why a relabeled row changed: see WHY_*. ``old_by`` / ``new_by``: each version's ``resolved_by``."""
    renamed = _mapped_label(old_name, forward) == new_name or _mapped_label(new_name, backward) == old_name
    if new_by == "decision":
        # both ship a decision that reads as the other through the classes renamed or merged between: the
        # taxonomy changed it (no decision was made, or the new one decides what the old one did)
        return WHY_TAXONOMY if old_by == "decision" and renamed else WHY_DECISION
    if old_by == "decision":
        return WHY_DECISION_GONE
    return WHY_TAXONOMY if renamed else WHY_ANSWERS


def version_diff(*, version, against, limit=DIFF_LIST_LIMIT) -> dict:
    """What changed from ``against`` (the older side) to ``version``.

    Answers ``{"from", "to", "added": [{"item", "label"}], "removed": [{"item", "label"}], "relabeled":
    [{"item", "from", "to", "why"}], "n_added", "n_removed", "n_relabeled", "why", "resplit", "truncated",
    "classes": [{"class", "before", "after", "change"}]}``. Items are compared by id; a label of ``null`` is
    a "needs review" row. Each list holds at most ``limit`` rows (in item order; ``truncated`` says so); the
    counts are always complete. Transcription projects get no per-class counts.

    A relabeled row's ``why``: ``decision`` (an SME decision ships in ``version``), ``decision_gone`` (one
    shipped in ``against`` no longer does: withdrawn, or the recipe leaves decisions out), ``taxonomy`` (a
    class renamed or merged between the two builds, or such a change undone, reads the same answers, or the
    same decision, as another class) or
    ``answers`` (the labelers' answers, or how the recipe resolves them, changed). The top-level ``why``
    counts every relabeled row by it.
    """
    old = _artifact(against, "parquet").name
    new = _artifact(version, "parquet").name
    d = _diff_arrays(old, new, resolved=True)
    names = d["names"]

    shapes = is_shape_project(version.project)

    def name(code):
        if code < 0:
            return None
        return json.loads(names[code]) if shapes else names[code]

    b_items, b_lab = d["b"]
    a_items, a_lab = d["a"]
    added = d["added"][:limit]
    removed = d["removed"][:limit]
    added_labels = b_lab[np.searchsorted(b_items, added)] if len(added) else np.zeros(0, np.int64)
    removed_labels = a_lab[np.searchsorted(a_items, removed)] if len(removed) else np.zeros(0, np.int64)
    moved, before, after = (x[:limit] for x in d["relabeled"])
    transcription = version.project.task_type == TaskType.TRANSCRIPTION
    whys = _relabel_reasons(version, against, d)
    out = {
        "from": against.number,
        "to": version.number,
        "added": [
            {"item": int(i), "label": name(c)} for i, c in zip(added.tolist(), added_labels.tolist(), strict=True)
        ],
        "removed": [
            {"item": int(i), "label": name(c)} for i, c in zip(removed.tolist(), removed_labels.tolist(), strict=True)
        ],
        "relabeled": [
            {"item": int(i), "from": name(x), "to": name(y), "why": why}
            for i, x, y, why in zip(moved.tolist(), before.tolist(), after.tolist(), whys[:limit], strict=True)
        ],
        "n_added": len(d["added"]),
        "n_removed": len(d["removed"]),
        "n_relabeled": len(d["relabeled"][0]),
        "why": {reason: n for reason in WHY_ORDER if (n := whys.count(reason))},
        "resplit": d["resplit"],
        "truncated": any(len(x) > limit for x in (d["added"], d["removed"], d["relabeled"][0])),
    }
    if shapes:
        out["shapes"] = shape_changes(old=old, new=new, kind=SHAPE_TASKS[version.project.task_type][1])
        out["classes"] = _shape_class_counts(a_lab, b_lab, names, SHAPE_TASKS[version.project.task_type][1])
    elif not transcription:
        before_counts = _class_counts(a_lab, names)
        after_counts = _class_counts(b_lab, names)
        out["classes"] = [
            {"class": n, "before": b, "after": a, "change": a - b}
            for n in names
            for b, a in [(before_counts[n], after_counts[n])]
        ]
    return out


def _relabel_reasons(version, against, d) -> list[str]:
    """``_why`` of each relabeled row of the diff ``d`` (from ``against``'s manifest to ``version``'s, read
    with ``resolved``), in its order."""
    items, before, after = d["relabeled"]
    if not len(items):
        return []
    names = d["names"]
    old_by, new_by = d["relabeled_by"]
    earlier, later = sorted((against.created, version.created))
    added, undone = _taxonomy_between(version.project, earlier, later)
    # ``added`` leads from the older build's classes to the newer's, ``undone`` from the newer's to the
    # older's: ``against`` (the "from" side) is most often the older.
    forward, backward = (added, undone) if against.created <= version.created else (undone, added)
    return [
        _why(names[a] if a >= 0 else None, names[b] if b >= 0 else None, ob, nb, forward, backward)
        for a, b, ob, nb in zip(before.tolist(), after.tolist(), old_by, new_by, strict=True)
    ]


def version_manifest_chunks(*, version, chunk=64 * 1024):
    """The canonical manifest's bytes (JSON Lines) in chunks, for a streamed response."""
    artifact = _artifact(version, "jsonl")
    with default_storage.open(artifact.name, "rb") as handle:
        while block := handle.read(chunk):
            yield block


def artifact_for(*, version, fmt):
    """The version's artifact of format ``fmt``, or None."""
    return _artifact(version, fmt)


ADDED_RECIPE_FIELDS = {"splits.group_by": ""}  # recipe fields (dotted) older stored recipes lack: defaults


def recipe_changes(*, old, new) -> list[dict]:
    """The recipe fields that differ between two stored recipes, as ``[{"field", "before", "after"}]``
    sorted by field; nested fields are dotted (``filters.tags``, ``splits.train``)."""

    def flat(value, prefix=""):
        out = {}
        for key, item in (value or {}).items():
            if isinstance(item, dict) and item and key != "class_map":
                out.update(flat(item, f"{prefix}{key}."))
            else:
                out[f"{prefix}{key}"] = item
        return out

    # A field added after versions were stored: its absence from an older recipe means its default
    # (that version was built without it), not a change.
    a, b = {**ADDED_RECIPE_FIELDS, **flat(old)}, {**ADDED_RECIPE_FIELDS, **flat(new)}
    return [
        {"field": key, "before": a.get(key), "after": b.get(key)}
        for key in sorted(set(a) | set(b))
        if a.get(key) != b.get(key)
    ]
