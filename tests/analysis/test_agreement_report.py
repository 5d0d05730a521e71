"""The agreement report through the API and its page: numbers, filters, policies, caching, roles."""

import re
from datetime import UTC, datetime

import numpy as np
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from analysis import metrics
from analysis.models import AgreementReport
from labeling.choices import Role
from labeling.models import Item
from labeling.services.annotations import annotation_save
from labeling.services.guidelines import guideline_publish
from labeling.services.imports import ImportEntry, items_import
from labeling.services.projects import member_add
from tests.conftest import make_project, make_user, png_bytes

# Krippendorff (2011), "Computing Krippendorff's Alpha-Reliability", the reliability data example:
# 4 observers × 12 units, values 1-5, "." missing. Published alpha: nominal 0.743.
K2011 = [
    [1, 2, 3, 3, 2, 1, 4, 1, 2, None, None, None],
    [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, None, 3],
    [None, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, None],
    [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, None],
]


@pytest.fixture
def k2011_project(manager, reviewer):
    """The published example entered as answers by four labelers on twelve items."""
    project = make_project(manager, name="K2011", classes=[{"key": str(v)} for v in range(1, 6)])
    member_add(project=project, username=reviewer.username, role=Role.REVIEWER)
    entries = [
        ImportEntry(name=f"u{u}.png", load=lambda u=u: png_bytes(seed=100 + u), tags=["first-half"] if u < 6 else [])
        for u in range(12)
    ]
    items = items_import(project=project, entries=entries).imported
    from labeling.models import Item

    for o, row in enumerate(K2011):
        user = make_user(f"observer{o}")
        member_add(project=project, username=user.username, role=Role.LABELER)
        for u, value in enumerate(row):
            if value is not None:
                annotation_save(item=Item.objects.get(pk=items[u]), labeler=user, value=str(value), seconds=2.0 + o)
    return project


