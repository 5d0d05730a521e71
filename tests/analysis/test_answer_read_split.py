"""PostgreSQL reads a large report's answers over two connections at once, each packing the answers of
half of the items (analysis.selectors._split_read). The report must be the one a single
read gives, computed from one consistent state of the answers even while labelers keep answering, and
a helper connection that cannot share the snapshot must not cost the report anything but time."""

import threading

import numpy as np
import psycopg
import pytest
from django.db import connection

from analysis import selectors
from analysis.reports import build_agreement_report
from labeling.models import Annotation, Item
from tests.conftest import make_project, make_user

pytestmark = pytest.mark.django_db(transaction=True)

N_ITEMS, N_LABELERS = 400, 3


def _answers(manager, settings, n_items, name="Split"):
    if connection.vendor != "postgresql":
        pytest.skip("the split read is PostgreSQL's")
    settings.LABELHUB_ANSWER_READ_SPLIT_MIN = 0
    project = make_project(manager, name=name, classes=[{"key": k} for k in ("a", "b", "c")])
    items = Item.objects.bulk_create(
        Item(project=project, text=f"item {i}", sha256=f"{i:064x}") for i in range(n_items)
    )
    labelers = [make_user(f"{name.lower()}{r}") for r in range(N_LABELERS)]
    rng = np.random.default_rng(7)
    Annotation.objects.bulk_create(
        Annotation(
            item=item,
            labeler=labeler,
            value="abcx"[rng.integers(0, 4)],
            borderline=bool(i % 17 == 0),
            uncertain=bool(i % 23 == 0),
            seconds=None if i % 11 == 0 else float(rng.integers(1, 30)),
        )
        for i, item in enumerate(items)
        for labeler in labelers
    )
    Annotation.objects.filter(item=items[5]).update(updated="1969-12-31T23:59:59.5+00:00")
    return project


@pytest.fixture
def many_answers(manager, settings):
    """1,200 answers, flags, a NULL duration and a pre-1970 date included; every read is split, however
    small."""
    return _answers(manager, settings, N_ITEMS)


def _rows(table):
    """The answers as sorted rows (the parts arrive in page order; nothing depends on the order)."""
    columns = [table.item, table.labeler, table.code, table.flags, table.seconds, table.guideline, table.day]
    order = np.lexsort((table.labeler, table.item))
    return [np.asarray(c)[order] for c in columns]


def _single_read(project, settings):
    settings.LABELHUB_ANSWER_READ_CONNECTIONS = 1
    try:
        return selectors.answer_table(project=project)
    finally:
        settings.LABELHUB_ANSWER_READ_CONNECTIONS = 2


def _spy_parts(monkeypatch):
    """Counts the answers each connection packed: [(answers, on a helper connection?), ...]."""
    parts = []
    packed_part = selectors._packed_part

    def counted(raw, query, columns, where=""):
        part = packed_part(raw, query, columns, where)
        parts.append((part[0], raw is not connection.connection))
        return part

    monkeypatch.setattr(selectors, "_packed_part", counted)
    return parts


def test_two_connections_read_the_answers_one_connection_reads(many_answers, settings, monkeypatch):
    single = _single_read(many_answers, settings)
    parts = _spy_parts(monkeypatch)
    split = selectors.answer_table(project=many_answers)
    # Both connections packed a share of the pages, and together every answer once.
    assert len(parts) == 2 and all(n > 0 for n, _ in parts) and sorted(h for _, h in parts) == [False, True]
    assert len(split) == len(single) == N_ITEMS * N_LABELERS
    for got, expected in zip(_rows(split), _rows(single), strict=True):
        np.testing.assert_array_equal(got, expected)
    assert _rounded(build_agreement_report(split)) == _rounded(build_agreement_report(single))


