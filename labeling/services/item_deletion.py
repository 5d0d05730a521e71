"""Deleting items, for managers: an import of the wrong folder, a data source whose licence was revoked.

An item goes with everything that is about it: its answers (current, superseded and archived by
campaigns), its skips, SME decisions, guideline examples, embeddings and predictions, its campaign and
tag links; a queue hold on it is released. Its stored file goes too, through the storage, once the
deletion commits and no item of the project holds the same content (``projects.item_deleted``).

Dataset versions are immutable and their manifests name items (their files are served from
``/api/items/<id>/file``). Deleting an item a version holds is refused (``VersionsHoldItems``, naming the
versions and how many of the items each holds) unless the request says ``purge`` (a privacy or licence
removal): then the items go anyway and their content leaves those versions too
(``labeling.services.version_purge``): each version's manifests and raw answers are rewritten without their
rows (its checksums, row counts, content hash, counts and diff updated), its media archives and
file-named formats (imagefolder, audiofolder, coco, yolo, rttm) removed, and its ``info["purged"]`` records
the purge: the item ids (for the 410 below; the API shows only how many), when, by whom, which files were
rewritten or removed, the rows dropped and the content hash before. A rewrite that fails refuses the
whole deletion (``PurgeRewriteFailed``), the old files untouched. A download of a purged item's file
answers 410 naming it as purged. A version that left a deleted item out (a tie, unlabeled) and names it
in its ``left_out_items`` no longer counts it there (``_left_out_forget``), purge or not. Which versions
hold the items is read from each version's Parquet manifest, its ``item`` column only, one row group at a
time: a version of millions of items is never loaded whole. The Django admin's deletion goes through
``items_delete`` too, never purging, and queues ``items_delete_start``'s job over ``REQUEST_ITEMS`` items
(``labeling.admin``).

A selection of up to ``REQUEST_ITEMS`` items is deleted in the request; a larger one runs as a job on the
worker (``items_delete_run``), whose error says which versions refused it. So does a purge whose versions
hold more than ``REWRITE_IN_REQUEST`` manifest rows between them (``runs_as_job``): rewriting them takes
longer than a request should. While a version build is under
way the deletion is refused (``BuildUnderWay``): the build read its snapshot before, and would publish a
version naming the deleted items without recording their purge.
"""

import logging

import numpy as np
from django.contrib.admin.models import DELETION, LogEntry
from django.core.exceptions import ValidationError
from django.core.files.storage import FileSystemStorage, default_storage
from django.db import NotSupportedError, transaction
from django.db.models import Count, Func, JSONField, Q, Value
from django.utils import timezone

from labeling.choices import JobKind
from labeling.models import (
    Annotation,
    AnnotationRevision,
    ArchivedAnnotation,
    Campaign,
    DatasetVersion,
    Decision,
    GuidelineExample,
    Item,
    Job,
    Membership,
    VersionArtifact,
)
from labeling.services import jobs
from labeling.services.campaigns import MAX_ITEMS, campaign_items_for
from labeling.services.jobs import JobBeat, job_claim, job_finish, project_lock, under_way
from labeling.services.version_purge import (
    PurgeRewriteFailed,
    files_delete,
    left_out_without,
    purge_plan,
    stored_under,
    version_rewrite,
)
from labeling.services.versions import diff_summary, version_event_payload
from labeling.services.webhooks import webhooks_notify

logger = logging.getLogger(__name__)

REQUEST_ITEMS = 1000  # a selection this size or smaller is deleted in the request; a larger one by a job
REWRITE_IN_REQUEST = 200_000  # manifest rows a purge rewrites in the request; more, and a job does it
BATCH = 1000  # items deleted per statement batch
SELECTIONS = ("items", "filter", "import_job")


