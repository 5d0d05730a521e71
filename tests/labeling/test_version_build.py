"""Building dataset versions in-process: labels, splits, flags, decisions, hashes, artifacts."""

import pytest

from tests.labeling.version_helpers import add_texts, answer, build, labelers, manifest, text_project

pytestmark = pytest.mark.django_db


@pytest.fixture
def seeded(manager):
    project = text_project(manager)
    items = add_texts(project, [f"text {i}" for i in range(6)])
    a, b, c = labelers(project, 3)
    # 0: unanimous cat; 1: 2 dog vs 1 cat; 2: tie (cat, dog); 3: no answers; 4: one "other"; 5: OOD x2 + cat
    for user in (a, b, c):
        answer(items[0], user, "cat")
    answer(items[1], a, "dog")
    answer(items[1], b, "dog")
    answer(items[1], c, "cat")
    answer(items[2], a, "cat")
    answer(items[2], b, "dog")
    answer(items[4], a, "other")
    answer(items[5], a, out_of_domain=True)
    answer(items[5], b, out_of_domain=True)
    answer(items[5], c, "cat")
    return project, items


def test_default_recipe_majority_and_ood_as_class(seeded, manager):
    project, items = seeded
    version = build(project, manager)
    rows = {r["item"]: r for r in manifest(version)}
    assert rows[items[0].pk]["label"] == "cat" and rows[items[0].pk]["agreement"] == 1.0
    assert rows[items[1].pk]["label"] == "dog" and rows[items[1].pk]["agreement"] == pytest.approx(0.6667)
    assert rows[items[1].pk]["answers"] == {"cat": 1, "dog": 2}
    assert items[2].pk not in rows  # tie, left out by default
    assert items[3].pk not in rows  # no answers
    assert rows[items[4].pk]["label"] == "other"
    assert rows[items[5].pk]["label"] == "out_of_domain"
    assert version.number == 1
    assert version.counts["left_out"]["tie"] == 1 and version.counts["left_out"]["unlabeled"] == 1
    assert version.counts["classes"] == {"cat": 1, "dog": 1, "other": 1, "out_of_domain": 1}
    assert {a.format for a in version.artifacts.all()} == {"jsonl", "csv", "parquet", "answers"}


def test_same_recipe_same_data_same_hash(seeded, manager):
    project, _ = seeded
    first = build(project, manager, {"min_answers": 2})
    second = build(project, manager, {"min_answers": 2})
    assert second.number == 2 and second.parent == first
    assert first.content_hash == second.content_hash
    assert second.changes == {"added": 0, "removed": 0, "relabeled": 0, "resplit": 0}


def test_needs_review_rows_are_listed_without_a_label(seeded, manager):
    project, items = seeded
    rows = {r["item"]: r for r in manifest(build(project, manager, {"unresolved": "needs_review"}))}
    tie = rows[items[2].pk]
    assert tie["label"] is None and tie["review"] == "tie" and tie["resolved_by"] is None
    assert tie["answers"] == {"cat": 1, "dog": 1} and tie["n_annotations"] == 2
    assert items[3].pk not in rows  # never answered: nothing to review


def test_thresholds(seeded, manager):
    project, items = seeded
    version = build(project, manager, {"min_answers": 3, "min_agreement": 0.7, "unresolved": "needs_review"})
    rows = {r["item"]: r for r in manifest(version)}
    assert rows[items[0].pk]["label"] == "cat"
    assert rows[items[1].pk]["review"] == "low_agreement"  # 2 of 3
    assert rows[items[4].pk]["review"] == "few_answers"  # 1 answer
    assert rows[items[2].pk]["review"] == "few_answers"  # a tie, but too few answers comes first
    assert rows[items[5].pk]["review"] == "low_agreement"  # out_of_domain 2 of 3
    assert version.counts["review_reasons"] == {"tie": 0, "low_agreement": 2, "few_answers": 2}