def _rounded(value):
    """The report with its floats to 12 significant digits: the bootstrap's BLAS sums can differ in
    the last bits with the memory alignment of their arrays, whoever read the answers."""
    if isinstance(value, float):
        return float(f"{value:.12g}")
    if isinstance(value, dict):
        return {k: _rounded(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_rounded(v) for v in value]
    return value


def test_answers_saved_during_the_read_are_not_half_in_it(many_answers, settings, monkeypatch):
    """Labelers keep answering while a worker reads: an answer saved after the read began is in no
    part, and an answer changed meanwhile is read as it was, whichever connection reads its page."""
    before = _single_read(many_answers, settings)
    dsn = connection.get_connection_params()
    connect = psycopg.connect
    user = make_user("latecomer")

    def connect_after_a_labeler_answers(*args, **kwargs):
        # Between the main connection's snapshot and the helper's import of it: a new labeler answers
        # every item, and every answer to item 0 changes (its new row versions land on other pages).
        assert threading.current_thread().name.startswith("answers-read")
        with connect(**dsn, autocommit=True) as other:
            other.execute(
                "INSERT INTO labeling_annotation (item_id, labeler_id, value, borderline, borderline_with,"
                " uncertain, out_of_domain, comment, seconds, revision, created, updated)"
                " SELECT id, %s, 'a', false, '', false, false, '', 1, 1, now(), now()"
                " FROM labeling_item WHERE project_id = %s",
                [user.pk, many_answers.pk],
            )
            other.execute(
                "UPDATE labeling_annotation SET value = 'c', seconds = 99"
                " WHERE item_id = (SELECT min(id) FROM labeling_item WHERE project_id = %s)",
                [many_answers.pk],
            )
        return connect(*args, **kwargs)

    monkeypatch.setattr(psycopg, "connect", connect_after_a_labeler_answers)
    parts = _spy_parts(monkeypatch)
    during = selectors.answer_table(project=many_answers)
    assert sorted(h for _, h in parts) == [False, True]
    for got, expected in zip(_rows(during), _rows(before), strict=True):
        np.testing.assert_array_equal(got, expected)
    monkeypatch.setattr(psycopg, "connect", connect)
    after = selectors.answer_table(project=many_answers)
    assert len(after) == len(before) + N_ITEMS  # the next report sees them


def test_a_helper_that_cannot_share_the_snapshot_leaves_its_part_to_the_main_connection(
    many_answers, settings, monkeypatch
):
    """A pooler that cannot hand the snapshot over (statement mode, several servers) or a refused
    connection: the main connection reads every part itself, under its one snapshot."""
    single = _single_read(many_answers, settings)

    def refused(*args, **kwargs):
        raise psycopg.OperationalError("connection refused")

    monkeypatch.setattr(psycopg, "connect", refused)
    parts = _spy_parts(monkeypatch)
    table = selectors.answer_table(project=many_answers)
    assert [h for _, h in parts] == [False, False] and all(n > 0 for n, _ in parts)
    for got, expected in zip(_rows(table), _rows(single), strict=True):
        np.testing.assert_array_equal(got, expected)


def test_a_read_inside_a_transaction_stays_on_its_connection(many_answers, monkeypatch):
    """Another connection would not see what the transaction wrote: the read is not split."""
    from django.db import transaction

    parts = _spy_parts(monkeypatch)
    with transaction.atomic():
        Annotation.objects.filter(item__project=many_answers).update(value="a", borderline=False, uncertain=False)
        table = selectors.answer_table(project=many_answers)
    assert [h for _, h in parts] == [False]
    assert len(table) == N_ITEMS * N_LABELERS and (table.code == 0).all()


def test_answers_written_after_others_are_still_shared_out_evenly(manager, settings, monkeypatch):
    """A project whose answers all lie after another's in the table (here: after pages of deleted
    answers): each connection still packs half of them."""
    if connection.vendor != "postgresql":
        pytest.skip("the split read is PostgreSQL's")
    earlier = _answers(manager, settings, 600)
    Item.objects.filter(project=earlier).delete()  # dead rows in the first pages until a vacuum
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_relation_size('labeling_annotation') / current_setting('block_size')::int")
        first_pages = cursor.fetchone()[0]
    project = _answers(manager, settings, 40, name="Later")
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT min((a.ctid::text::point)[0]) FROM labeling_annotation a JOIN labeling_item i ON"
            " a.item_id = i.id WHERE i.project_id = %s",
            [project.pk],
        )
        assert cursor.fetchone()[0] >= first_pages - 1  # all after the deleted ones
    single = _single_read(project, settings)
    parts = _spy_parts(monkeypatch)
    split = selectors.answer_table(project=project)
    assert sorted(parts) == [(20 * N_LABELERS, False), (20 * N_LABELERS, True)]
    for got, expected in zip(_rows(split), _rows(single), strict=True):
        np.testing.assert_array_equal(got, expected)


def test_a_server_that_cannot_export_a_snapshot_is_read_on_one_connection(many_answers, settings, monkeypatch):
    single = _single_read(many_answers, settings)
    monkeypatch.setattr(selectors, "_EXPORT_SNAPSHOT", "SELECT no_such_function(%s)")
    parts = _spy_parts(monkeypatch)
    table = selectors.answer_table(project=many_answers)
    assert parts == [(N_ITEMS * N_LABELERS, False)]
    for got, expected in zip(_rows(table), _rows(single), strict=True):
        np.testing.assert_array_equal(got, expected)


def test_each_part_is_planned_as_the_share_of_the_answers_it_reads(many_answers, monkeypatch):
    """The planner took a part for 0.5 % of the answers (its default for "expression = constant"): it
    then hashed the part's answers instead of the project's items and ran it with parallel workers, for
    half as much database CPU again on a million answers. Each part is estimated at about half of them now."""
    wheres = []
    packed_part = selectors._packed_part

    def spied(raw, query, columns, where=""):
        wheres.append((query, where))
        return packed_part(raw, query, columns, where)

    monkeypatch.setattr(selectors, "_packed_part", spied)
    selectors.answer_table(project=many_answers)
    assert len(wheres) == 2
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE labeling_annotation, labeling_item")

        def estimate(sql):
            cursor.execute(f"EXPLAIN (FORMAT JSON) {sql}")
            return cursor.fetchone()[0][0]["Plan"]["Plan Rows"]

        whole = estimate(f"SELECT * FROM ({wheres[0][0]}) q")
        assert whole == pytest.approx(N_ITEMS * N_LABELERS, rel=0.1)
        for query, where in wheres:
            assert estimate(f"SELECT * FROM ({query}) q {where}") >= whole / 4
