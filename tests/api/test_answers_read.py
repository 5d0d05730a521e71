"""Reading answers in bulk: keyset (cursor) pages of the answers list, the answers export (JSON Lines and
Parquet) and a dataset version's raw answers (``answers.jsonl``)."""

import base64
import io
import json
from urllib.parse import parse_qs, urlencode, urlparse

import pyarrow.parquet as pq
import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.test.utils import CaptureQueriesContext

from labeling.models import Annotation
from labeling.services.annotations import annotation_save
from labeling.services.guidelines import guideline_publish
from labeling.services.projects import member_add
from tests.conftest import make_project
from tests.labeling.queue_helpers import make_items
from tests.labeling.version_helpers import build, manifest

pytestmark = pytest.mark.django_db

EXPORT_COLUMNS = [
    "item",
    "labeler",
    "value",
    "borderline",
    "borderline_with",
    "uncertain",
    "out_of_domain",
    "comment",
    "seconds",
    "guideline",
    "created",
]


def answers_url(project, query=""):
    return f"/api/projects/{project.pk}/annotations/{query}"


def export_url(project, fmt):
    return f"/api/projects/{project.pk}/annotations/export?format={fmt}"


def walk(client, url):
    """Follow ``next`` from ``url``; answer (the answer ids in the order met, the pages)."""
    ids, pages = [], []
    while url:
        response = client.get(url)
        assert response.status_code == 200, response.content
        pages.append(response.data)
        ids += [a["id"] for a in response.data["results"]]
        url = response.data["next"]
    return ids, pages


def jsonl_rows(response):
    assert response.status_code == 200, response.content
    assert response["Content-Type"] == "application/x-ndjson"
    return [json.loads(line) for line in b"".join(response.streaming_content).decode().splitlines()]


def parquet_table(response):
    assert response.status_code == 200, response.content
    assert response["Content-Type"] == "application/vnd.apache.parquet"
    return pq.read_table(io.BytesIO(b"".join(response.streaming_content)))


@pytest.fixture
def answered(project, manager, labeler, labeler2):
    """12 items: labeler answers all (the first with every flag, a comment, a time and a guideline),
    labeler2 items 5 to 9 (ties with labeler's)."""
    items = make_items(project, 12)
    guideline = guideline_publish(project=project, text="# Cats", author=manager)
    annotation_save(
        item=items[0],
        labeler=labeler,
        value="dog",
        borderline=True,
        borderline_with="cat",
        uncertain=True,
        out_of_domain=True,
        comment='=HYPERLINK("x") and "quotes"',
        seconds=2.5,
        guideline=guideline,
    )
    for item in items[1:]:
        annotation_save(item=item, labeler=labeler, value="cat")
    for item in items[5:10]:
        annotation_save(item=item, labeler=labeler2, value="other")
    return items


# --- keyset (cursor) pages ------------------------------------------------------------------------------


def test_a_cursor_walk_meets_every_answer_exactly_once_while_answers_are_added_and_revised(
    api, project, reviewer, labeler, labeler2, answered
):
    client = api(reviewer)
    before = set(Annotation.objects.filter(item__project=project).values_list("id", flat=True))
    first = client.get(answers_url(project, "?cursor=&page_size=4"))
    assert first.status_code == 200 and first.data["count"] is None  # no COUNT on keyset pages
    assert len(first.data["results"]) == 4 and "cursor=" in first.data["next"]
    seen = [a["id"] for a in first.data["results"]]
    # Meanwhile: new answers, and a revision of an answer not reached yet (it moves to the top of the
    # newest-first list, which would make an offset walk skip or repeat rows).
    later = make_items(project, 3, start=100)
    for item in later:
        annotation_save(item=item, labeler=labeler2, value="dog")
    annotation_save(item=answered[-1], labeler=labeler, value="dog")
    rest, pages = walk(client, first.data["next"])
    seen += rest
    assert len(seen) == len(set(seen)), "an answer came twice"
    assert before <= set(seen)
    assert set(seen) == before | set(Annotation.objects.filter(item__in=later).values_list("id", flat=True))
    assert seen == sorted(seen)  # id order
    assert all(len(p["results"]) <= 4 and p["count"] is None for p in pages)
    assert pages[-1]["next"] is None and pages[-1]["previous"]


