"""A figure labeled "percent agreement" reads as a percent on the pages (66.7 %, not 0.667); the API and
the ``data-value`` attributes keep the fraction."""

import re

import pytest

from labeling.models import Item
from labeling.services.campaigns import campaign_create
from labeling.services.projects import member_add
from tests.labeling.version_helpers import add_texts, answer, labelers, text_project

pytestmark = pytest.mark.django_db


def _text(html):
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", html)).strip()


def test_percent_agreement_reads_as_a_percent_on_the_agreement_and_campaign_pages(api, client, manager, reviewer):
    project = text_project(manager, overlap=2)
    member_add(project=project, username=reviewer.username, role="reviewer")
    a, b = labelers(project, 2)
    same_cat, differ, same_dog = add_texts(project, ["x0", "x1", "x2"])
    for item, values in ((same_cat, ("cat", "cat")), (differ, ("cat", "dog")), (same_dog, ("dog", "dog"))):
        for user, value in zip((a, b), values, strict=True):
            answer(item, user, value)
    # By hand: two items of three agree, the third's one pair does not: 2/3.
    assert api(reviewer).get(f"/api/projects/{project.pk}/agreement/").json()["percent_agreement"][
        "value"
    ] == pytest.approx(2 / 3)
    client.force_login(reviewer)
    page = client.get(f"/projects/{project.pk}/agreement/").content.decode()
    headline = re.search(r'data-metric="percent_agreement" data-value="([^"]+)">([^<]*)<', page)
    assert float(headline.group(1)) == pytest.approx(2 / 3) and headline.group(2) == "66.7 %"
    by_guideline = page[page.index('id="by-guideline"') :].split("</table>")[0]
    assert re.search(r'data-measure="percent_agreement">66.7 %<', by_guideline), by_guideline
    over_time = page[page.index('id="over-time-values"') :].split("</table>")[0]
    assert "66.7 %" in _text(over_time) and "0.667" not in over_time

    campaign = campaign_create(project=project, name="again", item_ids=[differ.pk], overlap=2, user=manager)
    for user in (a, b):
        answer(Item.objects.get(pk=differ.pk), user, "dog")
    # By hand: before cat/dog (0), since dog/dog (1), new against archived: 2 of 4 pairs agree.
    progress = api(reviewer).get(f"/api/projects/{project.pk}/campaigns/{campaign.pk}/").json()["progress"]
    assert progress["before"]["agreement"] == 0 and progress["after"]["agreement"] == 1
    assert progress["versus_archived"]["agreement"] == 0.5
    page = client.get(f"/projects/{project.pk}/campaigns/{campaign.pk}/").content.decode()
    shown = dict(re.findall(r'data-metric="(before|after|versus-archived)">([^<]*)<', page))
    assert shown == {"before": "0 %", "after": "100 %", "versus-archived": "50 %"}
    assert re.search(
        r'data-metric="done">1 / 1</span><span class="label">items relabeled \(2 new answers each\)<', page
    )
    listing = client.get(f"/projects/{project.pk}/campaigns/").content.decode()
    assert re.search(r'data-measure="agreement">0 % → 100 %<', listing), listing


def test_the_over_time_chart_reads_in_percent_and_its_ticks_stand_clear_of_the_first_point(client, manager, reviewer):
    """The chart beside percents read its axis 0 and 1; it reads 0 % and 100 %, its tick labels
    right-aligned before the first point's dot (they sat at x 2 to 28, under a dot drawn at 28)."""
    project = text_project(manager, overlap=2)
    member_add(project=project, username=reviewer.username, role="reviewer")
    a, b = labelers(project, 2)
    for item in add_texts(project, ["t0", "t1"]):
        for user in (a, b):
            answer(item, user, "cat")
    client.force_login(reviewer)
    page = client.get(f"/projects/{project.pk}/agreement/").content.decode()
    chart = page[page.index('id="over-time"') :].split("</svg>")[0]
    ticks = re.findall(r'<text x="([\d.]+)"[^>]*class="tick"([^>]*)>([^<]*)</text>', chart)
    assert [text for _, _, text in ticks] == ["0 %", "100 %"]
    first_dot = float(re.search(r'<circle cx="([\d.]+)"', chart).group(1))
    for x, attributes, _ in ticks:
        assert 'text-anchor="end"' in attributes and float(x) < first_dot - 3.5


def test_the_campaign_pages_gold_figure_reads_as_a_percent_of_answers(client, manager, reviewer):
    """The share of answers matching gold sat as a fraction (0.500 → 1.000) beside percents. By hand:
    before, one of the two archived answers matched gold cat (50 %); after, both new ones (100 %)."""
    from labeling.services.review import decision_record

    project = text_project(manager, overlap=2)
    member_add(project=project, username=reviewer.username, role="reviewer")
    a, b = labelers(project, 2)
    (item,) = add_texts(project, ["g"])
    answer(item, a, "cat")
    answer(item, b, "dog")
    decision_record(item=Item.objects.get(pk=item.pk), reviewer=reviewer, label="cat", gold=True)
    campaign = campaign_create(project=project, name="again", item_ids=[item.pk], overlap=2, user=manager)
    for user in (a, b):
        answer(Item.objects.get(pk=item.pk), user, "cat")
    client.force_login(reviewer)
    page = client.get(f"/projects/{project.pk}/campaigns/{campaign.pk}/").content.decode()
    shown = re.search(r'data-metric="gold">([^<]*)<', page).group(1)
    assert shown == "50 % → 100 %"
    assert "percent matching" in page


def test_the_dashboards_uncertain_chart_reads_in_percent(client, manager):
    """The uncertain and out-of-domain chart's axis and values are percents of answers, shown bare: one
    uncertain answer of four read "25" in its values table and its top tick "50" with no unit, and on the
    demo digits "0.556" and "1" (0.556 % and 1 %), read as a share of one. By hand: 1 of 4 answers is 25 %."""
    project = text_project(manager, overlap=2)
    a, b = labelers(project, 2)
    first, second = add_texts(project, ["u0", "u1"])
    answer(first, a, "cat", uncertain=True)
    for item, user in ((first, b), (second, a), (second, b)):
        answer(item, user, "cat")
    client.force_login(manager)
    page = client.get(f"/projects/{project.pk}/dashboard/").content.decode()
    chart = page[page.index('aria-label="uncertain and out-of-domain answers per week"') :]
    svg, values = chart.split("</svg>", 1)
    ticks = re.findall(r'class="tick" text-anchor="end">([^<]*)</text>', svg)
    assert ticks[:2] == ["0 %", "50 %"], ticks
    dots = re.findall(r"<title>[^<]*: ([^<]*)</title></circle>", svg)
    assert dots == ["25 %", "0 %"], dots
    cells = re.findall(r'<td class="num">([^<]*)</td>', values.split("</details>", 1)[0])
    assert cells == ["25 %", "0 %"], cells