class VersionsHoldItems(Exception):
    """Ready versions hold some of the items: deleting them would break those versions."""

    def __init__(self, holding):
        self.holding = holding
        listed = ", ".join(f"v{h['version']} holds {h['items']:,}" for h in holding)
        super().__init__(
            f"dataset versions hold some of these items ({listed}); versions are immutable, so nothing was "
            'deleted. Leave those items out, or send "purge": true to delete them anyway (privacy or licence '
            "removal): their rows are then removed from each version's files, and their files answer 410"
        )


class BuildUnderWay(Exception):
    """A dataset version is being built: its snapshot may hold the items, and it would publish a version
    naming items that are gone, with no record of their purge."""

    def __init__(self, job):
        self.job = job
        super().__init__(
            f"a dataset version is being built (job {job.pk}); its manifest may name these items, so nothing "
            "was deleted: delete them once it has finished"
        )


# --- the selection ---------------------------------------------------------------------------------------


def deletion_selection(*, project, data) -> list[int]:
    """The ids of the project's items that a request names: exactly one of ``items`` (ids, each the
    project's), ``filter`` (the campaign filter: class, tag, labeler, disagreement, source, items,
    skipped; and ``label``, the imported label, as the item browser filters) or ``import_job`` (the items that import
    made). ValidationError naming the field otherwise."""
    given = [name for name in SELECTIONS if name in data and data[name] is not None]
    if len(given) != 1:
        raise ValidationError({"items": "give exactly one of items (ids), filter (an object) or import_job (a job id)"})
    (name,) = given
    value = data[name]
    if name == "items":
        if not isinstance(value, list):
            raise ValidationError({"items": "a list of item ids"})
        ids = campaign_items_for(project=project, item_ids=value)
    elif name == "filter":
        if not isinstance(value, dict):
            raise ValidationError({"filter": 'an object such as {"tag": "night"}'})
        value = dict(value)
        label = value.pop("label", None)
        ids = campaign_items_for(project=project, filter=value)
        if label not in (None, ""):
            ids = sorted(Item.objects.filter(pk__in=ids, label=str(label)).values_list("pk", flat=True))
    else:
        try:
            job_id = int(value)
        except (TypeError, ValueError):
            raise ValidationError({"import_job": f"'{value}' is not a job id"}) from None
        if not Job.objects.filter(pk=job_id, project=project, kind=JobKind.IMPORT).exists():
            raise ValidationError({"import_job": f"no import {job_id} in this project"})
        ids = list(Item.objects.filter(project=project, import_job_id=job_id).values_list("pk", flat=True))
    ids = sorted(set(ids))
    if len(ids) > MAX_ITEMS:
        raise ValidationError({name: f"{len(ids):,} items, over the limit of {MAX_ITEMS:,} per deletion"})
    return ids


def _batches(ids, size=BATCH):
    for start in range(0, len(ids), size):
        yield ids[start : start + size]


# --- which versions hold them ------------------------------------------------------------------------------


def _manifest_items_in(name, wanted: np.ndarray) -> np.ndarray:
    """The ids of ``wanted`` (sorted) that the stored Parquet manifest ``name`` holds, read one row group
    of its ``item`` column at a time."""
    import pyarrow.parquet as pq

    found = []

    def scan(source):
        for batch in pq.ParquetFile(source).iter_batches(columns=["item"], batch_size=65536):
            column = batch.column(0).to_numpy(zero_copy_only=False)
            found.append(column[np.isin(column, wanted, assume_unique=False)])

    if isinstance(default_storage, FileSystemStorage):
        scan(default_storage.path(name))
    else:
        with default_storage.open(name, "rb") as handle:
            scan(handle)
    return np.unique(np.concatenate(found)) if found else np.zeros(0, dtype=np.int64)