def test_flag_rules(manager):
    project = text_project(manager)
    items = add_texts(project, ["a", "b", "c"])
    a, b, c = labelers(project, 3)
    answer(items[0], a, "cat", borderline=True, borderline_with="dog")
    answer(items[0], b, "cat", borderline=True, borderline_with="dog")
    answer(items[0], c, "dog")
    answer(items[1], a, uncertain=True)
    answer(items[1], b, uncertain=True)
    answer(items[2], a, "dog", out_of_domain=True)
    answer(items[2], b, "dog")
    default = {r["item"]: r for r in manifest(build(project, manager, {"unresolved": "needs_review"}))}
    # borderline left out: the one plain "dog" decides; uncertain left out: nothing counted; OOD is a class.
    assert default[items[0].pk]["label"] == "dog" and default[items[0].pk]["n_annotations"] == 3
    assert default[items[1].pk]["review"] == "few_answers" and default[items[1].pk]["answers"] == {}
    assert default[items[2].pk]["answers"] == {"dog": 1, "out_of_domain": 1}
    recipe = {"borderline": "value", "uncertain": "class", "out_of_domain": "map:other", "unresolved": "needs_review"}
    rows = {r["item"]: r for r in manifest(build(project, manager, recipe))}
    assert rows[items[0].pk]["label"] == "cat" and rows[items[0].pk]["agreement"] == pytest.approx(0.6667)
    assert rows[items[1].pk]["label"] == "uncertain"
    assert rows[items[2].pk]["answers"] == {"dog": 1, "other": 1}
    rows = {r["item"]: r for r in manifest(build(project, manager, {"borderline": "class"}))}
    assert rows[items[0].pk]["label"] == "borderline"


def test_dawid_skene_trusts_the_reliable_labelers(manager):
    import numpy as np

    project = text_project(manager, classes=("cat", "dog"))
    items = add_texts(project, [f"t{i}" for i in range(60)])
    good1, good2, bad1, bad2, bad3 = labelers(project, 5)
    rng = np.random.default_rng(3)
    truth = rng.integers(0, 2, len(items))
    for item, t in zip(items, truth, strict=True):
        answer(item, good1, ("cat", "dog")[t])
        answer(item, good2, ("cat", "dog")[t])
        for bad in (bad1, bad2, bad3):
            answer(item, bad, ("cat", "dog")[int(rng.integers(0, 2))])
    version = build(project, manager, {"consensus": "dawid_skene", "min_agreement": 0.0})
    rows = {r["item"]: r for r in manifest(version)}
    correct = sum(rows[i.pk]["label"] == ("cat", "dog")[t] for i, t in zip(items, truth, strict=True))
    assert correct >= 57
    assert all(r["resolved_by"] == "dawid_skene" for r in rows.values())
    assert version.counts["resolved_by"] == {"dawid_skene": 60}


def test_sme_decisions_win_and_follow_flag_rules(seeded, manager, monkeypatch):
    from types import SimpleNamespace

    from labeling import selectors

    project, items = seeded
    decisions = {
        items[2].pk: SimpleNamespace(
            action="label", label="dog", borderline=False, uncertain=False, out_of_domain=False
        ),
        items[3].pk: SimpleNamespace(
            action="label", label="other", borderline=False, uncertain=False, out_of_domain=False
        ),
        items[0].pk: SimpleNamespace(action="label", label="", borderline=False, uncertain=False, out_of_domain=True),
        items[1].pk: SimpleNamespace(
            action="relabel", label="", borderline=False, uncertain=False, out_of_domain=False
        ),
    }
    monkeypatch.setattr(selectors, "latest_decisions", lambda project: decisions, raising=False)
    version = build(project, manager)
    rows = {r["item"]: r for r in manifest(version)}
    assert rows[items[2].pk]["label"] == "dog" and rows[items[2].pk]["resolved_by"] == "decision"
    assert rows[items[2].pk]["agreement"] == 0.5  # of the answers, one said dog
    assert rows[items[3].pk]["label"] == "other" and rows[items[3].pk]["agreement"] is None
    assert rows[items[0].pk]["label"] == "out_of_domain"  # the OOD rule is "class" by default
    assert rows[items[1].pk]["resolved_by"] == "majority"  # a relabel request is not a label
    rows = {r["item"]: r for r in manifest(build(project, manager, {"out_of_domain": "exclude"}))}
    assert items[0].pk not in rows  # the SME said out of domain, and the recipe leaves those out
    rows = {r["item"]: r for r in manifest(build(project, manager, {"use_decisions": False}))}
    assert rows[items[0].pk]["label"] == "cat" and items[2].pk not in rows


