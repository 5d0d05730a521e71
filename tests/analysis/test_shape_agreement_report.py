"""The agreement report of detection and segments projects: box / segment F1 with its interval, mean
IoU, per class, per labeler (F1 and mAP@0.5 against the others' consensus), split/merge items, the IoU
threshold as a parameter, filters, roles, the page with its pictures, and the CSV."""

import csv
import io
import re
from html import unescape

import pytest

from analysis.metrics.shapes import box_f1, segment_f1, shape_table
from analysis.models import AgreementReport
from labeling.choices import Role
from labeling.models import Annotation, Item
from labeling.services.annotations import annotation_save
from labeling.services.guidelines import guideline_publish
from labeling.services.imports import ImportEntry, items_import
from labeling.services.projects import member_add
from tests.conftest import make_project, make_user, png_bytes
from tests.labeling.queue_helpers import make_items

pytestmark = pytest.mark.django_db


def box(x, y, w, h, label="iguana"):
    return {"x": x, "y": y, "w": w, "h": h, "label": label}


# The iguana case of tests/analysis/metrics/test_shapes.py, drawn by labeler1 (one box round both
# iguanas), labeler2 (two boxes) and labeler3 (two boxes, the left one's tail left out). Worked by hand
# there: at IoU 0.5, F1 = 4 / 10 = 0.4 and mean IoU 0.9; at IoU 0.3, F1 = 0.8; labeler1's one box covers
# both boxes of labeler2 and of labeler3.
IGUANA = {
    "labeler1": [box(0.10, 0.2, 0.62, 0.4)],
    "labeler2": [box(0.10, 0.2, 0.25, 0.4), box(0.40, 0.2, 0.30, 0.4)],
    "labeler3": [box(0.15, 0.2, 0.20, 0.4), box(0.40, 0.2, 0.30, 0.4)],
}
# A second image, outside the "iguanas" slice: two labelers agree on a rock, the third draws nothing.
ROCK = {
    "labeler1": [box(0.5, 0.5, 0.2, 0.2, "rock")],
    "labeler2": [box(0.52, 0.5, 0.2, 0.2, "rock")],
    "labeler3": [],
}


def make_iguana_project(manager, reviewer, labeler, labeler2):
    """Two images: the iguana one (tagged "iguanas") and the rock one, answered by three labelers."""
    project = make_project(
        manager,
        name="Iguanas",
        modality="image",
        task_type="detection",
        classes=[{"key": "iguana", "name": "Iguana"}, {"key": "rock", "name": "Rock"}],
    )
    member_add(project=project, username=reviewer.username, role=Role.REVIEWER)
    labeler3 = make_user("labeler3")
    users = {u.username: u for u in (labeler, labeler2, labeler3)}
    for name in users:
        member_add(project=project, username=name, role=Role.LABELER)
    entries = [
        ImportEntry(name="iguana.png", load=lambda: png_bytes(size=(64, 40), seed=1), tags=["iguanas"]),
        ImportEntry(name="rock.png", load=lambda: png_bytes(size=(64, 40), seed=2)),
    ]
    iguana_id, rock_id = items_import(project=project, entries=entries).imported
    for item_id, answers in ((iguana_id, IGUANA), (rock_id, ROCK)):
        item = Item.objects.get(pk=item_id)
        for name, boxes in answers.items():
            annotation_save(item=item, labeler=users[name], value={"boxes": boxes}, seconds=4.0)
    project.iguana_id, project.rock_id = iguana_id, rock_id
    return project


@pytest.fixture
def iguanas(manager, reviewer, labeler, labeler2):
    return make_iguana_project(manager, reviewer, labeler, labeler2)


def url(project, query=""):
    return f"/api/projects/{project.pk}/agreement/{query}"