def versions_holding(*, project, item_ids, after=0) -> list[dict]:
    """The project's versions (numbered over ``after``) whose manifest holds some of ``item_ids``, oldest
    first: ``{"version": number, "items": how many, "item_ids": [ids], "rewrite": [formats], "remove":
    [formats]}`` (what a purge would do to its files: ``version_purge.purge_plan``)."""
    if not item_ids:
        return []
    wanted = np.array(sorted(item_ids), dtype=np.int64)
    holding = []
    # their info left unread: it holds the ids of the items purged from them, maybe 200,000
    versions = DatasetVersion.objects.filter(project=project, number__gt=after).defer("info")
    for version in versions.prefetch_related("artifacts").order_by("number"):
        artifacts = version.artifacts.all()
        parquet = next((a for a in artifacts if a.format == "parquet"), None)
        if parquet is None:
            continue
        held = _manifest_items_in(parquet.name, wanted)
        if len(held):
            holding.append(
                {"version": version.number, "items": len(held), "item_ids": held.tolist(), **purge_plan(artifacts)}
            )
    return holding


def purged_version_of(*, user, item_id):
    """A version of the user's projects that records ``item_id`` as purged (the latest), and that purge's
    record without its item ids (``{"at", "by", "rows", ...}``); or None. The database finds both
    (``PurgeNaming``): neither the version's ``info`` nor any purge's ids (maybe 200,000, and a trainer
    pulling an old manifest asks for each of their files) reach this process. On PostgreSQL a JSON
    containment (``info @> {"purged": [{"items": [id]}]}``) narrows the versions first."""
    if item_id is None:
        return None
    projects = Membership.objects.filter(user=user).values("project_id")
    versions = DatasetVersion.objects.filter(project_id__in=projects, info__has_key="purged")
    versions = versions.defer("info").annotate(purge=PurgeNaming(item_id))
    try:
        version = versions.filter(info__contains={"purged": [{"items": [item_id]}]}).order_by("-created").first()
    except NotSupportedError:  # SQLite: no JSON containment
        version = versions.filter(purge__isnull=False).order_by("-created").first()
    if version is None:
        return None
    return version, version.purge


class PurgeNaming(Func):
    """The first purge of a version's ``info["purged"]`` whose item ids hold ``item_id``, without its ids;
    NULL when none does. PostgreSQL and SQLite."""

    output_field = JSONField()

    def __init__(self, item_id, expression="info", **extra):
        super().__init__(expression, Value(int(item_id)), **extra)

    def as_postgresql(self, compiler, connection, **extra):
        info, params = compiler.compile(self.source_expressions[0])
        item, item_params = compiler.compile(self.source_expressions[1])
        sql = (
            f"(SELECT p - 'items' FROM jsonb_array_elements(CASE WHEN jsonb_typeof({info} -> 'purged') = 'array' "
            f"THEN {info} -> 'purged' ELSE '[]'::jsonb END) WITH ORDINALITY AS purge(p, n) "
            f"WHERE jsonb_typeof(p -> 'items') = 'array' AND p -> 'items' @> to_jsonb({item}::bigint) "
            "ORDER BY n LIMIT 1)"
        )
        return sql, (*params, *params, *params, *item_params)

    def as_sqlite(self, compiler, connection, **extra):
        info, params = compiler.compile(self.source_expressions[0])
        item, item_params = compiler.compile(self.source_expressions[1])
        sql = (
            "(SELECT json_remove(purge.value, '$.items') FROM json_each(CASE WHEN json_type("
            f"{info}, '$.purged') = 'array' THEN {info} ELSE '{{\"purged\": []}}' END, '$.purged') AS purge "
            "WHERE json_type(purge.value, '$.items') = 'array' AND EXISTS (SELECT 1 FROM "
            f"json_each(purge.value, '$.items') AS id WHERE id.type = 'integer' AND id.value = {item}) "
            "ORDER BY purge.key LIMIT 1)"
        )
        return sql, (*params, *params, *item_params)


# --- preview and deletion ----------------------------------------------------------------------------------