def test_cursor_pages_of_a_labeler_hold_only_their_own_answers(api, project, labeler, labeler2, answered):
    for params in ("?cursor=&page_size=2", f"?cursor=&page_size=2&labeler={labeler2.username}"):
        ids, _ = walk(api(labeler2), answers_url(project, params))
        rows = Annotation.objects.filter(id__in=ids)
        assert len(ids) == 5 and {a.labeler_id for a in rows} == {labeler2.pk}
    # another labeler's name narrows their own answers to none, never to that labeler's
    ids, _ = walk(api(labeler2), answers_url(project, f"?cursor=&page_size=2&labeler={labeler.username}"))
    assert ids == []


def test_numbered_pages_still_count_and_order_newest_first(api, project, manager, answered):
    data = api(manager).get(answers_url(project, "?page=2&page_size=5")).data
    assert data["count"] == 17 and len(data["results"]) == 5 and "page=3" in data["next"]
    assert "cursor" not in data["next"]


def test_previous_goes_back_a_page(api, project, manager, answered):
    client = api(manager)
    first = client.get(answers_url(project, "?cursor=&page_size=5")).data
    second = client.get(first["next"]).data
    back = client.get(second["previous"]).data
    assert [a["id"] for a in back["results"]] == [a["id"] for a in first["results"]]


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("?page=abc", "page"),  # DRF answered 404 "Invalid page."
        ("?page=0", "page"),
        ("?page_size=abc", "page_size"),  # DRF answered the default page size without a word
        ("?page_size=0", "page_size"),
        ("?cursor=&page_size=-5", "page_size"),
    ],
)
def test_a_page_or_page_size_that_is_no_number_answers_400_naming_it(api, project, manager, answered, query, field):
    response = api(manager).get(answers_url(project, query))
    assert response.status_code == 400 and field in response.data, response.content


def test_a_page_past_the_end_says_how_many_pages_there_are(api, project, manager, answered):
    client = api(manager)
    response = client.get(answers_url(project, "?page=5&page_size=5"))
    assert response.status_code == 404
    assert response.data["detail"] == "There is no page 5: the list has 4 pages (17 rows, 5 a page)."
    last = client.get(answers_url(project, "?page=last&page_size=5")).data
    assert len(last["results"]) == 2 and last["next"] is None


@pytest.mark.parametrize("cursor", ["nonsense!", b"p=abc", b"p=" + b"9" * 25, b"o=-1", "%FF"])
def test_a_bad_cursor_answers_400_naming_it(api, project, manager, answered, cursor):
    # A cursor is base64 of a query string; a position that is no id, or one beyond 64 bits, is no cursor.
    if isinstance(cursor, bytes):
        cursor = base64.b64encode(cursor).decode()
    response = api(manager).get(answers_url(project, "?" + urlencode({"cursor": cursor}, safe="%")))
    assert response.status_code == 400 and "cursor" in response.data, response.content


def test_a_deep_cursor_page_costs_what_the_first_does_and_never_reads_password_hashes(api, project, manager, answered):
    client = api(manager)
    ids, pages = walk(client, answers_url(project, "?cursor=&page_size=3"))
    assert len(ids) == 17 and len(pages) == 6
    with CaptureQueriesContext(connection) as first:
        assert client.get(answers_url(project, "?cursor=&page_size=3")).status_code == 200
    with CaptureQueriesContext(connection) as deep:
        assert client.get(pages[-2]["next"]).status_code == 200
    assert len(deep.captured_queries) == len(first.captured_queries)
    statements = [q["sql"].lower() for q in first.captured_queries + deep.captured_queries]
    assert not any("count(" in s for s in statements), statements
    reads = [s for s in statements if "labeling_annotation" in s]
    assert len(reads) == 2  # one per page: the rows, joined with their item, user, project, guideline
    for sql in reads:
        assert "password" not in sql and "email" not in sql and '"metadata"' not in sql, sql