def test_report_reproduces_the_published_example(api, reviewer, k2011_project):
    response = api(reviewer).get(f"/api/projects/{k2011_project.pk}/agreement/")
    assert response.status_code == 200
    report = response.json()
    assert report["n_items"] == 12 and report["n_annotations"] == 41
    alpha = report["krippendorff_alpha"]
    assert round(alpha["value"], 3) == 0.743
    assert alpha["ci_low"] <= alpha["value"] <= alpha["ci_high"]
    # The other numbers are those of analysis.metrics on the same matrix.
    matrix = np.array([[np.nan if v is None else v for v in row] for row in K2011]).T
    assert report["percent_agreement"]["value"] == pytest.approx(metrics.percent_agreement(matrix))
    assert {p["labeler_a"] for p in report["pairwise"]} <= {"observer0", "observer1", "observer2", "observer3"}
    assert len(report["pairwise"]) == 6
    by_name = {row["labeler"]: row for row in report["per_labeler"]}
    assert by_name["observer0"]["n_answers"] == 9 and by_name["observer0"]["median_seconds"] == 2.0
    expected = metrics.rater_agreement(matrix, raters=["observer0", "observer1", "observer2", "observer3"])
    assert by_name["observer1"]["agreement_with_others"] == pytest.approx(expected[1]["pairwise_accuracy"])
    confusion = np.array(report["confusion"]["counts"])
    assert (confusion == confusion.T).all()
    assert confusion.sum() == 2 * sum(m * (m - 1) // 2 for m in (np.isfinite(matrix).sum(axis=1)) if m >= 2)
    assert [c["class"] for c in report["per_class"]] == ["1", "2", "3", "4", "5"]


def test_slice_and_labeler_filters(api, reviewer, k2011_project):
    client = api(reviewer)
    sliced = client.get(f"/api/projects/{k2011_project.pk}/agreement/?tag=first-half").json()
    assert sliced["n_items"] == 6
    two = client.get(f"/api/projects/{k2011_project.pk}/agreement/?labelers=observer1,observer3").json()
    assert {row["labeler"] for row in two["per_labeler"]} == {"observer1", "observer3"}
    kappa = metrics.cohen_kappa(
        [np.nan if v is None else v for v in K2011[1]], [np.nan if v is None else v for v in K2011[3]]
    )
    assert two["pairwise"][0]["kappa"] == pytest.approx(kappa)


def test_since_with_a_utc_offset_typed_unencoded_in_the_url_is_read_as_the_offset(api, reviewer, k2011_project):
    # "+02:00" typed in a URL arrives as " 02:00" (a "+" in a query string is a space): it answered 400
    # "not a date" to a date-time that was right
    url = f"/api/projects/{k2011_project.pk}/agreement/"
    client = api(reviewer)
    everything = client.get(url).json()["n_items"]
    for since in ("2000-01-01T10:00:00+02:00", "2000-01-01 10:00+0200", "2000-01-01T10:00:00.5+02"):
        response = client.get(f"{url}?since={since}")
        assert response.status_code == 200, (since, response.json())
        assert response.json()["n_items"] == everything
    assert client.get(f"{url}?since=2999-01-01T10:00:00+02:00").json()["n_items"] == 0
    assert client.get(f"{url}?since=2000-01-01T10:00:00 02:00:00").status_code == 400


@pytest.mark.parametrize(
    "query, message",
    [
        ("policy=sideways", "unknown policy"),
        ("labelers=nobody", "'nobody' is not a member"),
        ("tag=nope", "'nope' is not a tag of this project"),
        ("since=yesterday", "not a date"),
        ("guideline=7", "no guideline version 7"),
        ("policy=midpoint", "binary project"),
    ],
)
def test_bad_parameters_are_named(api, reviewer, k2011_project, query, message):
    response = api(reviewer).get(f"/api/projects/{k2011_project.pk}/agreement/?{query}")
    assert response.status_code == 400
    assert message in response.json()["detail"]


def test_an_unknown_slice_is_named_on_the_page_and_download_as_an_unknown_labeler_is(client, reviewer, k2011_project):
    # tag=nope answered a report of 0 items where labelers=nobody was named
    client.force_login(reviewer)
    page = client.get(f"/projects/{k2011_project.pk}/agreement/?tag=nope").content.decode()
    assert "&#x27;nope&#x27; is not a tag of this project" in page
    download = client.get(f"/projects/{k2011_project.pk}/agreement.csv?tag=nope")
    assert download.status_code == 400 and "'nope' is not a tag of this project" in download.content.decode()
    page = client.get(f"/projects/{k2011_project.pk}/agreement/?tag=first-half").content.decode()
    assert "is not a tag" not in page


def test_labelers_get_403_and_outsiders_404(api, client, labeler, outsider, project):
    assert api(labeler).get(f"/api/projects/{project.pk}/agreement/").status_code == 403
    assert api(outsider).get(f"/api/projects/{project.pk}/agreement/").status_code == 404
    client.force_login(labeler)
    assert client.get(f"/projects/{project.pk}/agreement/").status_code == 403
    assert client.get(f"/projects/{project.pk}/agreement.csv").status_code == 403


def binary_project(manager, reviewer, answers):
    """A defect project (ok / defect with borderline); ``answers``: per item, per labeler (value, borderline)."""
    project = make_project(
        manager, name="Defects", classes=[{"key": "ok"}, {"key": "defect"}], options={"borderline": True}
    )
    member_add(project=project, username=reviewer.username, role=Role.REVIEWER)
    users = [make_user(f"inspector{i}") for i in range(len(answers[0]))]
    items = items_import(
        project=project,
        entries=[ImportEntry(name=f"{i}.png", load=lambda i=i: png_bytes(seed=i)) for i in range(len(answers))],
    ).imported
    from labeling.models import Item

    for item_id, row in zip(items, answers, strict=True):
        for user, (value, borderline) in zip(users, row, strict=True):
            annotation_save(item=Item.objects.get(pk=item_id), labeler=user, value=value, borderline=borderline)
    return project


def test_flag_policies_change_what_counts(api, manager, reviewer):
    answers = [
        [("ok", False), ("ok", False)],
        [("defect", False), ("defect", False)],
        [("", True), ("defect", False)],
        [("", True), ("", True)],
    ]
    project = binary_project(manager, reviewer, answers)
    client = api(reviewer)
    category = client.get(f"/api/projects/{project.pk}/agreement/").json()
    assert category["percent_agreement"]["value"] == pytest.approx(3 / 4)
    assert "borderline" in [c["class"] for c in category["per_class"]]
    excluded = client.get(f"/api/projects/{project.pk}/agreement/?policy=exclude").json()
    assert excluded["n_annotations"] == 5 and excluded["percent_agreement"]["value"] == pytest.approx(1.0)
    midpoint = client.get(f"/api/projects/{project.pk}/agreement/?policy=midpoint").json()
    assert midpoint["alpha_level"] == "ordinal"
    ordinal = np.array([[0, 0], [2, 2], [1, 2], [1, 1]], dtype=float)
    assert midpoint["krippendorff_alpha"]["value"] == pytest.approx(metrics.krippendorff_alpha(ordinal, "ordinal"))


def test_undefined_metrics_say_why(api, manager, reviewer):
    project = binary_project(manager, reviewer, [[("ok", False), ("ok", False)], [("ok", False), ("ok", False)]])
    report = api(reviewer).get(f"/api/projects/{project.pk}/agreement/").json()
    assert report["percent_agreement"]["value"] == 1.0
    assert report["krippendorff_alpha"] == {"value": None, "ci_low": None, "ci_high": None}
    assert "alpha" in report["reasons"]["krippendorff_alpha"].lower() or report["reasons"]["krippendorff_alpha"]


def test_report_is_cached_until_an_answer_changes(api, reviewer, k2011_project):
    client = api(reviewer)
    url = f"/api/projects/{k2011_project.pk}/agreement/"
    assert client.get(url).json()["cached"] is False
    assert client.get(url).json()["cached"] is True
    from labeling.models import Annotation

    answer = Annotation.objects.filter(item__project=k2011_project, value="5").first()
    annotation_save(item=answer.item, labeler=answer.labeler, value="1")
    fresh = client.get(url).json()
    assert fresh["cached"] is False
    assert AgreementReport.objects.filter(project=k2011_project).count() == 1


def test_a_slice_report_counts_items_tagged_after_it_was_cached(api, reviewer, k2011_project):
    """A report of a slice (``tag=``) follows the slice: items tagged since the report was cached (a lasso on
    the map, an SME's "input insufficient") are counted, where the cached report of the old slice was
    answered because no answer had changed."""
    from labeling.models import Item
    from labeling.services.items import items_tag

    client = api(reviewer)
    url = f"/api/projects/{k2011_project.pk}/agreement/?tag=first-half"
    assert client.get(url).json()["n_items"] == 6
    assert client.get(url).json()["cached"] is True
    items_tag(
        project=k2011_project,
        item_ids=Item.objects.filter(project=k2011_project).values_list("pk", flat=True),
        tag="first-half",
    )
    grown = client.get(url).json()
    assert grown["cached"] is False and grown["n_items"] == 12
    assert client.get(url).json()["cached"] is True  # and cached again until the slice or an answer changes


def test_large_projects_go_to_a_job(api, reviewer, k2011_project, settings):
    from analysis.services import agreement_report_job_run
    from labeling.models import Job

    settings.LABELHUB_AGREEMENT_SYNC_LIMIT = 10
    client = api(reviewer)
    response = client.get(f"/api/projects/{k2011_project.pk}/agreement/")
    assert response.status_code == 202
    job_id = response.json()["job"]
    # Asking again while it is queued does not queue another.
    assert client.get(f"/api/projects/{k2011_project.pk}/agreement/").json()["job"] == job_id
    agreement_report_job_run(job_id=job_id)
    assert Job.objects.get(pk=job_id).status == "succeeded"
    report = client.get(f"/api/projects/{k2011_project.pk}/agreement/").json()
    assert report["cached"] is True and round(report["krippendorff_alpha"]["value"], 3) == 0.743


def test_a_report_whose_worker_died_is_computed_again(api, reviewer, k2011_project, settings):
    """A worker killed mid-report left its job running: every later visit answered "computing" with that
    job, forever (nothing redelivers it soon, and a report job has no retry). Once the job has been
    silent for LABELHUB_JOB_STALE_SECONDS a visit starts a new one; a job that beats is waited for."""
    from datetime import timedelta

    from django.utils import timezone

    from analysis.services import agreement_report_job_run
    from labeling.models import Job
    from labeling.services.jobs import job_claim

    settings.LABELHUB_AGREEMENT_SYNC_LIMIT = 10
    settings.LABELHUB_JOB_STALE_SECONDS = 60
    client = api(reviewer)
    url = f"/api/projects/{k2011_project.pk}/agreement/"
    dead = client.get(url).json()["job"]
    job_claim(job_id=dead)  # a worker takes it ...
    Job.objects.filter(pk=dead).update(heartbeat=timezone.now())
    assert client.get(url).json()["job"] == dead  # ... and is alive: waited for
    Job.objects.filter(pk=dead).update(heartbeat=timezone.now() - timedelta(seconds=61))  # ... and dies
    response = client.get(url)
    assert response.status_code == 202
    fresh = response.json()["job"]
    assert fresh != dead
    agreement_report_job_run(job_id=fresh)
    report = client.get(url).json()
    assert report["cached"] is True and round(report["krippendorff_alpha"]["value"], 3) == 0.743


def test_report_per_guideline_version(api, manager, reviewer):
    project = binary_project(manager, reviewer, [[("ok", False), ("defect", False)]] * 3)
    guideline_publish(project=project, text="v1: a dent counts as a defect", author=manager)
    from labeling.models import Annotation

    for answer in Annotation.objects.filter(item__project=project, value="ok"):
        annotation_save(item=answer.item, labeler=answer.labeler, value="defect")
    report = api(reviewer).get(f"/api/projects/{project.pk}/agreement/").json()
    rows = {row["guideline"]: row for row in report["by_guideline"]}
    assert rows[1]["n_items"] == 3 and rows[1]["n_compared"] == 0
    assert rows[None]["n_items"] == 3


def test_csv_and_json_downloads_carry_the_same_numbers(client, reviewer, k2011_project):
    client.force_login(reviewer)
    as_json = client.get(f"/projects/{k2011_project.pk}/agreement.json").json()
    csv_text = client.get(f"/projects/{k2011_project.pk}/agreement.csv").content.decode()
    line = next(row for row in csv_text.splitlines() if row.startswith("headline,project,krippendorff_alpha"))
    assert float(line.split(",")[3]) == pytest.approx(as_json["krippendorff_alpha"]["value"])


def test_report_page_query_count_does_not_grow_with_labelers(client, reviewer, k2011_project):
    client.force_login(reviewer)
    client.get(f"/projects/{k2011_project.pk}/agreement/")  # fills the cache
    with CaptureQueriesContext(connection) as queries:
        page = client.get(f"/projects/{k2011_project.pk}/agreement/")
    assert page.status_code == 200
    assert len(queries.captured_queries) < 20
    assert b"0.743" in page.content


def test_report_page_shows_when_it_was_computed_as_other_pages_show_times(client, reviewer, k2011_project, settings):
    # It read "Cached 2026-12-06T01:20:32.", the ISO text cut at the seconds.
    settings.TIME_ZONE = "Europe/Berlin"
    client.force_login(reviewer)
    first = client.get(f"/projects/{k2011_project.pk}/agreement/").content.decode()
    assert re.search(r'Computed <time id="report-computed" datetime="\S+">\d{4}-\d\d-\d\d \d\d:\d\d</time>\.', first)
    moment = datetime(2026, 12, 6, 1, 20, 32, 123456, tzinfo=UTC)
    AgreementReport.objects.filter(project=k2011_project).update(computed=moment)
    page = client.get(f"/projects/{k2011_project.pk}/agreement/").content.decode()
    assert 'Cached <time id="report-computed" datetime="2026-12-06T02:20:32+01:00">2026-12-06 02:20</time>.' in page
    assert "Cached 2026-12-06T" not in page  # (the report's JSON, for the page's charts, keeps its ISO text)


def test_transcription_report_compares_normalized_transcripts(api, manager, reviewer):
    project = make_project(manager, name="Speech", modality="text", task_type="transcription")
    member_add(project=project, username=reviewer.username, role=Role.REVIEWER)
    items = items_import(
        project=project, entries=[ImportEntry(name="a", text="clip a"), ImportEntry(name="b", text="clip b")]
    ).imported
    from labeling.models import Item

    users = [make_user("t1"), make_user("t2")]
    texts = [("Um, nearest gas station.", "um nearest gas station"), ("call mom", "call tom")]
    for item_id, pair in zip(items, texts, strict=True):
        for user, text in zip(users, pair, strict=True):
            annotation_save(item=Item.objects.get(pk=item_id), labeler=user, value=text)
    report = api(reviewer).get(f"/api/projects/{project.pk}/agreement/").json()
    assert report["transcripts"]["exact_agreement"] == 0.5
    assert report["transcripts"]["raw_exact_agreement"] == 0.0
    assert report["transcripts"]["mean_pairwise_wer"] == pytest.approx(1 / 6)


def test_a_project_without_answers_reports_why(api, reviewer, project):
    report = api(reviewer).get(f"/api/projects/{project.pk}/agreement/").json()
    assert report["n_items"] == 0 and report["percent_agreement"]["value"] is None
    assert report["reasons"]["percent_agreement"] == "no answers match these filters"


def test_agreement_csv_writes_formula_like_names_as_text_and_numbers_as_numbers(client, manager, reviewer):
    import csv
    import io

    project = make_project(manager, name="Formulas", classes=[{"key": "a"}, {"key": "b"}])
    member_add(project=project, username=reviewer.username, role=Role.REVIEWER)
    items = items_import(
        project=project,
        entries=[ImportEntry(name=f"{i}.png", load=lambda i=i: png_bytes(seed=500 + i)) for i in range(6)],
    ).imported
    from labeling.models import Item

    # Names that come from outside (SSO, LDAP, the admin) may begin with anything.
    names = ['=HYPERLINK("http://x.example")', "@SUM(A1)", "+1", "-1", "\tx", "\rx"]
    for n, name in enumerate(names):
        user = make_user(name)
        member_add(project=project, username=user.username, role=Role.LABELER)
        for i, pk in enumerate(items):
            # Two camps that always disagree: negative kappas between them.
            annotation_save(item=Item.objects.get(pk=pk), labeler=user, value="ab"[(i + n) % 2])
    client.force_login(reviewer)
    text = client.get(f"/projects/{project.pk}/agreement.csv").content.decode()
    rows = list(csv.reader(io.StringIO(text, newline="")))
    subjects = {row[1] for row in rows if row[0] == "labeler"}
    assert subjects == {"'" + name for name in names}
    assert any(row[1].startswith("'=HYPERLINK") for row in rows if row[0] == "pairwise")
    for row in rows[1:]:
        for cell in row:
            if cell[:1] in ("=", "+", "-", "@", "\t", "\r"):
                float(cell)  # only numbers the report computed may begin so
    assert any(row[3].startswith("-") for row in rows if row[0] == "pairwise")


def test_the_packed_read_gives_the_answers_a_plain_cursor_gives(k2011_project):
    """PostgreSQL reads a report's answers packed into a few buffers (analysis.selectors); every column,
    an unanswered duration (NULL seconds), flags and the day included, must match a plain row by row read."""
    if connection.vendor != "postgresql":
        pytest.skip("the packed read is PostgreSQL's")
    from analysis import selectors
    from labeling.models import Annotation

    Annotation.objects.filter(item__project=k2011_project, labeler__username="observer1").update(
        seconds=None, uncertain=True
    )
    Annotation.objects.filter(item__project=k2011_project, labeler__username="observer2", value="3").update(
        borderline=True, updated="1969-12-31T23:59:59.5+00:00"
    )
    # A value that is no class (code -1) on a flagged answer: the code and the flags travel together.
    Annotation.objects.filter(item__project=k2011_project, labeler__username="observer3", value="1").update(
        value="retired", out_of_domain=True, borderline=True
    )
    captured = {}

    def plain_too(sql, params, columns):
        captured["plain"] = selectors._read_columns_plain(sql, params, columns)
        captured["packed"] = selectors._read_columns_packed(sql, params, columns)
        return captured["packed"]

    original = selectors._read_columns
    selectors._read_columns = plain_too
    try:
        table = selectors.answer_table(project=k2011_project)
    finally:
        selectors._read_columns = original
    assert len(table) == 41 and set(captured["packed"]) == set(captured["plain"])
    order = np.lexsort((captured["plain"]["labeler_id"], captured["plain"]["item_id"]))
    packed_order = np.lexsort((captured["packed"]["labeler_id"], captured["packed"]["item_id"]))
    for column, plain in captured["plain"].items():
        np.testing.assert_array_equal(captured["packed"][column][packed_order], plain[order], err_msg=column)
    assert np.isnan(captured["packed"]["seconds"]).sum() == 11  # observer1's answers
    assert (captured["packed"]["day"] == -1).sum() == 4  # the second before 1970 is day -1
    assert ((captured["packed"]["code"] == -1) & (captured["packed"]["flags"] == 5)).sum() == 3
    empty = selectors._read_columns_packed("SELECT 1 AS item_id WHERE false", [], ["item_id"])
    assert empty["item_id"].shape == (0,) and empty["item_id"].dtype == np.int64


def test_answers_of_one_labeler_only_report_why_instead_of_failing(api, reviewer, k2011_project):
    # One labeler's answers (a filter to one person, or a project where only one has answered yet) share
    # no item with anyone: the pair measures are undefined and say so; it was a 500.
    response = api(reviewer).get(f"/api/projects/{k2011_project.pk}/agreement/?labelers=observer1")
    assert response.status_code == 200
    report = response.json()
    assert report["n_annotations"] == 11 and report["n_labelers"] == 1
    assert report["percent_agreement"]["value"] is None and report["reasons"]["percent_agreement"]
    assert {row["class"]: row["n_answers"] for row in report["per_class"]}["3"] == 3
    assert all(row["specific_agreement"] is None for row in report["per_class"])
    assert report["per_labeler"][0]["labeler"] == "observer1" and report["pairwise"] == []


def test_the_report_page_of_one_labeler_says_answers_by_1_labeler(client, reviewer, k2011_project):
    """The page said "11 answers by 1 labelers" of a report filtered to one labeler."""
    client.force_login(reviewer)
    page = client.get(f"/projects/{k2011_project.pk}/agreement/?labelers=observer1").content.decode()
    assert "answers by 1 labeler<" in page and "1 labelers" not in page
    page = client.get(f"/projects/{k2011_project.pk}/agreement/").content.decode()
    assert "labelers<" in page


def test_a_removed_labeler_whose_answers_still_count_can_be_chosen_by_name_or_id(api, reviewer, k2011_project):
    """A removed labeler's answers stay and the report lists them, yet ``labelers=`` refused their name as
    "not a member": a row of the report could not be chosen (nor the review queue filtered by them)."""
    from django.contrib.auth import get_user_model

    from labeling.services.projects import member_remove

    gone = get_user_model().objects.get(username="observer1")
    member_remove(membership=k2011_project.memberships.get(user=gone))
    client = api(reviewer)
    url = f"/api/projects/{k2011_project.pk}/agreement/"
    assert "observer1" in {row["labeler"] for row in client.get(url).json()["per_labeler"]}
    for chosen in ("observer1,observer3", f"{gone.pk},observer3"):
        two = client.get(url, {"labelers": chosen})
        assert two.status_code == 200, two.content
        assert {row["labeler"] for row in two.json()["per_labeler"]} == {"observer1", "observer3"}
    queue = client.get(f"/api/projects/{k2011_project.pk}/review-queue/", {"labeler": "observer1"})
    assert queue.status_code == 200 and queue.json()["count"] > 0
    # a name that never answered here, member of nothing, is still refused
    assert client.get(url, {"labelers": "nobody"}).status_code == 400


@pytest.mark.parametrize("value", ["١", "99999999999999999999", "-1"])
def test_a_guideline_version_is_read_as_the_projects_ids_are(api, manager, reviewer, value):
    """``guideline=`` went through int(): "١" (an Arabic-Indic one) chose version 1, and a number beyond 64
    bits reached the database (SQLite's driver raises on one: a 500). It is read as ids are (ASCII digits
    within 64 bits), on the report, the review queue and a guideline diff's ``against``."""
    project = make_project(manager, name="Versions")
    member_add(project=project, username=reviewer.username, role=Role.REVIEWER)
    guideline_publish(project=project, text="one", author=manager)
    guideline_publish(project=project, text="two", author=manager)
    client = api(reviewer)
    for path, name in (("agreement/", "guideline"), ("review-queue/", "guideline"), ("guidelines/2/diff/", "against")):
        response = client.get(f"/api/projects/{project.pk}/{path}", {name: value})
        assert response.status_code == 400 and name in response.json(), (path, response.content)
    assert client.get(f"/api/projects/{project.pk}/agreement/", {"guideline": "1"}).status_code == 200
    drift = client.get(f"/api/projects/{project.pk}/drift/", {"baseline_version": value, "current_version": "2"})
    assert drift.status_code == 400 and "baseline_version" in drift.json(), drift.content


def test_a_labeler_who_shares_no_item_with_anyone_gets_no_dawid_skene_accuracy(api, client, reviewer, k2011_project):
    # A new labeler given only the items nobody else answered yet: nothing compares them with anyone, as
    # their agreement with the others says ("—"); Dawid–Skene read them as 2.5 % accurate (the demo's dave).
    newcomer = make_user("newcomer")
    member_add(project=k2011_project, username=newcomer.username, role=Role.LABELER)
    entries = [ImportEntry(name=f"new{i}.png", load=lambda i=i: png_bytes(seed=300 + i)) for i in range(3)]
    for item_id, value in zip(items_import(project=k2011_project, entries=entries).imported, "145", strict=True):
        annotation_save(item=Item.objects.get(pk=item_id), labeler=newcomer, value=value)
    report = api(reviewer).get(f"/api/projects/{k2011_project.pk}/agreement/").json()
    rows = {row["labeler"]: row for row in report["per_labeler"]}
    assert rows["newcomer"]["n_shared"] == 0 and rows["newcomer"]["agreement_with_others"] is None
    assert rows["newcomer"]["dawid_skene_accuracy"] is None
    assert all(rows[f"observer{o}"]["dawid_skene_accuracy"] > 0.5 for o in range(4))
    client.force_login(reviewer)
    page = client.get(f"/projects/{k2011_project.pk}/agreement/").content.decode()
    cell = re.search(r"newcomer</.*?data-measure=\"dawid_skene_accuracy\">([^<]*)<", page, re.S)
    assert cell and cell.group(1).strip() == "—"


def test_the_explanation_of_specific_agreement_gives_the_number_shown(client, manager, reviewer):
    # "Of the answer pairs that involve the class, the share where both say it" read here as 1 of 2
    # pairs = 0.5 for "ok", where the page shows 0.667: each pair counts once per side that says the
    # class (2 × agreeing pairs ÷ (2 × agreeing pairs + pairs where one side says it)), as an F1 does.
    project = binary_project(manager, reviewer, [[("ok", False), ("ok", False)], [("ok", False), ("defect", False)]])
    client.force_login(reviewer)
    html = client.get(f"/projects/{project.pk}/agreement/").content.decode()
    assert "the share where both say it" not in html
    ok_row = html[html.index('data-class="ok"') :]
    assert "0.667" in ok_row[: ok_row.index("</tr>")]
    assert "2 × the pairs where both say it" in html


def test_the_csv_download_of_a_filtered_report_says_its_filters_and_has_the_pages_counts(
    client, reviewer, k2011_project
):
    # The CSV of a slice read "headline,project,..." as the whole project's did, with nothing saying which
    # slice, labelers or policy it counted; and it left out counts the page shows beside the measures
    # (items with 2+ answers, labelers, a guideline version's items and compared items).
    import csv
    import io

    client.force_login(reviewer)
    query = "tag=first-half&labelers=observer1,observer3&policy=exclude"
    as_json = client.get(f"/projects/{k2011_project.pk}/agreement.json?{query}").json()
    text = client.get(f"/projects/{k2011_project.pk}/agreement.csv?{query}").content.decode()
    rows = list(csv.reader(io.StringIO(text, newline="")))
    filters = {row[1]: row[3] for row in rows if row[0] == "filter"}
    assert filters == {"tag": "first-half", "labelers": "observer1|observer3", "policy": "exclude"}
    headline = {row[2]: row[3] for row in rows if row[0] == "headline"}
    assert int(headline["n_compared_items"]) == as_json["n_compared_items"]
    assert int(headline["n_labelers"]) == as_json["n_labelers"] == 2
    (version,) = as_json["by_guideline"]
    guideline = {row[2]: row[3] for row in rows if row[0] == "guideline"}
    assert int(guideline["n_items"]) == version["n_items"] and int(guideline["n_compared"]) == version["n_compared"]


def test_labelers_named_in_repeated_parameters_are_all_counted(api, client, reviewer, k2011_project):
    # "?labelers=observer1&labelers=observer3" (how a script or a multi-select sends a list) kept the
    # last one alone: a one-labeler report that said agreement is undefined, the filter half ignored.
    url = f"/api/projects/{k2011_project.pk}/agreement/"
    comma = api(reviewer).get(f"{url}?labelers=observer1,observer3").json()
    repeated = api(reviewer).get(f"{url}?labelers=observer1&labelers=observer3").json()
    assert {row["labeler"] for row in repeated["per_labeler"]} == {"observer1", "observer3"}
    assert repeated["krippendorff_alpha"] == comma["krippendorff_alpha"]
    client.force_login(reviewer)
    page = client.get(f"/projects/{k2011_project.pk}/agreement.json?labelers=observer1&labelers=observer3").json()
    assert page["n_labelers"] == 2


def test_the_report_page_names_the_flagged_answer_policy_as_its_filter_does(client, manager, reviewer):
    # The note under the figures read "Flagged answers: exclude" (the stored key) where the filter
    # above reads "left out", and "category" for "as their own categories".
    project = binary_project(manager, reviewer, [[("ok", False), ("ok", False)], [("", True), ("defect", False)]])
    client.force_login(reviewer)
    for policy, words in (("exclude", "left out"), ("category", "as their own categories")):
        html = client.get(f"/projects/{project.pk}/agreement/?policy={policy}").content.decode()
        assert f"Flagged answers: {words}" in html and f"Flagged answers: {policy}" not in html


def test_a_chosen_labeler_without_answers_is_named_on_the_report_page(client, reviewer, k2011_project):
    # "labelers=newbie,observer1", newbie having answered nothing: the page read "answers by 1 labeler"
    # and "no unit has two or more answers", newbie gone from every table with no word why.
    newbie = make_user("newbie")
    member_add(project=k2011_project, username=newbie.username, role=Role.LABELER)
    client.force_login(reviewer)
    html = client.get(f"/projects/{k2011_project.pk}/agreement/?labelers=newbie,observer1").content.decode()
    note = html[html.index('id="labelers-without-answers"') :]
    note = note[: note.index("</p>")]
    assert "newbie" in note and "observer1" not in note
    html = client.get(f"/projects/{k2011_project.pk}/agreement/?labelers=observer0,observer1").content.decode()
    assert 'id="labelers-without-answers"' not in html


def test_fleiss_kappa_says_on_which_items_it_stands(api, client, reviewer, k2011_project):
    """Fleiss' kappa needs the same number of answers per item: it is computed on the 8 items with four
    answers, of the 11 compared; the report and the page say so beside it (a page showed 0.542 beside
    "6,872 with 2+ answers" for a kappa on 9 items)."""
    report = api(reviewer).get(f"/api/projects/{k2011_project.pk}/agreement/").json()
    assert (report["n_compared_items"], report["fleiss_items"], report["fleiss_answers_each"]) == (11, 8, 4)
    matrix = np.array([[np.nan if v is None else v for v in row] for row in K2011]).T
    four = matrix[np.isfinite(matrix).sum(axis=1) == 4]
    assert report["fleiss_kappa"]["value"] == pytest.approx(metrics.fleiss_kappa(four))
    client.force_login(reviewer)
    page = client.get(f"/projects/{k2011_project.pk}/agreement/").content.decode()
    card = re.search(r'data-metric-card="fleiss_kappa".*?</div>', page, re.S).group(0)
    assert "on the 8 items with 4 answers each" in card
    alpha = re.search(r'data-metric-card="krippendorff_alpha".*?</div>', page, re.S).group(0)
    assert "answers each" not in alpha


def test_the_agreement_csv_says_on_which_items_fleiss_kappa_stands(client, reviewer, k2011_project):
    """The CSV gave fleiss_items (8) without how many answers each of them has."""
    client.force_login(reviewer)
    rows = client.get(f"/projects/{k2011_project.pk}/agreement.csv").content.decode().splitlines()
    assert "headline,project,fleiss_items,8,," in rows
    assert "headline,project,fleiss_answers_each,4,," in rows