def deletion_preview(*, project, item_ids) -> dict:
    """What deleting ``item_ids`` would take, changing nothing: items, answers (current), archived answers,
    SME decisions, the campaigns holding them, the versions whose manifests name them (with what a purge
    would do to each one's files: ``rewrite`` and ``remove``, formats), and the version build under way
    (its job id), which would refuse the deletion now."""
    holding = versions_holding(project=project, item_ids=item_ids)
    building = _build_under_way(project)
    return {
        **_counts(project, item_ids, holding),
        "runs_as_job": runs_as_job(project=project, item_ids=item_ids, purge=True, holding=holding),
        "build_under_way": building.pk if building else None,
    }


def deletion_counts(*, project, item_ids) -> dict:
    """What deleting ``item_ids`` takes, as the preview counts it (items, answers, answer_revisions,
    archived_answers, decisions, campaigns, guideline_examples), without reading the versions' manifests
    (``versions`` is empty): the admin's confirmation, once ``deletion_check`` has passed. A few counting
    queries per 10,000 items, whatever the items' answers: no row is loaded."""
    return _counts(project, item_ids, [])


def deletion_check(*, project, item_ids):
    """Raise what deleting ``item_ids`` without a purge would raise now, deleting nothing: BuildUnderWay,
    or VersionsHoldItems naming the versions (the admin asks before it shows its confirmation page;
    ``items_delete`` asks again under the project's lock)."""
    building = _build_under_way(project)
    if building is not None:
        raise BuildUnderWay(building)
    holding = versions_holding(project=project, item_ids=item_ids)
    if holding:
        raise VersionsHoldItems(holding)


def runs_as_job(*, project, item_ids, purge, holding=None) -> bool:
    """Whether deleting ``item_ids`` runs as a job: over REQUEST_ITEMS items, or a purge whose versions hold
    over REWRITE_IN_REQUEST manifest rows between them (their files are rewritten). ``holding``: the
    versions holding the items, when read already; read only when the project's versions are that large."""
    if len(item_ids) > REQUEST_ITEMS:
        return True
    if not purge:
        return False
    rows = VersionArtifact.objects.filter(version__project=project, format="parquet")
    if sum(rows.values_list("n_rows", flat=True)) <= REWRITE_IN_REQUEST:
        return False
    if holding is None:
        holding = versions_holding(project=project, item_ids=item_ids)
    numbers = [h["version"] for h in holding]
    return sum(rows.filter(version__number__in=numbers).values_list("n_rows", flat=True)) > REWRITE_IN_REQUEST


def _build_under_way(project):
    return Job.objects.filter(project=project, kind=JobKind.VERSION).filter(under_way()).first()


def _counts(project, item_ids, holding) -> dict:
    counts = {"items": len(item_ids), "answers": 0, "answer_revisions": 0, "archived_answers": 0, "decisions": 0}
    campaigns, examples = {}, {}
    for batch in _batches(item_ids, 10000):
        # a guideline's canonical examples go with their items: the published guideline loses them
        for version, n in (
            GuidelineExample.objects.filter(item_id__in=batch)
            .order_by()
            .values_list("guideline__version")
            .annotate(n=Count("id"))
        ):
            examples[version] = examples.get(version, 0) + n
        counts["answers"] += Annotation.objects.filter(item_id__in=batch).count()
        counts["answer_revisions"] += AnnotationRevision.objects.filter(annotation__item_id__in=batch).count()
        counts["archived_answers"] += ArchivedAnnotation.objects.filter(item_id__in=batch).count()
        counts["decisions"] += Decision.objects.filter(item_id__in=batch).count()
        for pk, name, n in (
            Campaign.objects.filter(project=project, items__in=batch)
            .values_list("pk", "name")
            .annotate(n=Count("items"))
        ):
            entry = campaigns.setdefault(pk, {"id": pk, "name": name, "items": 0})
            entry["items"] += n
    return {
        **counts,
        "campaigns": sorted(campaigns.values(), key=lambda c: c["id"]),
        "guideline_examples": [{"guideline": v, "examples": n} for v, n in sorted(examples.items())],
        "versions": [
            {"version": h["version"], "items": h["items"], "rewrite": h["rewrite"], "remove": h["remove"]}
            for h in holding
        ],
    }