def test_an_outsider_gets_404_for_the_list_and_the_export(api, project, outsider, answered):
    client = api(outsider)
    assert client.get(answers_url(project, "?cursor=")).status_code == 404
    assert client.get(export_url(project, "jsonl")).status_code == 404


# --- the export -------------------------------------------------------------------------------------------


def test_jsonl_export_has_every_current_answer_with_its_columns(api, project, reviewer, labeler, answered):
    annotation_save(item=answered[1], labeler=labeler, value="dog")  # a revision: only the current answer
    rows = jsonl_rows(api(reviewer).get(export_url(project, "jsonl")))
    assert len(rows) == 17 and all(list(r) == EXPORT_COLUMNS for r in rows)
    first = rows[0]
    assert first["item"] == answered[0].pk and first["labeler"] == labeler.username and first["value"] == "dog"
    assert first["borderline"] is first["uncertain"] is first["out_of_domain"] is True
    assert first["borderline_with"] == "cat"  # the second class the borderline answer lies between
    assert first["comment"] == '=HYPERLINK("x") and "quotes"' and first["seconds"] == 2.5 and first["guideline"] == 1
    assert first["created"].endswith("Z")
    revised = [r for r in rows if r["item"] == answered[1].pk and r["labeler"] == labeler.username]
    assert [r["value"] for r in revised] == ["dog"]
    assert rows[1]["seconds"] is None and rows[1]["borderline_with"] == ""
    assert sorted((r["item"], r["labeler"]) for r in rows) == sorted(
        Annotation.objects.filter(item__project=project).values_list("item_id", "labeler__username")
    )


def test_parquet_export_reads_back_with_pyarrow(api, project, manager, labeler, labeler2, answered):
    table = parquet_table(api(manager).get(export_url(project, "parquet")))
    assert table.column_names == EXPORT_COLUMNS and table.num_rows == 17
    rows = table.to_pylist()
    assert rows[0]["labeler"] == labeler.username and rows[0]["comment"] == '=HYPERLINK("x") and "quotes"'
    assert rows[0]["seconds"] == 2.5 and rows[0]["guideline"] == 1 and rows[0]["borderline"] is True
    assert rows[0]["borderline_with"] == "cat" and rows[1]["borderline_with"] == ""
    assert str(table.schema.field("borderline_with").type) == "string"
    assert str(table.schema.field("created").type) == "timestamp[us, tz=UTC]"
    jsonl = jsonl_rows(api(manager).get(export_url(project, "jsonl")))
    assert [(r["item"], r["labeler"], r["value"]) for r in rows] == [
        (r["item"], r["labeler"], r["value"]) for r in jsonl
    ]
    assert sum(r["labeler"] == labeler2.username for r in rows) == 5


def test_export_reads_in_keyset_batches(api, project, manager, answered, monkeypatch):
    from labeling import selectors

    monkeypatch.setattr(selectors, "ANSWER_EXPORT_BATCH", 4)
    monkeypatch.setattr(selectors.answer_export_batches, "__kwdefaults__", {"batch": 4})
    monkeypatch.setattr(selectors.answer_export_lines, "__kwdefaults__", {"batch": 4})  # PostgreSQL's lines
    with CaptureQueriesContext(connection) as queries:
        rows = jsonl_rows(api(manager).get(export_url(project, "jsonl")))
    batches = [q["sql"] for q in queries.captured_queries if "labeling_annotation" in q["sql"]]
    assert len(rows) == 17 and len(batches) == 5  # 4 + 4 + 4 + 4 + 1
    assert all("LIMIT 4" in sql and "password" not in sql for sql in batches)


@pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL formats the lines there")
def test_postgresql_writes_the_lines_python_writes_byte_for_byte(project, labeler, labeler2, answered):
    """The export's lines come from PostgreSQL on PostgreSQL (``answer_export_lines``); they must be the
    bytes the Python formatter writes on every database: escapes, numbers, nulls, time stamps."""
    from datetime import UTC, datetime

    from labeling.selectors import answer_export_batches, answer_export_lines, project_answers
    from labeling.services.answer_exports import jsonl_chunks

    nasty = 'tab\there "quoted" back\\slash\nnew line \x01\x1f caf\u00e9 \u2028 \U0001f408 </script>'
    annotation_save(item=answered[2], labeler=labeler, value="cat", comment=nasty, seconds=3.0)
    annotation_save(item=answered[3], labeler=labeler, value="cat", seconds=1e-05)
    Annotation.objects.filter(item=answered[3], labeler=labeler).update(value=nasty)  # e.g. a transcript
    annotation_save(item=answered[4], labeler=labeler, value="cat", seconds=86399.789)
    Annotation.objects.filter(item=answered[5], labeler=labeler).update(
        seconds=float("nan"), created=datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    )
    Annotation.objects.filter(item=answered[6], labeler=labeler).update(seconds=1e20)  # written before the bound
    Annotation.objects.filter(item=answered[7], labeler=labeler).update(borderline=True, borderline_with=nasty[:64])
    answers = project_answers(project=project)
    python = b"".join(jsonl_chunks(answer_export_batches(answers=answers), localized=False))
    postgresql = b"".join(answer_export_lines(project=project))
    assert postgresql == python
    rows = [json.loads(line) for line in postgresql.split(b"\n")[:-1]]  # not splitlines: U+2028 is no line end
    assert len(rows) == 17 and any(r["comment"] == nasty for r in rows) and any(r["value"] == nasty for r in rows)
    assert any(r["borderline_with"] == nasty[:64] for r in rows) and any(r["borderline_with"] == "cat" for r in rows)
    by_item = {r["item"]: r for r in rows if r["labeler"] == labeler.username}
    assert by_item[answered[5].pk]["seconds"] is None and by_item[answered[5].pk]["created"] == "2026-01-02T03:04:05Z"


def test_labelers_may_not_export(api, project, labeler, answered):
    for fmt in ("jsonl", "parquet"):
        response = api(labeler).get(export_url(project, fmt))
        assert response.status_code == 403 and "reviewer" in response.data["detail"]


@pytest.mark.parametrize("query", ["?format=csv", "?format=", ""])
def test_a_bad_format_answers_400_naming_it(api, project, manager, query):
    response = api(manager).get(f"/api/projects/{project.pk}/annotations/export{query}")
    assert response.status_code == 400 and "format" in response.data
    assert "jsonl" in response.data["detail"] and "parquet" in response.data["detail"]
    if query == "?format=csv":
        assert "'csv'" in response.data["detail"]


def test_an_empty_project_exports_no_rows(api, project, manager):
    assert jsonl_rows(api(manager).get(export_url(project, "jsonl"))) == []
    table = parquet_table(api(manager).get(export_url(project, "parquet")))
    assert table.num_rows == 0 and table.column_names == EXPORT_COLUMNS


def test_detection_answers_export_their_boxes_as_objects(api, manager, labeler):
    project = make_project(manager, name="Boxes", task_type="detection", classes=[{"key": "iguana"}])
    member_add(project=project, username=labeler.username, role="labeler")
    (item,) = make_items(project, 1)
    boxes = {"boxes": [{"x": 0.1, "y": 0.2, "w": 0.3, "h": 0.4, "label": "iguana"}]}
    response = api(labeler).post(f"/api/items/{item.pk}/annotations/", {"value": boxes}, format="json")
    assert response.status_code == 201, response.content
    (row,) = jsonl_rows(api(manager).get(export_url(project, "jsonl")))
    assert row["value"] == boxes
    (value,) = parquet_table(api(manager).get(export_url(project, "parquet"))).column("value").to_pylist()
    assert json.loads(value) == boxes


# --- a version's raw answers -----------------------------------------------------------------------------


