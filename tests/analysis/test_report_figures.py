"""Reports that fit the screen (issue 15, point 5): numbers for people, money with its significant
digits, large matrices folded, axes that are neither cut off nor in scientific notation."""

import re

import pytest
from django.template import Context, Template

from analysis.charts import fold_matrix, human_number, interval_bars, line_chart, money, overlaid_histogram
from labeling.models import Item
from labeling.services.annotations import annotation_save
from labeling.services.imports import ImportEntry, items_import
from labeling.services.projects import member_add
from tests.conftest import make_project, make_user


@pytest.mark.parametrize(
    "value, shown",
    [
        (18_000, "18k"),
        (18_400, "18k"),
        (1_234, "1.2k"),
        (184_000, "184k"),
        (999_999, "1M"),
        (1_200_000, "1.2M"),
        (3_500_000_000, "3.5B"),
        (950, "950"),
        (12.5, "12.5"),
        (0.18, "0.18"),
        (0.004, "0.004"),
        (0.123456, "0.123"),
        (0, "0"),
        (-2_500, "-2.5k"),
        (None, "—"),
        (float("nan"), "—"),
    ],
)
def test_numbers_are_formatted_for_people(value, shown):
    assert human_number(value) == shown


@pytest.mark.parametrize(
    "value, shown",
    [
        (200 / 50_000, "0.004 USD"),  # the case: not "0.00 USD"
        (200, "200 USD"),
        (0.0041667, "0.0042 USD"),
        (200 / 5_000_000, "0.00004 USD"),
        (0.5, "0.50 USD"),
        (0.25, "0.25 USD"),
        (12.5, "12.50 USD"),
        (5, "5.00 USD"),
        (12_345.67, "12,346 USD"),
        (0, "0 USD"),
        (None, "—"),
    ],
)
def test_money_keeps_its_significant_digits(value, shown):
    assert money(value, "USD") == shown


def test_template_filters_format_numbers_and_money():
    from decimal import Decimal

    out = Template("{% load figures %}{{ n|human }} / {{ c|money:'EUR' }} / {{ none|money }}").render(
        Context({"n": 18_400, "c": Decimal("0.0040"), "none": None})
    )
    assert out == "18k / 0.004 EUR / —"


def test_a_small_matrix_is_kept_and_classes_without_answers_are_left_out():
    names, matrix, folded = fold_matrix(["a", "b", "c"], [[4, 1, 0], [1, 2, 0], [0, 0, 0]])
    assert (names, matrix, folded) == (["a", "b"], [[4, 1], [1, 2]], [])


def test_a_large_matrix_keeps_the_top_classes_and_folds_the_rest():
    n = 17
    classes = [f"t{i}" for i in range(n)]
    weights = [100 - i for i in range(n)]
    weights[3] = 1  # a rare class in the middle is folded; the order of the kept ones stays
    counts = [[(i + 1) * (j + 1) for j in range(n)] for i in range(n)]
    names, matrix, folded = fold_matrix(classes, counts, weights=weights, limit=12, noun="transcripts")
    assert names[:3] == ["t0", "t1", "t2"] and names[3] == "t4" and names[-1] == "other (5 transcripts)"
    assert len(names) == len(matrix) == 13 and all(len(row) == 13 for row in matrix)
    assert set(folded) == {"t3", "t13", "t14", "t15", "t16"}
    # Nothing is lost: the folded matrix sums to the whole, and "other" sums the folded rows and columns.
    assert sum(map(sum, matrix)) == sum(map(sum, counts))
    rest = [3, 13, 14, 15, 16]
    assert matrix[-1][-1] == sum(counts[i][j] for i in rest for j in rest)
    assert matrix[0][-1] == sum(counts[0][j] for j in rest)


def test_axes_are_human_and_leave_room_for_their_labels():
    svg = line_chart([{"label": "items", "css": "s1", "points": [(0, 0), (30, 18_400)]}], x_label="days")
    ticks = re.findall(r'class="tick"[^>]*>([^<]*)<', svg)
    assert "18k" in ticks and not any("e+" in t for t in ticks)
    # The y ticks are drawn right-aligned at pad_left - 4: wide enough for "18k" at the tick font.
    pad_left = float(re.search(r'<line x1="([\d.]+)"', svg).group(1))
    assert pad_left - 4 >= len("18k") * 6
    long = "a rather long slice name that goes on and on"
    svg = interval_bars(
        [{"label": long, "values": {"v": 0.5}}, {"label": "b", "values": {"v": 0.7}}], series=[("v", "value", "x")]
    )
    label = re.search(r'class="tick label" text-anchor="end">([^<]*)<title>([^<]*)</title>', svg)
    assert label.group(1).endswith("…") and label.group(2) == long
    x = float(re.search(r'<text x="([\d.]+)" y="[\d.]+" class="tick label"', svg).group(1))
    assert x >= len(label.group(1)) * 6  # the cut label fits to the left of the plot
    hist = overlaid_histogram({"edges": [0, 9_000, 18_000], "baseline": [0.5, 0.5], "current": [0.4, 0.6]})
    assert ">18k<" in hist and "e+" not in hist