def test_box_report_reproduces_the_hand_worked_iguana(api, reviewer, iguanas):
    response = api(reviewer).get(url(iguanas, "?tag=iguanas"))
    assert response.status_code == 200, response.data
    report = response.json()
    assert report["task"] == "boxes" and report["iou"] == 0.5
    assert report["n_items"] == 1 and report["n_annotations"] == 3 and report["n_shapes"] == 5
    assert report["box_f1"] == {"value": pytest.approx(0.4), "ci_low": 0.4, "ci_high": 0.4}
    assert report["mean_iou"] == pytest.approx(0.9)
    assert report["split_merge"] == [
        {"item": iguanas.iguana_id, "one": "labeler1", "many": "labeler2", "n": 2},
        {"item": iguanas.iguana_id, "one": "labeler1", "many": "labeler3", "n": 2},
    ]
    by_name = {row["labeler"]: row for row in report["per_labeler"]}
    assert by_name["labeler2"]["f1"] == pytest.approx(0.8) and by_name["labeler2"]["mean_iou"] == pytest.approx(0.9)
    assert by_name["labeler1"]["f1"] == 0.0 and by_name["labeler1"]["map50"] == 0.0
    assert by_name["labeler1"]["n_answers"] == 1 and by_name["labeler2"]["n_shapes"] == 2
    assert by_name["labeler1"]["median_seconds"] == 4.0
    # Classification measures are not computed on the answers' JSON text.
    for key in ("percent_agreement", "fleiss_kappa", "krippendorff_alpha", "hlp"):
        assert report[key] == {"value": None, "ci_low": None, "ci_high": None} and key in report["reasons"]
    assert report["pairwise"] == [] and report["confusion"]["counts"] == []
    rock = next(row for row in report["per_class"] if row["class"] == "rock")
    assert rock["n_shapes"] == 0 and rock["f1"] is None  # nobody drew a rock in this slice


def test_box_report_equals_the_metric_function_on_the_same_answers(api, reviewer, iguanas):
    report = api(reviewer).get(url(iguanas)).json()
    rows = [(iguanas.iguana_id, name, {"boxes": b}) for name, b in IGUANA.items()]
    rows += [(iguanas.rock_id, name, {"boxes": b}) for name, b in ROCK.items()]
    expected = box_f1(shape_table(rows), n_resamples=200, seed=0)
    assert report["n_items"] == 2
    assert report["box_f1"] == {
        "value": pytest.approx(expected.f1.value),
        "ci_low": pytest.approx(expected.f1.low),
        "ci_high": pytest.approx(expected.f1.high),
    }
    assert report["mean_iou"] == pytest.approx(expected.mean_iou)
    assert report["n_matches"] == expected.n_matches and report["n_pairs"] == expected.n_pairs
    per_class = {row["class"]: row for row in report["per_class"]}
    assert per_class["rock"]["f1"] == pytest.approx(expected.per_class["rock"]["f1"])
    assert per_class["iguana"]["n_shapes"] == 5 and per_class["rock"]["n_shapes"] == 2
    for row in report["per_labeler"]:
        mine = expected.per_labeler[row["labeler"]]
        assert row["f1"] == pytest.approx(mine["f1"]) and row["map50"] == pytest.approx(mine["map50"])


def test_the_iou_threshold_changes_the_result_and_is_part_of_the_cache_key(api, reviewer, iguanas):
    client = api(reviewer)
    strict = client.get(url(iguanas, "?tag=iguanas")).json()
    loose = client.get(url(iguanas, "?tag=iguanas&iou=0.3")).json()
    assert strict["box_f1"]["value"] == pytest.approx(0.4)
    assert loose["box_f1"]["value"] == pytest.approx(0.8) and loose["iou"] == 0.3
    assert loose["mean_iou"] == pytest.approx((0.12 / 0.248 * 2 + 0.8 + 1) / 4)
    assert AgreementReport.objects.filter(project=iguanas).count() == 2
    again = client.get(url(iguanas, "?tag=iguanas&iou=0.3")).json()
    assert again["cached"] is True and again["box_f1"]["value"] == pytest.approx(0.8)


@pytest.mark.parametrize("value", ["0", "-0.1", "1.5", "abc", "nan", "inf"])
def test_a_bad_iou_is_a_400_naming_it(api, reviewer, iguanas, value):
    response = api(reviewer).get(url(iguanas, f"?iou={value}"))
    assert response.status_code == 400
    assert "iou" in response.json()


