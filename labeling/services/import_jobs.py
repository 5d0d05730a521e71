"""Manifest and archive imports as background jobs.

A job imports its upload chunk by chunk, each chunk all or nothing (``labeling.services.imports``), and
beats a heartbeat while it runs. When an attempt fails (its database connection died, its worker was
killed), the job can be run again — a redelivered message reclaims it, or ``import_job_retry`` queues
it once it has failed or been silent for ``LABELHUB_JOB_STALE_SECONDS``: the new attempt reads the
upload again, skips what earlier attempts stored (counting it as imported, never as duplicates) and
finishes the rest. The upload is kept until the job succeeds.
"""

import hashlib
import io
import logging
import re
import uuid
import zipfile

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files.storage import default_storage
from django.db import DatabaseError, connection, transaction

from labelhub.deadlocks import BatchNotSaved
from labeling.choices import JobKind, JobStatus
from labeling.inputs import InputRejected, text_not_utf8
from labeling.models import Job
from labeling.services import imports, label_imports
from labeling.services.jobs import (
    JobBeat,
    JobNotRetryable,
    job_add_errors,
    job_claim,
    job_finish,
    job_retry_stale,
    job_start,
    project_lock,
    under_way,
)

logger = logging.getLogger(__name__)

MAX_LISTED = 1000  # ids and duplicates listed in a job's result; counts are always complete


def import_job_create(
    *, project, user, upload, tags=(), source=None, label_from_folder=False, fmt="", labeler="", images_without_boxes=""
) -> Job:
    """Store an uploaded manifest or zip archive and queue a job that imports it; answer the job (the
    import of the same upload still queued or running, if any: see ``import_job_request``). With ``fmt``
    (coco, yolo, label_studio, segments_csv, rttm, cvat, voc, huggingface) the upload is a labels file (or a
    zip with one and its media) whose labels become answers (``labeling.services.label_imports``); raises
    ValidationError when it cannot fit, and when a segments file (segments_csv, rttm) has a bad line, naming each."""
    return import_job_request(
        project=project,
        user=user,
        upload=upload,
        tags=tags,
        source=source,
        label_from_folder=label_from_folder,
        fmt=fmt,
        labeler=labeler,
        images_without_boxes=images_without_boxes,
    )[0]


def import_job_request(
    *, project, user, upload, tags=(), source=None, label_from_folder=False, fmt="", labeler="", images_without_boxes=""
) -> tuple[Job, bool]:
    """Like ``import_job_create``, answering ``(job, started)``: ``started`` is False when the same user's
    import of the same upload into the project, with the same options, was still queued or running (its
    worker alive: see ``labeling.services.jobs.under_way``), whose job is answered instead and nothing is
    stored.

    The same upload: the same file name and SHA-256 of its bytes; the same options: tags, source, label
    from folder, format, labeler and images without boxes. A client whose answer to an import was lost (a
    timeout on a large upload) sends it again; each request queued a job of its own, and the second one read
    the whole file again only to count every item as a duplicate (or, for labels, every answer as
    unchanged). Once the first job has finished, the same request queues a new import, as before. The
    project row is locked while looking (NO KEY: reservations referencing it are not held up), so two
    identical requests at once (a double click) still queue one job; the upload is stored before, outside
    the lock, and removed again when another request's job is answered.
    """
    if fmt:
        labels = label_imports.label_import_check(
            project=project,
            fmt=fmt,
            labeler=labeler,
            label_from_folder=label_from_folder,
            images_without_boxes=images_without_boxes,
        )
    else:
        label_imports.images_without_boxes_check(project=project, fmt=fmt, value=images_without_boxes)
        labels = {}
    limit = settings.LABELHUB_MAX_IMPORT_BYTES
    if upload.size > limit:
        raise ValidationError({"file": f"the upload is {upload.size:,} bytes, over the import limit of {limit:,}"})
    if upload.size == 0:
        raise ValidationError({"file": "the upload is empty"})
    params = {
        "filename": upload.name,
        "sha256": _sha256(upload),
        "tags": list(tags),
        "source": source.pk if source else None,
        "label_from_folder": bool(label_from_folder),
        **labels,
    }
    same = _import_under_way(project=project, user=user, params=params)
    if same is not None:  # the retry of a request whose job is queued: nothing stored a second time
        return same, False
    if fmt:  # a segments file's bad lines: a 400 now, nothing stored (a retry above passed this already)
        label_imports.label_import_precheck(project=project, fmt=fmt, upload=upload, labeler=labels["labeler"])
    stored = default_storage.save(f"imports/{uuid.uuid4().hex}/{_stored_name(upload.name)}", upload)
    with transaction.atomic():
        project_lock(project.pk)
        same = _import_under_way(project=project, user=user, params=params)
        if same is None:
            return job_start(kind=JobKind.IMPORT, project=project, user=user, params={"upload": stored, **params}), True
    default_storage.delete(stored)  # the same request, sent at the same moment, queued its job first
    return same, False