def test_a_version_carries_the_raw_answers_of_its_items(api, project, manager, reviewer, labeler, answered):
    user = get_user_model().objects.create_user("late")
    member_add(project=project, username=user.username, role="labeler")
    annotation_save(item=answered[2], labeler=user, value="dog")  # a 1-1 tie with labeler: left out
    version = build(project, manager)
    listed = api(reviewer).get(f"/api/projects/{project.pk}/versions/1/manifest")
    manifest = {json.loads(line)["item"] for line in b"".join(listed.streaming_content).splitlines()}
    kept = [answered[i].pk for i in (0, 1, 3, 4, 10, 11)]  # items 5-9 are ties (cat, other) and left out
    assert manifest == set(kept)
    detail = api(reviewer).get(f"/api/projects/{project.pk}/versions/1/").data
    artifact = next(a for a in detail["artifacts"] if a["format"] == "answers")
    response = api(reviewer).get(artifact["url"])
    assert response["Content-Disposition"].endswith('-v1-answers.jsonl"')
    data = b"".join(response.streaming_content)
    rows = [json.loads(line) for line in data.decode().splitlines()]
    import hashlib

    assert hashlib.sha256(data).hexdigest() == artifact["sha256"] and artifact["n_rows"] == len(rows)
    assert all(list(r) == EXPORT_COLUMNS for r in rows)
    # Every answer to a manifest item (the flagged one too, as given), none to an item left out.
    expected = Annotation.objects.filter(item_id__in=manifest).values_list("item_id", "labeler__username", "value")
    assert sorted((r["item"], r["labeler"], r["value"]) for r in rows) == sorted(expected)
    assert {r["item"] for r in rows} == manifest
    (flagged,) = [r for r in rows if r["item"] == answered[0].pk]
    assert flagged["borderline"] is True and flagged["borderline_with"] == "cat"
    # The version's file does not change with later answers; the export does.
    annotation_save(item=answered[3], labeler=user, value="dog")
    assert b"".join(api(reviewer).get(artifact["url"]).streaming_content) == data
    assert version.artifacts.get(format="answers").n_rows == len(rows)


@pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL formats the lines there")
@pytest.mark.parametrize("recipe", [{}, {"filters": {"guideline": 1}}])
def test_a_version_on_postgresql_has_postgresql_write_its_answers_as_python_would(
    project, manager, labeler, labeler2, answered, monkeypatch, recipe
):
    """A version's answers.jsonl, like the export, is formatted by PostgreSQL there (formatting 3,000,000
    answers in the worker took most of a 1M-item build): the same bytes as the Python formatter writes,
    for the answers the recipe lets in and the manifest's items only."""
    from datetime import UTC, datetime

    from labeling.selectors import answer_export_batches
    from labeling.services import answer_exports

    nasty = 'tab\there "quoted" back\\slash\nnew line \x01 caf\u00e9 \u2028 \U0001f408 </script>'
    guideline = answered[0].annotations.get().guideline
    late = get_user_model().objects.create_user("late")
    member_add(project=project, username=late.username, role="labeler")
    for user in (labeler2, late):  # two say cat, so item 2 ships with labeler's answer beside theirs
        annotation_save(item=answered[2], labeler=user, value="cat")
    Annotation.objects.filter(item=answered[1]).update(comment=nasty, seconds=float("nan"), guideline=guideline)
    Annotation.objects.filter(item__in=answered[3:]).update(guideline=None)  # answered before any guideline
    Annotation.objects.filter(item=answered[2], labeler=labeler).update(
        value=nasty, seconds=86399.789, created=datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    )
    version = build(project, manager, recipe)  # items 5-9 are ties, left out; with the filter, only 0-2 are in
    items = {row["item"] for row in manifest(version)}
    data = answers_file(version)
    rows = [json.loads(line) for line in data.split(b"\n")[:-1]]
    answers = Annotation.objects.filter(item_id__in=items)
    if recipe:
        answers = answers.filter(guideline=guideline)
    python = b"".join(answer_exports.jsonl_chunks(answer_export_batches(answers=answers), localized=False))
    assert data == python and len(rows) == (5 if recipe else 9)
    assert any(r["comment"] == nasty and r["seconds"] is None for r in rows)
    assert any(r["value"] == nasty and r["created"] == "2026-01-02T03:04:05Z" for r in rows)
    # and the worker formatted none of it
    monkeypatch.setattr(answer_exports, "jsonl_lines", lambda *a, **k: pytest.fail("formatted in Python"))
    assert answers_file(build(project, manager, recipe)) == data


def answers_file(version):
    from django.core.files.storage import default_storage

    with default_storage.open(version.artifacts.get(format="answers").name, "rb") as handle:
        return handle.read()