def test_axes_end_on_round_numbers_and_a_single_week_has_no_stray_end_label():
    # the error analysis page's weighted gap: symmetric around the largest gap, -0.0864 .. 0.0864
    svg = interval_bars(
        [{"label": "faint", "values": {"w": -0.004}}, {"label": "all", "values": {"w": -0.0864}}],
        series=[("w", "weighted gap", "gap")],
        domain=(-0.0864, 0.0864),
    )
    ticks = re.findall(r'class="tick" text-anchor="\w+">([^<]*)<', svg)
    assert ticks == ["-0.1", "-0.05", "0", "0.05", "0.1"]
    assert interval_bars([{"label": "a", "values": {"v": 0.5}}], series=[("v", "v", "x")]).count('class="tick"') >= 5
    # the dashboard's uncertain answers in the first week: the x label names the week, nothing else
    svg = line_chart(
        [{"label": "uncertain", "css": "s1", "points": [(0, 0.0056)]}], x_label="week of 2026-11-30", y_max=0.0056
    )
    x_axis = re.findall(r'y="196" class="tick"[^>]*>([^<]*)<', svg)
    assert x_axis == ["week of 2026-11-30", ""]
    two_weeks = [(0, 0.0056), (1, 0.01)]
    svg = line_chart(
        [{"label": "u", "css": "s1", "points": two_weeks}], x_label="week of 2026-11-30", x_end="2026-12-07"
    )
    assert re.findall(r'y="196" class="tick"[^>]*>([^<]*)<', svg) == ["week of 2026-11-30", "2026-12-07"]


def test_a_drift_histograms_shares_can_be_read_without_hovering_its_bars():
    # Each bin's share was only in a bar's tooltip of an image-role chart: a keyboard or screen-reader
    # user could read none of them.
    hist = str(
        overlaid_histogram(
            {"edges": [0, 9_000, 18_000], "baseline": [0.5, 0.5], "current": [0.25, 0.75]}, label="brightness"
        )
    )
    tooltips = re.findall(r"<title>(\w+) ([^<]*): ([^<]*)</title>", hist)
    assert ("baseline", "0–9k", "50.0%") in tooltips and ("current", "9k–18k", "75.0%") in tooltips
    table = hist[hist.index("<table") :]
    assert "<caption" in table and "brightness: share of items per bin" in table
    cell = r"<td class=\"num\">([^<]*)</td>"
    rows = re.findall(r"<tr><th scope=\"row\">([^<]*)</th>" + cell + cell, table)
    assert rows == [("0–9k", "50.0%", "25.0%"), ("9k–18k", "50.0%", "75.0%")]
    # a bin empty on one side says 0.0 %, as its missing bar does
    empty = str(overlaid_histogram({"edges": [0, 1, 2], "baseline": [1.0, 0.0], "current": [0.0, 1.0]}))
    assert re.findall(r'<td class="num">([^<]*)</td>', empty) == ["100.0%", "0.0%", "0.0%", "100.0%"]


@pytest.fixture
def many_transcripts(manager, reviewer):
    """A transcription project with 17 different transcripts (two answers each on 17 clips), one of
    them only ever given with "uncertain" (an "uncertain" answer, never a transcript with 0 answers)."""
    project = make_project(
        manager, name="Chatter", modality="text", task_type="transcription", options={"uncertain": True}
    )
    member_add(project=project, username=reviewer.username, role="reviewer")
    raters = [make_user("scribe1"), make_user("scribe2")]
    for user in raters:
        member_add(project=project, username=user.username, role="labeler")
    ids = items_import(
        project=project, entries=[ImportEntry(name=f"c{i}", text=f"clip {i}") for i in range(18)]
    ).imported
    for i, pk in enumerate(ids[:17]):
        item = Item.objects.get(pk=pk)
        annotation_save(item=item, labeler=raters[0], value=f"transcript number {i} of a long spoken query")
        annotation_save(item=item, labeler=raters[1], value=f"transcript number {(i + 1) % 17} of a long spoken query")
    annotation_save(item=Item.objects.get(pk=ids[17]), labeler=raters[0], value="never counted", uncertain=True)
    return project


def test_the_agreement_page_folds_17_transcripts_and_lists_none_with_0_answers(client, reviewer, many_transcripts):
    client.force_login(reviewer)
    response = client.get(f"/projects/{many_transcripts.pk}/agreement/")
    assert response.status_code == 200
    matrix = response.context["confusion_matrix"]
    assert len(matrix["classes"]) == 13 and matrix["classes"][-1].startswith("other (")
    assert "never counted" not in matrix["classes"] + matrix["folded"]
    rows, other = response.context["per_class_rows"], response.context["per_class_other"]
    assert len(rows) == 12 and all(row["n_answers"] > 0 for row in rows)
    assert other["name"] == "other (6 transcripts)" and other["n_answers"] == 35 - sum(r["n_answers"] for r in rows)
    page = response.content.decode()
    assert "other (6 transcripts)" in page and "never counted" not in page.split('id="report-data"')[0]
    # The report itself still knows the transcript nobody gave (its one answer was "uncertain").
    answers = {c["class"]: c["n_answers"] for c in response.context["report"]["per_class"]}
    assert answers["never counted"] == 0


def test_the_planning_page_shows_a_cost_of_200_usd_for_50000_items(client, manager):
    from labeling.services.sources import source_create

    project = make_project(manager, name="Costly")
    source_create(project=project, name="vendor", kind="purchased", planned_amount=50_000, total_cost=200)
    client.force_login(manager)
    page = client.get(f"/projects/{project.pk}/planning/").content.decode()
    assert "0.004 USD" in page and "0.00 USD" not in page
    inventory = client.get(f"/projects/{project.pk}/inventory/").content.decode()
    assert "0.004 USD/item" in inventory and "200 USD" in inventory
