"""The labeling endpoints run a small, fixed number of queries, whatever the size of the project."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from labeling.models import Project
from labeling.selectors import active_class_keys
from tests.labeling.queue_helpers import answer_by_others, make_items

pytestmark = pytest.mark.django_db

# Both: token auth, the project (or item) with the caller's role, and the test transaction's savepoint and its
# release. Next: the held-item check (with "are there campaign items?"), the candidate, the reservation. An
# answer: classes (the first in a process; then cached), lock, slot state, insert, counter, release of the
# hold. An answer with ?next=1: the same, with the candidate and the reservation instead of the release.
MAX_NEXT_QUERIES = 7
MAX_SUBMIT_QUERIES = 10
MAX_SUBMIT_AND_NEXT_QUERIES = 10  # the class keys are cached (labeling.selectors.active_class_keys)
# PostgreSQL: the item's load takes its row lock, and the slot state, the insert, the counter and the next
# item's candidate are one statement: token, savepoint, item (locked), slots, answer and candidate,
# reservation, release (9, then 7, before).
MAX_SUBMIT_AND_NEXT_QUERIES_POSTGRESQL = 6


def count(client, method, url, body=None):
    with CaptureQueriesContext(connection) as queries:
        response = getattr(client, method)(url, body, format="json") if body else getattr(client, method)(url)
    return response, len(queries.captured_queries), [q["sql"] for q in queries.captured_queries]


def loop(client, project):
    """One "next + submit" round: answers the two query counts."""
    response, n_next, sql_next = count(client, "get", f"/api/projects/{project.pk}/next/")
    assert response.status_code == 200
    response, n_submit, sql_submit = count(
        client, "post", f"/api/items/{response.data['id']}/annotations/", {"value": "cat", "seconds": 2}
    )
    assert response.status_code == 201
    return n_next, n_submit, sql_next, sql_submit


def test_next_and_submit_keep_their_query_counts_as_the_project_grows(api, project, labeler):
    items = make_items(project, 5)
    answer_by_others(project, items[0], 2)
    client = api(labeler)
    loop(client, project)  # the first round creates the reservation row
    small = loop(client, project)
    more = make_items(project, 200, start=100)
    for item in more[:20]:
        answer_by_others(project, item, 1, prefix=f"g{item.pk}-")
    large = loop(client, project)
    assert small[0] <= MAX_NEXT_QUERIES, "\n".join(small[2])
    assert small[1] <= MAX_SUBMIT_QUERIES, "\n".join(small[3])
    assert large[0] <= MAX_NEXT_QUERIES, "\n".join(large[2])
    assert large[1] == small[1], "\n".join(large[3])


def test_recent_answers_and_progress_do_not_grow_with_the_list(api, project, labeler):
    items = make_items(project, 30)
    client = api(labeler)
    for item in items[:3]:
        client.post(f"/api/items/{item.pk}/annotations/", {"value": "cat"}, format="json")
    _, few, _ = count(client, "get", f"/api/projects/{project.pk}/annotations/?mine=1")
    for item in items[3:]:
        client.post(f"/api/items/{item.pk}/annotations/", {"value": "dog"}, format="json")
    response, many, _ = count(client, "get", f"/api/projects/{project.pk}/annotations/?mine=1")
    assert response.data["count"] == 30 and many == few
    _, progress, _ = count(client, "get", f"/api/projects/{project.pk}/progress/")
    assert progress <= 5


def test_submit_with_next_keeps_its_query_count_as_the_project_grows(api, project, labeler):
    make_items(project, 5)
    client = api(labeler)
    item = client.get(f"/api/projects/{project.pk}/next/").data["id"]
    active_class_keys(project=Project.objects.get(pk=project.pk))  # read once per process, then cached
    counts = []
    for grow in (False, True):
        if grow:
            for extra in make_items(project, 200, start=100)[:20]:
                answer_by_others(project, extra, 1, prefix=f"h{extra.pk}-")
        response, n, sql = count(client, "post", f"/api/items/{item}/annotations/?next=1", {"value": "cat"})
        assert response.status_code == 201 and response.data["next"], response.data
        assert n <= MAX_SUBMIT_AND_NEXT_QUERIES, "\n".join(sql)
        if connection.vendor == "postgresql":
            assert n <= MAX_SUBMIT_AND_NEXT_QUERIES_POSTGRESQL, "\n".join(sql)
        counts.append(n)
        item = response.data["next"]["id"]
    assert counts[0] == counts[1], counts