def _delete_batch(ids):
    # The answers first, with plain DELETEs: deleting the items alone made Django load every answer row to
    # find its revisions.
    AnnotationRevision.objects.filter(annotation__item_id__in=ids).delete()
    answers = Annotation.objects.filter(item_id__in=ids)
    answers._raw_delete(answers.db)
    # The rest cascades; each item row is loaded once for its post_delete (its stored file).
    Item.objects.filter(pk__in=ids).delete()


def items_delete(*, project, item_ids, purge=False, user=None, beat=None) -> dict:
    """Delete the project's items ``item_ids`` with what is about them; answer what was deleted (the
    preview's counts). VersionsHoldItems, deleting nothing, when a version holds some of them and
    ``purge`` is not set; with it, each such version's files are rewritten without them and the purge is
    recorded in its ``info`` (PurgeRewriteFailed, deleting nothing, when a file cannot be rewritten)."""
    seen = DatasetVersion.objects.filter(project=project).order_by("-number").values_list("number", flat=True).first()
    holding = versions_holding(project=project, item_ids=item_ids)
    if holding and not purge:
        raise VersionsHoldItems(holding)
    now = timezone.now().isoformat()
    rewrites = []
    try:
        with transaction.atomic():
            # A build publishes under this lock; one under way read its snapshot before this deletion commits.
            project_lock(project.pk)
            building = _build_under_way(project)
            if building is not None:
                raise BuildUnderWay(building)
            # a build that published after the manifests were read (and so is no longer under way)
            holding += versions_holding(project=project, item_ids=item_ids, after=seen or 0)
            if holding and not purge:
                raise VersionsHoldItems(holding)
            result = _counts(project, item_ids, holding)
            for entry in holding:
                version = (
                    DatasetVersion.objects.select_for_update()
                    .prefetch_related("artifacts")
                    .get(project=project, number=entry["version"])
                )
                if beat is not None:
                    beat.set(phase=f"rewriting version {version.number} without the purged items")
                rewrites.append(version_rewrite(version=version, item_ids=entry["item_ids"]))
            if beat is not None and rewrites:
                beat.set(phase="deleting")
            done = 0
            for batch in _batches(item_ids):
                _delete_batch(batch)
                done += len(batch)
                if beat is not None:
                    beat.set(processed=done)
            for rewrite, entry in zip(rewrites, holding, strict=True):
                _record_purge(rewrite, item_ids=entry["item_ids"], at=now, by=getattr(user, "username", ""))
                _purge_announce(rewrite, items=len(entry["item_ids"]), at=now, by=getattr(user, "username", ""))
            _left_out_forget(project, item_ids)
            _changes_update(project, {r.version.pk for r in rewrites})
            old = [name for r in rewrites for name in r.old]
            if old:  # the superseded files hold the purged items' content: gone once the deletion holds
                transaction.on_commit(lambda: files_delete(old))
    except BaseException:
        for rewrite in rewrites:  # the new files: the versions' rows still name the old ones
            files_delete(rewrite.new)
        raise
    result["purged"] = bool(holding)
    logger.info("deleted %s items of project %s (%s answers)", len(item_ids), project.pk, result["answers"])
    return result


def _left_out_forget(project, item_ids):
    """The project's versions that name some of the deleted ``item_ids`` as left out (a tie, unlabeled...)
    no longer count them (``version_purge.left_out_without``): their counts describe items that exist."""
    gone = set(item_ids)
    for pk, counts in DatasetVersion.objects.filter(project=project).values_list("pk", "counts"):
        named = (counts or {}).get("left_out_items") or {}
        if any(i in gone for ids in named.values() for i in ids):
            DatasetVersion.objects.filter(pk=pk).update(counts=left_out_without(counts, gone))


def _record_purge(rewrite, *, item_ids, at, by):
    """Store a version's rewritten files on it (artifacts, content hash, counts) and the purge in its info."""
    version = rewrite.version
    info = dict(version.info or {})
    info["purged"] = [*info.get("purged", []), {"items": list(item_ids), "at": at, "by": by, **_applied(rewrite)}]
    _store_rewrite(rewrite, info)