def test_taxonomy_mapping_and_recipe_class_map(manager, monkeypatch):
    from labeling.services import resolution

    project = text_project(manager, classes=("deep", "shallow", "scratch", "dent"))
    items = add_texts(project, ["a", "b"])
    a, b, c = labelers(project, 3)
    for user, value in zip((a, b, c), ("deep", "shallow", "dent"), strict=True):
        answer(items[0], user, value)
    answer(items[1], a, "dent")
    monkeypatch.setattr(resolution, "class_mapping", lambda project: {"deep": "scratch", "shallow": "scratch"})
    version = build(project, manager)
    rows = {r["item"]: r for r in manifest(version)}
    assert rows[items[0].pk]["label"] == "scratch" and rows[items[0].pk]["answers"] == {"scratch": 2, "dent": 1}
    assert version.info["class_map"] == {"deep": "scratch", "shallow": "scratch"}
    rows = {r["item"]: r for r in manifest(build(project, manager, {"class_map": {"dent": "scratch"}}))}
    assert rows[items[0].pk]["answers"] == {"scratch": 3} and rows[items[1].pk]["label"] == "scratch"


def test_filters(manager):
    from datetime import timedelta

    from django.utils import timezone

    from labeling.models import Guideline, Item
    from labeling.services.sources import source_create

    project = text_project(manager)
    crowd = source_create(project=project, name="crowd", kind="crowdsourced")
    tagged = add_texts(project, ["t1", "t2"], tags=["car noise"], source=crowd)
    plain = add_texts(project, ["p1", "p2"], tags=["holdout"])
    (a,) = labelers(project, 1)
    for item in tagged + plain:
        answer(item, a, "cat")
    Item.objects.filter(pk=plain[1].pk).update(created=timezone.now() - timedelta(days=10))

    def ids(recipe):
        return sorted(r["item"] for r in manifest(build(project, manager, {"filters": recipe})))

    assert ids({"tags": ["car noise"]}) == sorted(i.pk for i in tagged)
    assert ids({"sources": ["crowd"]}) == sorted(i.pk for i in tagged)
    assert ids({"exclude_tags": ["holdout"]}) == sorted(i.pk for i in tagged)
    since = (timezone.now() - timedelta(days=1)).date().isoformat()
    assert plain[1].pk not in ids({"created_from": since})
    assert ids({"created_to": (timezone.now() - timedelta(days=5)).isoformat()}) == [plain[1].pk]
    from labeling.models import Annotation

    Annotation.objects.filter(item=tagged[1]).update(updated=timezone.now() - timedelta(days=2))
    assert ids({"answered_to": (timezone.now() - timedelta(days=1)).isoformat()}) == [tagged[1].pk]
    # A bare date is that whole day: Python reads "2026-12-06" as a date-time (its midnight), and
    # created_to=today left out every item created today.
    today = timezone.localdate().isoformat()
    assert ids({"created_to": today}) == sorted(i.pk for i in tagged + plain)
    assert ids({"created_from": today, "created_to": today}) == sorted(i.pk for i in tagged + [plain[0]])
    guideline = Guideline.objects.create(project=project, version=1, text="v1")
    (b,) = labelers(project, 1, prefix="late")
    from labeling.services.annotations import annotation_save

    annotation_save(item=tagged[0], labeler=b, value="dog", guideline=guideline)
    rows = manifest(build(project, manager, {"filters": {"guideline": 1}}))
    assert [(r["item"], r["label"]) for r in rows] == [(tagged[0].pk, "dog")]


