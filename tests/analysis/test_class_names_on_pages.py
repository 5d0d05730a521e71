"""Pages read a class by its name wherever a person reads it (heatmaps, confusion matrices, version class
counts, the per-class tables, the review queue), as the digits demo's classes "1" ("one") show; the API
and the ``data-`` attributes keep the keys."""

import re

import pytest

from labeling.services.projects import member_add
from tests.conftest import make_project
from tests.labeling.version_helpers import add_texts, answer, build, labelers

pytestmark = pytest.mark.django_db

DIGITS = [{"key": "1", "name": "one"}, {"key": "4", "name": "four"}, {"key": "9", "name": "nine"}]


def _section(page, section_id):
    """The HTML of the element with this id, up to its section's end."""
    start = page.index(f'id="{section_id}"')
    return page[start : page.index("</section>", start)]


def _cells(html):
    """The text of every table header and cell."""
    return [re.sub(r"<[^>]+>", "", m).strip() for m in re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", html, flags=re.S)]


def _first_column(html):
    """The text of each body row's first cell (a class, in these tables)."""
    body = html[html.index("<tbody>") :]
    return [re.sub(r"<[^>]+>", "", m).strip() for m in re.findall(r"<tr[^>]*>\s*<t[hd][^>]*>(.*?)</t[hd]>", body)]


@pytest.fixture
def digits(manager, reviewer):
    """Three labelers who read some nines as fours, a model run and two versions (a nine relabeled)."""
    options = {"borderline": True, "uncertain": True, "out_of_domain": True}
    project = make_project(manager, name="Digits", modality="text", classes=DIGITS, options=options)
    member_add(project=project, username=reviewer.username, role="reviewer")
    users = labelers(project, 3)
    items = add_texts(project, [f"scan {i}" for i in range(9)])
    said = [("1", "1", "1"), ("4", "4", "4"), ("9", "9", "4"), ("9", "4", "9"), ("1", "1", "4")] + [("9", "9", "9")] * 4
    for item, values in zip(items, said, strict=True):
        for user, value in zip(users, values, strict=True):
            answer(item, user, value)
    first = build(project, manager)
    answer(items[3], users[2], "4")  # now 9, 4, 4: relabeled as four
    build(project, manager)
    from analysis.services.training import model_run_create

    guesses = ["1", "4", "9", "4", "1", "9", "4", "9", "9"]
    model_run_create(
        project=project, name="m", predictions=[{"item": i.pk, "label": g} for i, g in zip(items, guesses, strict=True)]
    )
    return project, first


def test_the_agreement_heatmap_reads_class_names_as_the_table_beside_it(client, reviewer, digits):
    project, _ = digits
    client.force_login(reviewer)
    page = client.get(f"/projects/{project.pk}/agreement/").content.decode()
    heatmap = _cells(_section(page, "confusion"))
    per_class = _cells(_section(page, "per-class"))
    assert {"one", "four", "nine"} <= set(heatmap) and {"one", "four", "nine"} <= set(per_class)
    assert not {"1", "4", "9"} & set(heatmap[:4])  # the header row names no key
    assert 'data-class="9"' in page  # machine-readable attributes keep the keys


def test_the_error_analysis_reads_class_names(client, reviewer, digits):
    project, _ = digits
    client.force_login(reviewer)
    page = client.get(f"/projects/{project.pk}/error-analysis/").content.decode()
    classes = _section(page, "classes")
    assert re.search(r'data-class="4"[^>]*>\s*<td>four</td>', classes), classes
    matrix = _cells(_section(page, "model-confusion"))
    assert {"one", "four", "nine"} <= set(matrix) and not {"1", "4", "9"} & set(matrix[:4])


def test_version_pages_read_class_names(client, reviewer, digits):
    project, first = digits
    client.force_login(reviewer)
    page = client.get(f"/projects/{project.pk}/versions/2/").content.decode()
    distribution = _first_column(page[page.index('id="distribution"') :].split("</table>")[0])
    assert sorted(distribution) == ["four", "nine", "one"]
    splits = _first_column(page[page.index('id="split-classes"') :].split("</table>")[0])
    assert sorted(splits) == ["four", "nine", "one"]
    diff = client.get(f"/projects/{project.pk}/versions/2/diff/?against={first.number}").content.decode()
    per_class = _first_column(diff[diff.index('id="class-changes"') :].split("</table>")[0])
    assert set(per_class) <= {"one", "four", "nine"} and {"four", "nine"} <= set(per_class)
    relabeled = _cells(diff[diff.index('id="relabeled"') :].split("</table>")[0])
    assert relabeled[-3:-1] == ["nine", "four"]


def test_the_review_queue_reads_class_names(client, reviewer, digits):
    project, _ = digits
    client.force_login(reviewer)
    page = client.get(f"/projects/{project.pk}/review/").content.decode()
    assert "lab0</b>: nine" in page and "lab0</b>: 9" not in page


def test_the_review_queues_class_pair_takes_class_names_and_names_them_when_it_cannot(api, client, reviewer, digits):
    # the box took keys only ("4,9"): "four,nine", as the page reads them, was "unknown class 'four'
    # (the project's classes: 1, 4, 9)"
    project, _ = digits
    url = f"/api/projects/{project.pk}/review-queue/"
    by_keys = api(reviewer).get(url, {"classes": "4,9"}).json()["results"]
    assert by_keys
    for pair in ("four,nine", "nine, four", "Four,9"):
        response = api(reviewer).get(url, {"classes": pair})
        assert response.status_code == 200, (pair, response.content)
        assert response.json()["results"] == by_keys, pair
    client.force_login(reviewer)
    page = client.get(f"/projects/{project.pk}/review/", {"classes": "four,nine"}).content.decode()
    assert all(f'data-item="{row["item"]}"' in page for row in by_keys)
    assert 'placeholder="e.g. one,four"' in page  # the box's example reads names too
    page = client.get(f"/projects/{project.pk}/review/", {"classes": "four,ten"}).content.decode()
    assert "unknown class &#x27;ten&#x27; (the project&#x27;s classes: four, nine, one)" in page
    bad = api(reviewer).get(url, {"classes": "four,ten"})
    assert bad.status_code == 400 and "(the project's classes: four, nine, one)" in bad.json()["classes"][0]
    same = api(reviewer).get(url, {"classes": "four,4"})
    assert same.status_code == 400 and "two different classes" in same.json()["classes"][0]


def test_the_review_page_reads_class_names_as_its_decision_buttons(client, manager, reviewer):
    """The item's review page named classes by key ("9", "4") in its answers, earlier answers, decisions,
    imported label and "decided already" banner, while its buttons, the queue and the agreement page read
    "nine", "four"."""
    from labeling.services.campaigns import campaign_create
    from labeling.services.review import decision_record

    options = {"borderline": True, "uncertain": True, "out_of_domain": True}
    project = make_project(manager, name="Digits", modality="text", classes=DIGITS, options=options)
    member_add(project=project, username=reviewer.username, role="reviewer")
    a, b, c = labelers(project, 3)
    (item,) = add_texts(project, ["scan 0"])
    item.label = "9"
    item.save(update_fields=["label"])
    answer(item, a, "1")
    campaign_create(project=project, name="Again", item_ids=[item.pk], overlap=1, user=manager)
    answer(item, b, "9", borderline=True, borderline_with="4")
    answer(item, c, "4")
    decision_record(item=item, reviewer=reviewer, label="4", rationale="the loop is open")
    client.force_login(reviewer)
    page = client.get(f"/projects/{project.pk}/review/{item.pk}/").content.decode()
    current = _cells(page[page.index('id="answers"') :].split("</table>")[0])
    assert "nine / four" in current and "four" in current and not {"9", "4", "9 / 4"} & set(current), current
    earlier = _cells(page[page.index('id="archived-answers"') :].split("</table>")[0])
    assert "one" in earlier and "1" not in earlier, earlier
    decisions = page[page.index('id="decisions"') :].split("</ul>")[0]
    assert ": four" in decisions and ": 4" not in decisions, decisions
    assert "imported label <b>nine</b>" in page
    assert "label &#x27;four&#x27;" in page  # the "decided already" banner
    assert 'data-label="4"' in page  # the buttons still send keys


def test_the_training_page_reads_class_names_in_its_per_class_tables(client, reviewer, digits):
    """A training job's per-split tables named each class by its key ("9") where every other page reads
    "nine"."""
    from labeling.models import TrainingJob

    project, first = digits
    metrics = {
        "dev": {
            "n": 3,
            "accuracy": 1.0,
            "macro_f1": 1.0,
            "classes": [
                {"class": key, "precision": 1.0, "recall": 1.0, "f1": 1.0, "support": 1} for key in ("1", "4", "9")
            ],
        }
    }
    TrainingJob.objects.create(project=project, version=first, trainer="logistic_regression", metrics=metrics)
    client.force_login(reviewer)
    page = client.get(f"/projects/{project.pk}/training/").content.decode()
    table = page[page.index("training-job") :].split("</table>")[0]
    assert _first_column(table) == ["one", "four", "nine"]