def _purge_announce(rewrite, *, items, at, by, applied=None):
    """The "version.purged" webhook of a rewritten version, sent once the deletion commits: a trainer or a
    pipeline that keeps a copy of the version (its manifest, its archives) learns that rows were taken out
    (a privacy or licence removal), which content hash and files replace the old ones, and which formats
    are gone, so it can delete its copy and download the version again. ``applied``: when
    ``purge_versions`` rewrote a purge recorded earlier."""
    version = DatasetVersion.objects.prefetch_related("artifacts").get(pk=rewrite.version.pk)
    purge = {"items": items, "at": at, "by": by, **_applied(rewrite)}
    if applied:
        purge["applied"] = applied
    webhooks_notify(
        project=version.project,
        event="version.purged",
        payload={**version_event_payload(version=version), "purge": purge},
    )


def _applied(rewrite, item_ids=None) -> dict:
    """What a purge did to a version's files, as its record in ``info["purged"]`` says it (the rows of
    ``item_ids`` only, when given)."""
    rows = rewrite.rows if item_ids is None else len(rewrite.dropped_items & set(item_ids))
    return {
        "rows": rows,
        "rewritten": sorted(rewrite.artifacts),
        "removed": rewrite.removed,
        "content_hash_before": rewrite.version.content_hash,
    }


def _store_rewrite(rewrite, info):
    version = rewrite.version
    DatasetVersion.objects.filter(pk=version.pk).update(
        info=info, counts=rewrite.counts, content_hash=rewrite.content_hash
    )
    for fmt, fields in rewrite.artifacts.items():
        VersionArtifact.objects.filter(version=version, format=fmt).update(**fields)
    VersionArtifact.objects.filter(version=version, format__in=rewrite.removed).delete()


def purges_pending() -> list:
    """The versions with purges recorded before purges rewrote the files (no ``rows`` in their record):
    their files still hold the purged items' content."""
    versions = DatasetVersion.objects.filter(info__has_key="purged").order_by("project_id", "number")
    return [v for v in versions if any(p.get("rows") is None for p in v.info.get("purged", []))]


def purge_leftovers_delete(*, version) -> list[str]:
    """Delete the files under a purged version's storage folder that none of its artifacts names: the
    files a purge superseded, when deleting them after the commit failed (they hold the purged items'
    content), or a failed rewrite's new files. Under the project's lock, so that a purge writing its new
    files meanwhile is not robbed of them. Answers the names deleted."""
    with transaction.atomic():
        project_lock(version.project_id)
        kept = set(VersionArtifact.objects.filter(version=version).values_list("name", flat=True))
        stray = [name for name in stored_under(version.storage_prefix) if name not in kept]
        files_delete(stray)
    return stray


def purges_apply(*, version) -> int:
    """Rewrite ``version``'s files without the items of its purges recorded before purges rewrote files, as
    a purge now does (``version_purge``); answer the rows dropped. PurgeRewriteFailed leaves it as it was."""
    rewrite = None
    try:
        with transaction.atomic():
            project_lock(version.project_id)
            version = DatasetVersion.objects.select_for_update().prefetch_related("artifacts").get(pk=version.pk)
            info = dict(version.info or {})
            pending = [p for p in info.get("purged", []) if p.get("rows") is None]
            if not pending:
                return 0
            ids = sorted({i for p in pending for i in p.get("items", [])})
            rewrite = version_rewrite(version=version, item_ids=ids)
            now = timezone.now().isoformat()
            info["purged"] = [
                {**p, **_applied(rewrite, p.get("items", [])), "applied": now} if p.get("rows") is None else p
                for p in info["purged"]
            ]
            _store_rewrite(rewrite, info)
            _purge_announce(
                rewrite, items=len(ids), at=pending[-1].get("at", ""), by=pending[-1].get("by", ""), applied=now
            )
            _changes_update(version.project, {version.pk})
            transaction.on_commit(lambda: files_delete(rewrite.old))
    except BaseException:
        if rewrite is not None:
            files_delete(rewrite.new)
        raise
    return rewrite.rows