def test_splits_are_stable_and_follow_the_shares(manager):
    project = text_project(manager)
    items = add_texts(project, [f"text {i}" for i in range(600)])
    (a,) = labelers(project, 1)
    from labeling.models import Annotation

    Annotation.objects.bulk_create([Annotation(item=i, labeler=a, value="cat") for i in items])
    first = {r["item"]: r["split"] for r in manifest(build(project, manager))}
    shares = {s: sum(v == s for v in first.values()) / len(first) for s in ("train", "dev", "test")}
    assert 0.74 < shares["train"] < 0.86 and 0.05 < shares["dev"] < 0.15
    more = add_texts(project, [f"more {i}" for i in range(50)])
    Annotation.objects.bulk_create([Annotation(item=i, labeler=a, value="dog") for i in more])
    second = {r["item"]: r["split"] for r in manifest(build(project, manager))}
    assert all(second[i] == s for i, s in first.items())  # every item kept its split
    salted = {r["item"]: r["split"] for r in manifest(build(project, manager, {"splits": {"salt": "reshuffle"}}))}
    assert sum(salted[i] != s for i, s in first.items()) > 50


def test_transcripts_resolve_to_the_normalized_majority(manager):
    from tests.conftest import make_project

    project = make_project(
        manager, name="Speech", modality="text", task_type="transcription", options={"uncertain": True}
    )
    items = add_texts(project, ["clip a", "clip b"])
    a, b, c = labelers(project, 3)
    answer(items[0], a, "Um, nearest gas station")
    answer(items[0], b, "um nearest gas-station")
    answer(items[0], c, "nearest gas station [unintelligible]")
    answer(items[1], a, "Hello")
    answer(items[1], b, "Umm hello")
    recipe = {"transcripts": {"rules": [[r"\b[Uu]+m+\b", "um"]]}, "unresolved": "needs_review"}
    version = build(project, manager, recipe)
    rows = {r["item"]: r for r in manifest(version)}
    assert rows[items[0].pk]["label"] == "um nearest gas station"
    assert rows[items[0].pk]["agreement"] == pytest.approx(0.6667)
    assert rows[items[1].pk]["review"] == "tie"
    assert "classes" not in version.counts and version.counts["distinct_labels"] == 1


def test_audio_project_gets_an_audiofolder(manager):
    import csv
    import io
    import zipfile

    from django.core.files.storage import default_storage

    from labeling.models import Item
    from labeling.services.imports import ImportEntry, items_import
    from tests.conftest import make_project, wav_bytes

    project = make_project(manager, name="Birds", modality="audio", classes=[{"key": "owl"}, {"key": "jay"}])
    report = items_import(
        project=project,
        entries=[ImportEntry(name=f"{i}.wav", load=lambda i=i: wav_bytes(freq=200 + 50 * i)) for i in range(3)],
    )
    (a,) = labelers(project, 1)
    for i, pk in enumerate(report.imported):
        answer(Item.objects.get(pk=pk), a, ("owl", "jay")[i % 2])
    version = build(project, manager, {"splits": {"train": 1.0}})
    artifact = version.artifacts.get(format="audiofolder")
    with default_storage.open(artifact.name, "rb") as handle:
        archive = zipfile.ZipFile(io.BytesIO(handle.read()))
    assert sorted(archive.namelist()) == sorted(["train/metadata.csv"] + [f"train/{pk}.wav" for pk in report.imported])
    rows = list(csv.DictReader(io.StringIO(archive.read("train/metadata.csv").decode())))
    assert [r["file_name"] for r in rows] == [f"{pk}.wav" for pk in report.imported]
    assert [r["label"] for r in rows] == ["owl", "jay", "owl"]