def test_version_answers_need_the_reviewer_role(api, project, manager, labeler, answered):
    build(project, manager)
    response = api(labeler).get(f"/api/projects/{project.pk}/versions/1/download?format=answers")
    assert response.status_code == 403


def test_the_schema_documents_the_export_and_the_cursor(api, manager):
    import yaml

    schema = yaml.safe_load(api(manager).get("/api/schema/").content)
    export = schema["paths"]["/api/projects/{project_id}/annotations/export"]["get"]
    (fmt,) = [p for p in export["parameters"] if p["name"] == "format"]
    assert fmt["required"] and fmt["schema"]["enum"] == ["jsonl", "parquet"]
    assert {"application/x-ndjson", "application/vnd.apache.parquet"} <= set(export["responses"]["200"]["content"])
    listing = schema["paths"]["/api/projects/{project_id}/annotations/"]["get"]
    assert "cursor" in {p["name"] for p in listing["parameters"]}
    download = schema["paths"]["/api/projects/{project_id}/versions/{ref}/download"]["get"]
    assert "answers" in next(p for p in download["parameters"] if p["name"] == "format")["schema"]["enum"]


def test_query_strings_of_next_links_carry_the_filters(api, project, manager, labeler, answered):
    first = api(manager).get(answers_url(project, f"?cursor=&page_size=2&labeler={labeler.username}")).data
    query = parse_qs(urlparse(first["next"]).query)
    assert query["labeler"] == [labeler.username] and query["page_size"] == ["2"] and query["cursor"][0]


def test_a_labeler_filter_naming_nobody_of_the_project_answers_400(api, project, reviewer, labeler, answered):
    # A misspelt name listed no answers, as if that labeler had given none.
    client = api(reviewer)
    response = client.get(answers_url(project, f"?labeler={labeler.username}x"))
    assert response.status_code == 400 and "labeler" in response.data, response.content
    assert client.get(answers_url(project, f"?labeler={labeler.username}")).data["count"] == 12


def test_the_answers_of_a_removed_labeler_can_still_be_listed_by_name(api, project, manager, labeler2, answered):
    from labeling.services.projects import member_remove

    member_remove(membership=project.memberships.get(user=labeler2))
    response = api(manager).get(answers_url(project, f"?labeler={labeler2.username}"))
    assert response.status_code == 200 and response.data["count"] == 5


def test_answer_filters_combine_and_a_mine_that_is_no_yes_or_no_answers_400(
    api, project, manager, labeler, labeler2, answered
):
    """``mine`` and ``labeler`` narrow the list together: the labeler's own answers under ``labeler=`` another
    name, or a manager's under ``mine=1&labeler=`` a labeler, were listed as if that filter were not there;
    ``mine=perhaps`` listed everyone's."""
    annotation_save(item=answered[11], labeler=manager, value="dog")
    own = api(labeler2)
    assert own.get(answers_url(project, "")).data["count"] == 5
    assert own.get(answers_url(project, f"?labeler={labeler2.username}")).data["count"] == 5
    assert own.get(answers_url(project, f"?labeler={labeler.username}")).data["count"] == 0
    assert own.get(answers_url(project, "?labeler=no-such-name")).data["count"] == 0  # names nobody, reveals nothing
    client = api(manager)
    assert client.get(answers_url(project, "?mine=1")).data["count"] == 1
    assert client.get(answers_url(project, f"?mine=1&labeler={manager.username}")).data["count"] == 1
    assert client.get(answers_url(project, f"?mine=1&labeler={labeler.username}")).data["count"] == 0
    assert client.get(answers_url(project, "?mine=no")).data["count"] == 18
    for user in (manager, labeler):
        response = api(user).get(answers_url(project, "?mine=perhaps"))
        assert response.status_code == 400 and "mine" in response.data, response.content


def test_a_page_number_beside_a_cursor_is_refused_naming_page(api, project, manager, answered):
    """``?cursor=&page=2`` walked from the start as if page=2 were not there (and carried it in ``next``)."""
    response = api(manager).get(answers_url(project, "?cursor=&page=2&page_size=2"))
    assert response.status_code == 400 and "cursor" in response.data["page"][0], response.content