def _stored_name(name: str, limit: int = 200) -> str:
    """The upload's file name as kept in storage: at most ``limit`` bytes of UTF-8, its suffix kept. Django
    cuts a name to 255 characters, and 255 accented or CJK ones are over the 255 bytes a file system's name
    holds (a 500, "File name too long"). The job reads the format from the name in its params, untouched."""
    name = name.rsplit("/", 1)[-1]
    if len(name.encode()) <= limit:
        return name
    stem, dot, suffix = name.rpartition(".")
    if not dot or len(suffix.encode()) > 20:
        stem, dot, suffix = name, "", ""
    room = limit - len(dot.encode()) - len(suffix.encode())
    return stem.encode()[:room].decode(errors="ignore") + dot + suffix


def _sha256(upload) -> str:
    digest = hashlib.sha256()
    for chunk in upload.chunks():
        digest.update(chunk)
    upload.seek(0)
    return digest.hexdigest()


def _import_under_way(*, project, user, params) -> Job | None:
    """The user's import of the project with these ``params`` (``upload`` aside) still queued or running,
    newest first; None when there is none. Compared in Python: SQLite cannot test a JSON object's
    containment, and the jobs of one upload's hash are few."""
    candidates = Job.objects.filter(
        under_way(), project=project, kind=JobKind.IMPORT, created_by=user, params__sha256=params["sha256"]
    ).order_by("-created", "-id")
    for job in candidates[:20]:
        if {key: value for key, value in job.params.items() if key != "upload"} == params:
            return job
    return None


# A non-blank line: from a line's start over blank space to a non-blank byte (a match that starts on a
# blank line runs on into the next non-blank one, so each non-blank line is counted once).
_NON_BLANK_LINE = re.compile(rb"^\s*\S", re.MULTILINE)
_NON_BLANK_TEXT_LINE = re.compile(r"^\s*\S", re.MULTILINE)


def _count_lines(handle):
    """Count the non-blank lines, a megabyte at a time (completed to a line end) with one scan each, not
    line by line in Python."""
    count = 0
    while block := handle.read(1 << 20):
        if isinstance(block, str):
            if not block.endswith("\n"):
                block += handle.readline()
            count += len(_NON_BLANK_TEXT_LINE.findall(block))
            continue
        if not block.endswith(b"\n"):
            block += handle.readline()
        count += _non_blank_lines(block)
    return count


def _non_blank_lines(block: bytes) -> int:
    """The non-blank lines of a block of bytes. Without its blank space other than line ends, a block
    with no blank line has no empty one: its line ends are counted (C scans, a third of the regex's
    cost); a block with a blank line is left to the regex."""
    squeezed = block.translate(None, b" \t\r\f\v")  # \s of a bytes pattern, but the line end
    if squeezed and not squeezed.startswith(b"\n") and b"\n\n" not in squeezed:
        return squeezed.count(b"\n") + (not squeezed.endswith(b"\n"))
    return len(_NON_BLANK_LINE.findall(block))


def import_job_run(*, job_id):
    """Run a queued import job (called by the worker). Safe to call twice: only one call claims it."""
    job = job_claim(job_id=job_id)
    if job is None:
        logger.info("import job %s already claimed or finished", job_id)
        return
    attempt = job.attempts
    params = job.params
    project = job.project
    source = project.sources.filter(pk=params.get("source")).first() if params.get("source") else None
    try:
        with JobBeat(job) as beat, default_storage.open(params["upload"], "rb") as handle:
            head = handle.read(4)
            handle.seek(0)
            if params.get("format"):
                report = _run_labels(job=job, handle=handle, source=source, beat=beat)
            elif head.startswith(b"PK"):
                report = _run_archive(job=job, handle=handle, source=source, beat=beat)
            else:
                report = _run_manifest(job=job, handle=handle, source=source, beat=beat)
    except UnicodeDecodeError as exc:
        if params.get("format"):
            error = f"the upload cannot be read: {exc}"
        else:
            # A manifest saved in another encoding (a spreadsheet's cp1252 or UTF-16) is told so, naming its
            # first bad byte; an image, a clip or another binary file picked in the manifest form is sent to
            # Upload files.
            with default_storage.open(params["upload"], "rb") as handle:
                error = text_not_utf8(handle, params.get("filename") or "the manifest") or (
                    "the file is neither a zip archive nor a manifest (JSON Lines or CSV, in UTF-8): images, audio "
                    "clips and text files are imported one by one under Upload files"
                )
            # the total _run_manifest set counted lines of bytes that are no manifest ("failed: 0 / 219360")
            job.total = None
        job_finish(job=job, error=error, attempt=attempt)
        return
    except (InputRejected, zipfile.BadZipFile) as exc:
        job_finish(job=job, error=f"the upload cannot be read: {exc}", attempt=attempt)
        return
    except BatchNotSaved as exc:
        logger.warning("import job %s: %s", job_id, exc)
        job_finish(job=job, error=str(exc), attempt=attempt)
        return
    except Exception as exc:
        logger.exception("import job %s failed", job_id)
        _record_failure(job=job, attempt=attempt, error=f"import failed: {exc.__class__.__name__}: {exc}")
        raise
    job_add_errors(job=job, errors=report.rejected)
    job_finish(
        job=job,
        attempt=attempt,
        result={
            "imported": len(report.imported),
            "duplicates": len(report.duplicates),
            "rejected": len(report.rejected),
            "resumed": report.resumed,
            "items": report.imported[:MAX_LISTED],
            "duplicate_items": report.duplicates[:MAX_LISTED],
            **(report.extra() if hasattr(report, "extra") else {}),
        },
    )
    default_storage.delete(params["upload"])