def test_iou_one_is_allowed(api, reviewer, iguanas):
    report = api(reviewer).get(url(iguanas, "?tag=iguanas&iou=1")).json()
    assert report["box_f1"]["value"] == pytest.approx(2 / 10)  # only B2 = C2 is an exact match


def test_iou_on_a_classification_project_is_a_400(api, reviewer, project):
    response = api(reviewer).get(url(project, "?iou=0.5"))
    assert response.status_code == 400 and "iou" in response.json()


def test_labelers_and_since_and_guideline_filters_hold(api, manager, reviewer, iguanas):
    client = api(reviewer)
    two = client.get(url(iguanas, "?tag=iguanas&labelers=labeler2,labeler3")).json()
    assert {row["labeler"] for row in two["per_labeler"]} == {"labeler2", "labeler3"}
    assert two["box_f1"]["value"] == pytest.approx(1.0) and two["split_merge"] == []
    assert client.get(url(iguanas, "?since=2999-01-01")).json()["box_f1"]["value"] is None
    # Under guideline v1, labeler1 redraws two boxes: that version agrees better than the answers before it.
    guideline_publish(project=iguanas, text="v1: two iguanas touching: two boxes", author=manager)
    annotation_save(
        item=Item.objects.get(pk=iguanas.iguana_id),
        labeler=Annotation.objects.get(item_id=iguanas.iguana_id, labeler__username="labeler1").labeler,
        value={"boxes": IGUANA["labeler2"]},
    )
    v1 = client.get(url(iguanas, "?guideline=1")).json()
    assert v1["n_annotations"] == 1 and v1["box_f1"]["value"] is None  # one answer: nothing to compare
    report = client.get(url(iguanas, "?tag=iguanas")).json()
    rows = {row["guideline"]: row for row in report["by_guideline"]}
    assert rows[1]["n_items"] == 1 and rows[1]["f1"]["value"] is None
    assert rows[None]["f1"]["value"] == pytest.approx(1.0)  # labeler2 and labeler3 alone before v1


def test_labelers_cannot_read_the_shape_report(api, client, labeler, outsider, iguanas):
    assert api(labeler).get(url(iguanas)).status_code == 403
    assert api(outsider).get(url(iguanas)).status_code == 404
    client.force_login(labeler)
    assert client.get(f"/projects/{iguanas.pk}/agreement/").status_code == 403
    assert client.get(f"/projects/{iguanas.pk}/agreement.csv").status_code == 403


def test_segment_report_gives_segment_f1(api, client, manager, reviewer, labeler, labeler2):
    project = make_project(manager, name="Speech", modality="audio", task_type="segments", classes=[{"key": "speech"}])
    member_add(project=project, username=reviewer.username, role=Role.REVIEWER)
    (item,) = make_items(project, 1, stats={"duration": 3.0})
    answers = {
        "labeler1": [{"start": 0.5, "end": 2.5, "label": "speech"}],
        "labeler2": [{"start": 0.5, "end": 1.4, "label": "speech"}, {"start": 1.6, "end": 2.5, "label": "speech"}],
    }
    for user in (labeler, labeler2):
        member_add(project=project, username=user.username, role=Role.LABELER)
        annotation_save(item=item, labeler=user, value={"segments": answers[user.username]})
    report = api(reviewer).get(url(project, "?iou=0.4")).json()
    expected = segment_f1(
        shape_table([(item.pk, n, {"segments": s}) for n, s in answers.items()], kind="segments"), iou=0.4
    )
    assert report["task"] == "segments" and "box_f1" not in report
    assert report["segment_f1"]["value"] == pytest.approx(expected.f1.value)
    assert report["split_merge"] == [{"item": item.pk, "one": "labeler1", "many": "labeler2", "n": 2}]
    # The page draws the split/merge item as a time bar: labeler1's segment over the 3 s clip above.
    client.force_login(reviewer)
    html = client.get(f"/projects/{project.pk}/agreement/?iou=0.4").content.decode()
    assert 'data-metric="segment_f1"' in html and 'class="time-bar"' in html
    assert 'class="shape one" x="0.166667" y="0.08" width="0.666667"' in html
    assert html.count('class="shape many"') == 2