def test_manifest_lines_are_canonical_json(manager):
    """The fast JSON Lines writer writes exactly what json.dumps(sort_keys=True) would."""
    import json

    from labeling.services.sources import source_create
    from labeling.services.versions import version_manifest_chunks

    project = text_project(manager)
    source = source_create(project=project, name='crowd "A" ü', kind="crowdsourced")
    texts = ['say "hi"\n\tthen\\leave', "naïve café ☕ \u2028 \x01", "plain"]
    items = add_texts(project, texts, tags=["zeta", 'quote"tag', "alpha"], source=source)
    a, b = labelers(project, 2)
    for item in items:
        answer(item, a, "dog")
        answer(item, b, "cat", borderline=True, borderline_with="dog")
    version = build(project, manager, {"borderline": "value", "unresolved": "needs_review"})
    data = b"".join(version_manifest_chunks(version=version)).decode()
    for line in data.split("\n")[:-1]:
        row = json.loads(line)
        assert line == json.dumps(row, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        assert row["tags"] == ["alpha", 'quote"tag', "zeta"] and row["source"] == 'crowd "A" ü'
        assert list(row["answers"]) == ["cat", "dog"] and row["review"] == "tie"
    assert [json.loads(line)["text"] for line in data.split("\n")[:-1]] == texts


def test_a_failed_build_publishes_nothing_and_can_be_retried(seeded, manager, monkeypatch):
    from django.core.files.storage import default_storage

    from labeling.models import DatasetVersion, Job
    from labeling.services import versions

    project, _ = seeded
    real = versions.ManifestBuilder.chunk

    def boom(self, rows):
        raise OSError("disk full")

    monkeypatch.setattr(versions.ManifestBuilder, "chunk", boom)
    job = versions.version_build_start(project=project, user=manager, recipe={})
    with pytest.raises(OSError):
        versions.version_build_run(job_id=job.pk)
    job.refresh_from_db()
    assert job.status == "failed" and "disk full" in job.errors[-1]["reason"]
    assert not DatasetVersion.objects.exists()
    assert not default_storage.exists(f"datasets/{project.pk}/build-{job.pk}-1")
    monkeypatch.setattr(versions.ManifestBuilder, "chunk", real)
    versions.version_build_retry(job=job)
    versions.version_build_run(job_id=job.pk)
    job.refresh_from_db()
    assert job.status == "succeeded" and job.attempts == 2 and job.result["version"] == 1
    assert Job.objects.get(pk=job.pk).errors == []


def test_only_the_attempt_that_owns_the_job_publishes(seeded, manager, settings):
    from datetime import timedelta

    from django.utils import timezone

    from labeling.models import DatasetVersion, Job
    from labeling.services import versions
    from labeling.services.jobs import job_claim

    project, _ = seeded
    job = versions.version_build_start(project=project, user=manager, recipe={})
    first = job_claim(job_id=job.pk)
    policy = first.params["policy"]
    with versions.JobBeat(first) as beat:
        built = versions._build(job=first, project=project, policy=policy, prefix="datasets/x/first", beat=beat)
    # The first attempt's worker goes silent; the build is retried and a second attempt claims it.
    settings.LABELHUB_JOB_STALE_SECONDS = 60
    Job.objects.filter(pk=job.pk).update(heartbeat=timezone.now() - timedelta(hours=1))
    versions.version_build_retry(job=Job.objects.get(pk=job.pk))
    second = job_claim(job_id=job.pk)
    assert second.attempts == 2
    with pytest.raises(versions._Superseded):
        versions._publish(job=first, attempt=1, built=built)
    assert not DatasetVersion.objects.exists()
    versions._publish(job=second, attempt=2, built=built)
    assert DatasetVersion.objects.get().number == 1


def test_a_second_delivery_while_the_build_runs_waits_for_it_instead_of_superseding_it(seeded, manager, monkeypatch):
    """RabbitMQ hands a message to another worker when it has been unacknowledged for its consumer_timeout
    (30 minutes by default), however alive the first worker is. That delivery took the running build
    over: the first attempt could no longer publish, and a build longer than the timeout was taken over
    again and again and never published. Now it leaves the job to the attempt that beats, and its task
    sends the message again for when that attempt would count as dead."""
    from celery.exceptions import Retry

    from labeling.models import DatasetVersion, Job
    from labeling.services import versions
    from labeling.services.jobs import job_claim, stale_seconds
    from labeling.tasks import version_build

    project, _ = seeded
    job = versions.version_build_start(project=project, user=manager, recipe={})
    first = job_claim(job_id=job.pk)
    with versions.JobBeat(first) as beat:
        built = versions._build(
            job=first, project=project, policy=first.params["policy"], prefix="datasets/x", beat=beat
        )
        sent_again = []

        def retry(countdown=None, **kwargs):
            sent_again.append(countdown)
            return Retry()

        monkeypatch.setattr(version_build, "retry", retry)
        with pytest.raises(Retry):
            version_build.run(job.pk)  # the message, delivered a second time
    assert Job.objects.get(pk=job.pk).attempts == 1
    assert len(sent_again) == 1 and 0 < sent_again[0] <= stale_seconds() + 1
    assert version_build.max_retries is None  # it comes back for as long as the attempt beats
    versions._publish(job=first, attempt=1, built=built)
    assert DatasetVersion.objects.get(project=project).number == 1


def test_retry_rules(seeded, manager, settings):
    from datetime import timedelta

    from django.utils import timezone

    from labeling.models import Job
    from labeling.services import versions

    project, _ = seeded
    job = versions.version_build_start(project=project, user=manager, recipe={})
    with pytest.raises(versions.JobNotRetryable, match="queued and waits for a worker"):
        versions.version_build_retry(job=job)
    Job.objects.filter(pk=job.pk).update(status="running", started=timezone.now(), heartbeat=timezone.now())
    with pytest.raises(versions.JobNotRetryable, match="is running"):
        versions.version_build_retry(job=Job.objects.get(pk=job.pk))
    settings.LABELHUB_JOB_STALE_SECONDS = 30
    Job.objects.filter(pk=job.pk).update(heartbeat=timezone.now() - timedelta(seconds=31))
    assert versions.version_build_retry(job=Job.objects.get(pk=job.pk)).status == "queued"
    versions.version_build_run(job_id=job.pk)
    with pytest.raises(versions.JobNotRetryable, match="already succeeded"):
        versions.version_build_retry(job=Job.objects.get(pk=job.pk))


def test_a_project_without_answers_builds_an_empty_version(manager, monkeypatch):
    from types import SimpleNamespace

    from labeling import selectors

    project = text_project(manager)
    items = add_texts(project, ["a", "b", "c"])
    empty = build(project, manager)
    assert manifest(empty) == [] and empty.counts["left_out"]["unlabeled"] == 3
    decision = SimpleNamespace(action="label", label="dog", borderline=False, uncertain=False, out_of_domain=False)
    monkeypatch.setattr(selectors, "latest_decisions", lambda project: {items[1].pk: decision}, raising=False)
    rows = manifest(build(project, manager))
    assert [(r["item"], r["label"], r["agreement"], r["answers"]) for r in rows] == [(items[1].pk, "dog", None, {})]


def recordings(project, n_recordings, windows, *, start=0, key="recording"):
    """``windows`` text items cut from each of ``n_recordings`` recordings (metadata ``{key: "rec<r>"}``),
    then 40 items with no recording; each answered "cat" by one labeler. Answers {recording: [items]}, loose."""
    import hashlib

    from labeling.models import Annotation, Item

    rows = [
        Item(
            project=project,
            text=f"rec{r} window {w}",
            sha256=hashlib.sha256(f"rec{r} window {w}".encode()).hexdigest(),
            metadata={key: f"rec{r}", "window": w},
        )
        for r in range(start, start + n_recordings)
        for w in range(windows)
    ]
    rows += [
        Item(
            project=project, text=f"loose {start} {i}", sha256=hashlib.sha256(f"loose {start} {i}".encode()).hexdigest()
        )
        for i in range(40)
    ]
    Item.objects.bulk_create(rows)
    items = list(Item.objects.filter(project=project, sha256__in=[r.sha256 for r in rows]))
    (a,) = labelers(project, 1)
    Annotation.objects.bulk_create([Annotation(item=i, labeler=a, value="cat") for i in items])
    grouped = {}
    for item in items:
        if key in item.metadata:
            grouped.setdefault(item.metadata[key], []).append(item.pk)
    return grouped, [i.pk for i in items if key not in i.metadata]


def test_group_by_keeps_every_window_of_a_recording_in_one_split(manager):
    # Windows of one recording split by their own hash: the test split held near-copies of training
    # windows. With splits.group_by they follow their recording; items without the key keep their split.
    project = text_project(manager)
    grouped, loose = recordings(project, 60, 5)
    plain = {r["item"]: r["split"] for r in manifest(build(project, manager))}
    assert sum(len({plain[i] for i in ids}) > 1 for ids in grouped.values()) > 20  # torn apart without it

    version = build(project, manager, {"splits": {"group_by": "recording"}})
    assert version.policy["splits"]["group_by"] == "recording"
    rows = {r["item"]: r["split"] for r in manifest(version)}
    assert all(len({rows[i] for i in ids}) == 1 for ids in grouped.values())
    by_recording = [rows[ids[0]] for ids in grouped.values()]
    assert {"train", "dev", "test"} <= set(by_recording)
    assert all(rows[i] == plain[i] for i in loose)  # no key: the content hash's split, as without group_by

    # Next version: more windows of the same recordings (and new ones) join their recording's split;
    # nothing moves.
    import hashlib

    from labeling.models import Annotation, Item

    (a,) = labelers(project, 1)
    extra = Item.objects.bulk_create(
        [
            Item(
                project=project,
                text=f"rec{r} late window",
                sha256=hashlib.sha256(f"rec{r} late window".encode()).hexdigest(),
                metadata={"recording": f"rec{r}"},
            )
            for r in range(60)
        ]
    )
    extra = list(Item.objects.filter(project=project, sha256__in=[i.sha256 for i in extra]))
    Annotation.objects.bulk_create([Annotation(item=i, labeler=a, value="cat") for i in extra])
    second = build(project, manager, {"splits": {"group_by": "recording"}})
    again = {r["item"]: r["split"] for r in manifest(second)}
    assert all(again[i] == s for i, s in rows.items()) and second.changes["resplit"] == 0
    for item in extra:
        assert again[item.pk] == rows[grouped[item.metadata["recording"]][0]]


def test_a_group_value_is_read_as_text_and_null_groups_nothing(manager):
    # A patient id imported as 17 in one batch and "17" in another is one patient; null is no value.
    import hashlib

    from labeling.models import Annotation, Item

    project = text_project(manager)
    plain_metadata = [{"patient": None}] * 30 + [{}] * 30
    patients = [{"patient": 17}] * 30 + [{"patient": "17"}] * 30 + [{"patient": {"site": "b", "id": 3}}] * 30
    rows = [
        Item(project=project, text=f"scan {i}", sha256=hashlib.sha256(f"scan {i}".encode()).hexdigest(), metadata=m)
        for i, m in enumerate(plain_metadata + patients)
    ]
    Item.objects.bulk_create(rows)
    items = list(Item.objects.filter(project=project).order_by("pk"))
    (a,) = labelers(project, 1)
    Annotation.objects.bulk_create([Annotation(item=i, labeler=a, value="cat") for i in items])
    plain = {r["item"]: r["split"] for r in manifest(build(project, manager))}
    version = build(project, manager, {"splits": {"group_by": "patient"}})
    rows = {r["item"]: r["split"] for r in manifest(version)}
    assert [rows[i.pk] for i in items[:60]] == [plain[i.pk] for i in items[:60]]
    assert len({rows[i.pk] for i in items[60:120]}) == 1 and len({rows[i.pk] for i in items[120:]}) == 1
    assert version.counts["split_by_group"] == 90


def test_a_string_that_reads_as_json_is_a_group_of_its_own_text_on_every_database(manager):
    # SQLite read the string "null" as no value (each such item took its own content's split) and a string
    # holding JSON ('"17"', '[1,2]') as that JSON, where PostgreSQL reads each as the text it is.
    import hashlib

    from labeling.models import Annotation, Item
    from labeling.services.exports import split_codes

    project = text_project(manager)
    values = ["null", '"17"', "[1,2]", '{"b": 1, "a": 2}', "true", 17, True, {"b": 1, "a": 2}, None]
    Item.objects.bulk_create(
        [
            Item(project=project, text=f"scan {i}", sha256=hashlib.sha256(f"scan {i}".encode()).hexdigest(), metadata=m)
            for i, m in enumerate({"patient": v} for v in values for _ in range(20))
        ]
    )
    items = list(Item.objects.filter(project=project).order_by("pk"))
    (a,) = labelers(project, 1)
    Annotation.objects.bulk_create([Annotation(item=i, labeler=a, value="cat") for i in items])
    version = build(project, manager, {"splits": {"group_by": "patient"}})
    rows = {r["item"]: r["split"] for r in manifest(version)}
    texts = ["null", '"17"', "[1,2]", '{"b": 1, "a": 2}', "true", "17", "true", '{"a": 2, "b": 1}']
    expected = [hashlib.sha256(t.encode()).hexdigest() for t in texts for _ in range(20)]
    expected += [item.sha256 for item in items[-20:]]  # JSON null: no value, the item's own split
    codes = split_codes(expected, train=0.8, dev=0.1, salt="")
    assert [rows[i.pk] for i in items] == [("train", "dev", "test")[c] for c in codes.tolist()]
    assert version.counts["split_by_group"] == 160


@pytest.mark.parametrize("key", ["2024", "site.id", 'it\'s "the" site', "$[0]"])
def test_a_group_key_that_reads_as_a_number_or_a_path_is_still_a_metadata_key(manager, key):
    # Django reads a key "2024" as a list position: such a group_by grouped nothing.
    import hashlib

    from labeling.models import Annotation, Item

    project = text_project(manager)
    rows = [
        Item(
            project=project,
            text=f"s{s} {i}",
            sha256=hashlib.sha256(f"s{s} {i}".encode()).hexdigest(),
            metadata={key: f"site{s}"},
        )
        for s in range(20)
        for i in range(4)
    ]
    Item.objects.bulk_create(rows)
    items = list(Item.objects.filter(project=project))
    (a,) = labelers(project, 1)
    Annotation.objects.bulk_create([Annotation(item=i, labeler=a, value="cat") for i in items])
    version = build(project, manager, {"splits": {"group_by": key}})
    rows = {r["item"]: r["split"] for r in manifest(version)}
    assert version.counts["split_by_group"] == 80
    for s in range(20):
        assert len({rows[i.pk] for i in items if i.metadata[key] == f"site{s}"}) == 1


def test_a_transcription_version_keeps_the_clips_of_a_recording_in_one_split(manager):
    from tests.conftest import make_project

    project = make_project(manager, name="Speech", modality="text", task_type="transcription")
    grouped, loose = recordings(project, 40, 4)  # each clip transcribed "cat"
    plain = {r["item"]: r["split"] for r in manifest(build(project, manager))}
    assert sum(len({plain[i] for i in ids}) > 1 for ids in grouped.values()) > 10
    version = build(project, manager, {"splits": {"group_by": "recording"}})
    rows = {r["item"]: r["split"] for r in manifest(version)}
    assert all(len({rows[i] for i in ids}) == 1 for ids in grouped.values())
    assert all(rows[i] == plain[i] for i in loose) and version.counts["split_by_group"] == 160