def _record_failure(*, job, attempt, error):
    """Mark the attempt failed; when the failure was the database connection itself, on a new one. If the
    database stays away the job stays running and becomes retryable once its heartbeat is stale."""
    try:
        job_finish(job=job, error=error, attempt=attempt)
        return
    except DatabaseError:
        if connection.in_atomic_block:  # a caller's transaction: not ours to reconnect
            logger.warning("import job %s: could not record the failure", job.pk, exc_info=True)
            return
    connection.close()
    try:
        job_finish(job=job, error=error, attempt=attempt)
    except DatabaseError:
        logger.warning("import job %s: could not record the failure", job.pk, exc_info=True)


def import_job_retry(*, job) -> Job:
    """Queue a failed import again, or one whose worker stopped beating; its items are not imported twice.

    Raises JobNotRetryable when the job is still alive, succeeded, or its upload is gone."""
    if job.kind != JobKind.IMPORT:
        raise JobNotRetryable(f"job {job.pk} is not an import")
    if job.status != JobStatus.SUCCEEDED and not default_storage.exists(job.params.get("upload", "")):
        raise JobNotRetryable(f"the upload of job {job.pk} is no longer stored; import the file again")
    return job_retry_stale(job=job)


def _progress(job, beat):
    def report(done):
        job.processed = done
        beat.set(processed=done)

    return report


def _start(job, beat, total):
    job.processed, job.total = 0, total
    beat.set(processed=0, total=total)


def _run_manifest(*, job, handle, source, beat):
    params = job.params
    fmt = imports.manifest_format(params["filename"], handle.read(64))
    handle.seek(0)
    total = _count_lines(handle) - (1 if fmt == "csv" else 0)
    handle.seek(0)
    _start(job, beat, max(total, 0))
    # Over the stored file itself when it is a plain one: through Django's File, every line read would
    # ask its ``closed`` property (Python code, 100,000 times for a 100,000-line manifest).
    raw = getattr(handle, "file", None)
    text = io.TextIOWrapper(raw if isinstance(raw, io.BufferedReader) else handle, encoding="utf-8-sig", newline="")
    roots = settings.LABELHUB_IMPORT_ROOTS

    def open_path(path):
        if not roots:
            raise imports.InputRejected(
                "a manifest uploaded alone may only hold text; put files and manifest in a zip archive "
                "(or list server folders in LABELHUB_IMPORT_ROOTS)"
            )
        return imports.folder_opener(roots[0], roots)(path)

    report = imports.manifest_import(
        project=job.project,
        stream=text,
        fmt=fmt,
        open_path=open_path,
        tags=params.get("tags", []),
        source=source,
        job=job,
        on_progress=_progress(job, beat),
    )
    # The total was an estimate from the file's lines (a CSV text may span several): every row was
    # imported or reported, so the finished job reads processed == total.
    job.total = job.processed
    return report


def _run_archive(*, job, handle, source, beat):
    params = job.params
    with zipfile.ZipFile(handle) as archive:
        files = [i for i in archive.infolist() if not i.is_dir() and not imports.zip_entry_hidden(i.filename)]
        manifest = next((i for i in files if i.filename in imports.MANIFEST_NAMES), None)
        if manifest:
            if unreadable := imports.zip_member_unreadable(manifest):
                raise InputRejected(unreadable)
            imports.zip_member_check(manifest)
        total = _count_lines(io.TextIOWrapper(archive.open(manifest), encoding="utf-8-sig")) if manifest else len(files)
        _start(job, beat, total)
        entries = imports.zip_entries(
            project=job.project,
            archive=archive,
            tags=params.get("tags", []),
            source=source,
            label_from_folder=params.get("label_from_folder", False),
        )
        report = imports.items_import(project=job.project, entries=entries, job=job, on_progress=_progress(job, beat))
    # Every entry was imported or reported; dataset cards and metadata files counted above were not entries.
    job.total = job.processed
    return report


def _run_labels(*, job, handle, source, beat):
    return label_imports.label_import_run(
        job=job,
        handle=handle,
        source=source,
        on_start=lambda total: _start(job, beat, total),
        on_progress=_progress(job, beat),
    )