def test_page_shows_box_f1_and_the_split_merge_pictures(client, reviewer, iguanas):
    client.force_login(reviewer)
    page = client.get(f"/projects/{iguanas.pk}/agreement/?tag=iguanas")
    assert page.status_code == 200
    html = page.content.decode()
    assert 'data-metric="box_f1"' in html and 'data-value="0.4"' in html
    assert 'id="split-merge"' in html
    # The image through the permission-checked file URL, with both labelers' boxes drawn over it.
    assert f'src="/api/items/{iguanas.iguana_id}/file"' in html
    assert html.count('class="shape one"') == 2 and html.count('class="shape many"') == 4  # 2 rows: 1+2 each
    assert 'x="0.1" y="0.2" width="0.62" height="0.4"' in html
    assert "<script>" not in html  # the CSP forbids inline scripts
    assert 'name="iou"' in html
    assert re.search(r'Computed <time id="report-computed" datetime="[^"]+">\d{4}-\d\d-\d\d \d\d:\d\d</time>\.', html)


def test_page_names_a_bad_iou(client, reviewer, iguanas):
    client.force_login(reviewer)
    page = client.get(f"/projects/{iguanas.pk}/agreement/?iou=2")
    assert page.status_code == 200 and b"IoU threshold must be" in page.content


def test_csv_carries_box_f1_and_split_merge(client, reviewer, iguanas):
    client.force_login(reviewer)
    response = client.get(f"/projects/{iguanas.pk}/agreement.csv?tag=iguanas&iou=0.3")
    rows = list(csv.reader(io.StringIO(response.content.decode())))
    head = next(r for r in rows if r[:3] == ["headline", "project", "box_f1"])
    assert float(head[3]) == pytest.approx(0.8)
    assert ["headline", "project", "iou", "0.3", "", ""] in rows
    assert any(r[0] == "split_merge" and r[1] == str(iguanas.iguana_id) for r in rows)
    assert any(r[:3] == ["labeler", "labeler1", "map50"] for r in rows)


def test_a_worker_computes_a_large_shape_report_at_the_asked_threshold(api, reviewer, iguanas, settings):
    from analysis.services import agreement_report_job_run

    settings.LABELHUB_AGREEMENT_SYNC_LIMIT = 2
    client = api(reviewer)
    response = client.get(url(iguanas, "?tag=iguanas&iou=0.3"))
    assert response.status_code == 202
    agreement_report_job_run(job_id=response.json()["job"])
    report = client.get(url(iguanas, "?tag=iguanas&iou=0.3")).json()
    assert report["cached"] is True and report["box_f1"]["value"] == pytest.approx(0.8) and report["iou"] == 0.3
    # Another threshold is another report: not answered from that one.
    assert client.get(url(iguanas, "?tag=iguanas&iou=0.5")).status_code == 202


def test_dashboard_shows_box_f1_and_mean_iou_not_two_empty_classification_figures(client, reviewer, iguanas):
    """A detection project's dashboard gives the box F1 and mean IoU the report computes, not an empty HLP
    and an empty Krippendorff's α whose reasons name report keys (per_labeler, box_f1, mean_iou)."""
    client.force_login(reviewer)
    report = client.get(f"/api/projects/{iguanas.pk}/agreement/").json()
    html = client.get(f"/projects/{iguanas.pk}/dashboard/").content.decode()
    section = html.split('id="agreement"')[1].split("</section>")[0]
    assert 'data-metric="box_f1"' in section and f'data-value="{report["box_f1"]["value"]}"' in section
    assert 'data-metric="mean_iou"' in section and f"{report['mean_iou']:.3f}" in section
    assert "Krippendorff" not in section and "per_labeler" not in section and "box_f1, mean_iou" not in section


