"""Manifest and archive imports as background jobs."""

import io
import logging
import uuid
import zipfile

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files.storage import default_storage

from labeling.choices import JobKind
from labeling.inputs import InputRejected
from labeling.models import Job
from labeling.services import imports
from labeling.services.jobs import (
    job_add_errors,
    job_claim,
    job_create,
    job_enqueue,
    job_finish,
    job_progress,
)

logger = logging.getLogger(__name__)

MAX_LISTED = 1000  # ids and duplicates listed in a job's result; counts are always complete


def import_job_create(*, project, user, upload, tags=(), source=None, label_from_folder=False) -> Job:
    """Store an uploaded manifest or zip archive and queue a job that imports it."""
    from labeling.tasks import import_run  # the task module imports services, not the reverse

    limit = settings.LABELHUB_MAX_IMPORT_BYTES
    if upload.size > limit:
        raise ValidationError({"file": f"the upload is {upload.size:,} bytes, over the import limit of {limit:,}"})
    if upload.size == 0:
        raise ValidationError({"file": "the upload is empty"})
    stored = default_storage.save(f"imports/{uuid.uuid4().hex}/{upload.name.rsplit('/', 1)[-1]}", upload)
    job = job_create(
        kind=JobKind.IMPORT,
        project=project,
        user=user,
        params={
            "upload": stored,
            "filename": upload.name,
            "tags": list(tags),
            "source": source.pk if source else None,
            "label_from_folder": bool(label_from_folder),
        },
    )
    job_enqueue(job=job, task=import_run)
    return job


def _count_lines(handle):
    return sum(1 for line in handle if line.strip())


def import_job_run(*, job_id):
    """Run a queued import job (called by the worker). Safe to call twice: only one call claims it."""
    job = job_claim(job_id=job_id)
    if job is None:
        logger.info("import job %s already claimed or finished", job_id)
        return
    params = job.params
    project = job.project
    source = project.sources.filter(pk=params.get("source")).first() if params.get("source") else None
    try:
        with default_storage.open(params["upload"], "rb") as handle:
            head = handle.read(4)
            handle.seek(0)
            if head.startswith(b"PK"):
                report = _run_archive(job=job, handle=handle, source=source)
            else:
                report = _run_manifest(job=job, handle=handle, source=source)
    except (InputRejected, zipfile.BadZipFile, UnicodeDecodeError) as exc:
        job_finish(job=job, error=f"the upload cannot be read: {exc}")
        return
    except Exception as exc:
        logger.exception("import job %s failed", job_id)
        job_finish(job=job, error=f"import failed: {exc.__class__.__name__}: {exc}")
        raise
    job_add_errors(job=job, errors=report.rejected)
    job_finish(
        job=job,
        result={
            "imported": len(report.imported),
            "duplicates": len(report.duplicates),
            "rejected": len(report.rejected),
            "items": report.imported[:MAX_LISTED],
            "duplicate_items": report.duplicates[:MAX_LISTED],
        },
    )
    default_storage.delete(params["upload"])


def _progress(job):
    return lambda done: job_progress(job=job, processed=done)


def _run_manifest(*, job, handle, source):
    params = job.params
    fmt = imports.manifest_format(params["filename"], handle.read(64))
    handle.seek(0)
    total = _count_lines(handle) - (1 if fmt == "csv" else 0)
    handle.seek(0)
    job_progress(job=job, processed=0, total=max(total, 0))
    text = io.TextIOWrapper(handle, encoding="utf-8-sig", newline="")
    roots = settings.LABELHUB_IMPORT_ROOTS

    def open_path(path):
        if not roots:
            raise imports.InputRejected(
                "a manifest uploaded alone may only hold text; put files and manifest in a zip archive "
                "(or list server folders in LABELHUB_IMPORT_ROOTS)"
            )
        return imports.folder_opener(roots[0], roots)(path)

    entries = imports.manifest_entries(
        project=job.project, stream=text, fmt=fmt, open_path=open_path, tags=params.get("tags", []), source=source
    )
    return imports.items_import(project=job.project, entries=entries, job=job, on_progress=_progress(job))


def _run_archive(*, job, handle, source):
    params = job.params
    with zipfile.ZipFile(handle) as archive:
        files = [i for i in archive.infolist() if not i.is_dir()]
        manifest = next((i for i in files if i.filename in imports.MANIFEST_NAMES), None)
        total = _count_lines(io.TextIOWrapper(archive.open(manifest), encoding="utf-8-sig")) if manifest else len(files)
        job_progress(job=job, processed=0, total=total)
        entries = imports.zip_entries(
            project=job.project,
            archive=archive,
            tags=params.get("tags", []),
            source=source,
            label_from_folder=params.get("label_from_folder", False),
        )
        return imports.items_import(project=job.project, entries=entries, job=job, on_progress=_progress(job))