def _changes_update(project, rewritten):
    """The diff summaries against the parent of the rewritten versions and of their children."""
    if not rewritten:
        return
    versions = (
        DatasetVersion.objects.filter(project=project)
        .filter(Q(pk__in=rewritten) | Q(parent_id__in=rewritten))
        .exclude(parent=None)
        .select_related("parent")
    )
    names = dict(
        VersionArtifact.objects.filter(version__project=project, format="parquet").values_list("version_id", "name")
    )
    for version in versions:
        if version.pk in names and version.parent_id in names:
            changes = diff_summary(old=names[version.parent_id], new=names[version.pk], project=project)
            DatasetVersion.objects.filter(pk=version.pk).update(changes=changes)


# --- as a job ----------------------------------------------------------------------------------------------


def items_delete_start(*, project, user, item_ids, purge=False, admin_history=False) -> Job:
    """Queue the deletion of ``item_ids`` (a job on the worker). With ``admin_history`` (the admin's "delete
    selected"), the items deleted are recorded in the admin's history as its own deletions are."""
    params = {"items": list(item_ids), "purge": bool(purge)}
    if admin_history:
        params["admin_history"] = True
    with transaction.atomic():
        return jobs.job_start(kind=JobKind.DELETION, project=project, user=user, params=params, total=len(item_ids))


def _admin_history_record(*, job, item_ids):
    """One admin history entry per item ``job`` is deleting, by the user who queued it, as Django's admin
    writes for a deletion in the request: in the deletion's transaction, so it stands only if the items go."""
    for batch in _batches(item_ids):
        LogEntry.objects.log_actions(
            user_id=job.created_by_id,
            queryset=Item.objects.filter(pk__in=batch).only("pk", "original_name"),
            action_flag=DELETION,
            change_message=f"Deleted by deletion job {job.pk}, queued from the admin.",
        )


def items_delete_run(*, job_id):
    """Run a queued deletion job (called by the worker). The items are those named when it was queued
    that still exist; a version holding some of them, without ``purge``, fails it naming the versions."""
    if not Job.objects.filter(pk=job_id, kind=JobKind.DELETION).exists():
        return None
    job = job_claim(job_id=job_id)
    if job is None:
        return None
    attempt = job.attempts
    ids = sorted(
        Item.objects.filter(project_id=job.project_id, pk__in=job.params.get("items", [])).values_list("pk", flat=True)
    )
    try:
        # the beat (its own connection) shows progress and keeps a long deletion from looking dead
        with JobBeat(job) as beat:
            beat.set(total=len(ids), phase="deleting")
            with transaction.atomic():
                if job.params.get("admin_history") and job.created_by_id is not None:
                    _admin_history_record(job=job, item_ids=ids)
                result = items_delete(
                    project=job.project,
                    item_ids=ids,
                    purge=job.params.get("purge", False),
                    user=job.created_by,
                    beat=beat,
                )
    except VersionsHoldItems as exc:
        job.result = {"versions": [{"version": h["version"], "items": h["items"]} for h in exc.holding]}
        return job_finish(job=job, result=job.result, error=str(exc), attempt=attempt)
    except (BuildUnderWay, PurgeRewriteFailed) as exc:
        return job_finish(job=job, error=str(exc), attempt=attempt)
    except Exception as exc:
        logger.exception("item deletion %s failed", job_id)
        return job_finish(job=job, error=f"deletion failed: {exc.__class__.__name__}: {exc}", attempt=attempt)
    job.processed = len(ids)
    # under "deleted": a job's result.items is an import's list of ids, left out of polls (api/jobs.py)
    return job_finish(job=job, result={"deleted": result}, attempt=attempt)