def test_segments_dashboard_shows_segment_f1(client, manager, reviewer, labeler, labeler2):
    project = make_project(manager, name="Speech", modality="audio", task_type="segments", classes=[{"key": "speech"}])
    member_add(project=project, username=reviewer.username, role=Role.REVIEWER)
    (item,) = make_items(project, 1, stats={"duration": 3.0})
    for user in (labeler, labeler2):
        member_add(project=project, username=user.username, role=Role.LABELER)
        annotation_save(item=item, labeler=user, value={"segments": [{"start": 0.5, "end": 2.5, "label": "speech"}]})
    client.force_login(reviewer)
    section = client.get(f"/projects/{project.pk}/dashboard/").content.decode().split('id="agreement"')[1]
    section = section.split("</section>")[0]
    assert 'data-metric="segment_f1"' in section and 'data-value="1.0"' in section and "segments" in section
    assert "Krippendorff" not in section


def test_the_page_names_what_it_does_not_compute_in_words_not_report_keys(client, manager, reviewer, labeler, labeler2):
    """ "Not computed here" listed krippendorff_alpha, "(segment_f1, mean_iou)" and "see per_labeler"; a
    split/merge picture said "one shape" of a segment."""
    project = make_project(manager, name="Speech", modality="audio", task_type="segments", classes=[{"key": "speech"}])
    member_add(project=project, username=reviewer.username, role=Role.REVIEWER)
    (item,) = make_items(project, 1, stats={"duration": 3.0})
    answers = {
        "labeler1": [{"start": 0.5, "end": 2.5, "label": "speech"}],
        "labeler2": [{"start": 0.5, "end": 1.4, "label": "speech"}, {"start": 1.6, "end": 2.5, "label": "speech"}],
    }
    for user in (labeler, labeler2):
        member_add(project=project, username=user.username, role=Role.LABELER)
        annotation_save(item=item, labeler=user, value={"segments": answers[user.username]})
    client.force_login(reviewer)
    html = client.get(f"/projects/{project.pk}/agreement/").content.decode()
    section = unescape(html.split("<h2>Not computed here</h2>")[1].split("</section>")[0])
    assert "<b>Krippendorff's α</b>" in section and "<b>Percent agreement</b>" in section
    assert "(segment F1, mean IoU)" in section and "see the labelers against the others' consensus" in section
    for key in ("krippendorff_alpha", "percent_agreement", "segment_f1", "mean_iou", "per_labeler"):
        assert f">{key}<" not in section and f"({key}" not in section and f" {key}" not in section, key
    assert "'s one segment covers 2 of" in html and "one shape covers" not in html


def test_after_a_campaign_box_f1_reads_one_answer_per_item_and_labeler(api, manager, reviewer, labeler, iguanas):
    """A campaign sends the iguana back: its three archived answers still count (F1 0.4, worked by hand),
    until a labeler answers again; then their new answer replaces their archived one, never beside it."""
    from labeling.services.campaigns import campaign_create

    client = api(reviewer)
    campaign_create(project=iguanas, name="again", item_ids=[iguanas.iguana_id], overlap=3, user=manager)
    report = client.get(url(iguanas, "?tag=iguanas")).json()
    assert report["n_annotations"] == 3 and report["box_f1"]["value"] == pytest.approx(0.4)
    redrawn = IGUANA["labeler2"]  # labeler1 now draws the two iguanas as labeler2 did
    annotation_save(item=Item.objects.get(pk=iguanas.iguana_id), labeler=labeler, value={"boxes": redrawn})
    report = client.get(url(iguanas, "?tag=iguanas")).json()
    rows = [(iguanas.iguana_id, "labeler1", {"boxes": redrawn})]
    rows += [(iguanas.iguana_id, name, {"boxes": IGUANA[name]}) for name in ("labeler2", "labeler3")]
    expected = box_f1(shape_table(rows), n_resamples=200, seed=0)
    assert report["n_annotations"] == 3
    assert report["box_f1"]["value"] == pytest.approx(expected.f1.value) and expected.f1.value > 0.4
    # The Classes page previews a merge from the same answers (pooled box F1 of both images).
    from analysis.services.consistency import taxonomy_preview

    whole = client.get(url(iguanas)).json()
    preview = taxonomy_preview(project=iguanas, op="merge", payload={"classes": ["iguana", "rock"], "into": "iguana"})
    assert preview["before"]["agreement"] == pytest.approx(whole["box_f1"]["value"])
