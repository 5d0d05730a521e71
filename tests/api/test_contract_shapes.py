"""The public contract's shapes where the API answered otherwise: agreement metrics are always
`{"value", "ci_low", "ci_high"}` (nulls inside where undefined, never a bare null), every successful
answer post is a 201, an invalid choice names the valid ones, and lists are paginated."""

import inspect
import json

import pytest
from rest_framework import serializers

from labeling.choices import Role
from labeling.models import Item
from labeling.services.annotations import annotation_save
from labeling.services.imports import ImportEntry, items_import
from labeling.services.projects import member_add
from tests.conftest import detection_project, make_user, png_bytes

pytestmark = pytest.mark.django_db

HEADLINE = ("percent_agreement", "fleiss_kappa", "krippendorff_alpha", "hlp")
NULL_METRIC = {"value": None, "ci_low": None, "ci_high": None}


def images(project, n):
    entries = [ImportEntry(name=f"i{i}.png", load=lambda i=i: png_bytes(size=(16, 16), seed=i)) for i in range(n)]
    return [Item.objects.get(pk=pk) for pk in items_import(project=project, entries=entries).imported]


def box(x, label="lizard"):
    return {"x": x, "y": 0.1, "w": 0.3, "h": 0.3, "label": label}


# --- 1. agreement metrics are always the object ------------------------------------------------------


def test_undefined_classification_metrics_are_objects_with_null_values(api, reviewer, labeler, project):
    item = images(project, 1)[0]
    annotation_save(item=item, labeler=labeler, value="cat")  # one answer: nothing to agree with
    client = api(reviewer)
    for _ in range(2):  # computed, then read from the cache
        report = client.get(f"/api/projects/{project.pk}/agreement/").json()
        for key in HEADLINE:
            assert report[key] == NULL_METRIC, key
            assert report["reasons"][key]
        assert report["fleiss_kappa"]["value"] is None  # a training client's read: no TypeError
    assert report["cached"] is True


def test_a_project_without_answers_answers_null_metric_objects(api, reviewer, project):
    report = api(reviewer).get(f"/api/projects/{project.pk}/agreement/").json()
    assert all(report[key] == NULL_METRIC for key in HEADLINE)
    assert report["reasons"]["fleiss_kappa"] == "no answers match these filters"


def test_detection_reports_give_every_metric_as_an_object(api, manager, reviewer):
    project = detection_project(manager, reviewer, ["lizard", "rock"])
    a, b = make_user("drawer_a"), make_user("drawer_b")
    for user in (a, b):
        member_add(project=project, username=user.username, role=Role.LABELER)
    first, second = images(project, 2)
    annotation_save(item=first, labeler=a, value={"boxes": [box(0.1)]})
    annotation_save(item=first, labeler=b, value={"boxes": [box(0.1)]})
    annotation_save(item=second, labeler=a, value={"boxes": [box(0.5)]})
    client = api(reviewer)
    report = client.get(f"/api/projects/{project.pk}/agreement/").json()
    for key in HEADLINE:  # no category to compare in shapes answers: undefined, said why
        assert report[key] == NULL_METRIC, key
        assert report["reasons"][key]
    assert report["box_f1"]["value"] == pytest.approx(1.0)
    assert report["by_guideline"][0]["f1"]["value"] == pytest.approx(1.0)
    nobody = client.get(f"/api/projects/{project.pk}/agreement/?labelers=drawer_a").json()
    assert nobody["box_f1"] == NULL_METRIC and nobody["reasons"]["box_f1"]
    assert nobody["by_guideline"][0]["f1"] == NULL_METRIC
    empty = client.get(f"/api/projects/{project.pk}/agreement/?since=2999-01-01").json()
    assert empty["box_f1"] == NULL_METRIC and empty["percent_agreement"] == NULL_METRIC


def test_the_json_download_gives_null_metric_objects_too(client, reviewer, labeler, project):
    annotation_save(item=images(project, 1)[0], labeler=labeler, value="cat")
    client.force_login(reviewer)
    response = client.get(f"/projects/{project.pk}/agreement.json")
    report = json.loads(response.content)
    assert all(report[key] == NULL_METRIC for key in HEADLINE)
    csv = client.get(f"/projects/{project.pk}/agreement.csv").content.decode()
    assert "headline,project,fleiss_kappa,,," in csv.replace("\r", "")


def test_the_schema_says_metric_values_may_be_null(api, reviewer):
    schema = api(reviewer).get("/api/schema/?format=json").json()
    metric = schema["components"]["schemas"]["MetricWithInterval"]
    assert all(metric["properties"][key].get("nullable") is True for key in ("value", "ci_low", "ci_high"))
    shape_f1 = schema["components"]["schemas"]["ShapeF1WithInterval"]
    assert all(shape_f1["properties"][key].get("nullable") is True for key in ("value", "ci_low", "ci_high"))
    report = schema["components"]["schemas"]["AgreementReport"]["properties"]
    assert {*HEADLINE, "box_f1", "segment_f1"} <= set(report)  # kappa, alpha and box_f1 were missing
    assert "nullable" not in report["box_f1"] and "nullable" not in report["fleiss_kappa"]


# --- 2. every successful answer post is a 201 --------------------------------------------------------


def test_revisions_and_retries_of_an_answer_answer_201(api, labeler, project):
    item = images(project, 1)[0]
    client = api(labeler)
    url = f"/api/items/{item.pk}/annotations/"
    first = client.post(url, {"value": "cat"}, format="json")
    revised = client.post(url, {"value": "dog"}, format="json")
    retried = client.post(url, {"value": "dog"}, format="json")
    again = client.post(url + "?next=1", {"value": "dog"}, format="json")
    assert [r.status_code for r in (first, revised, retried, again)] == [201, 201, 201, 201]
    assert revised.json()["value"] == "dog" and retried.json()["revision"] == revised.json()["revision"]
    # what the status told apart before: a first answer or not (the labeling page counts first answers)
    assert first.json()["first_answer"] is True
    assert revised.json()["first_answer"] is retried.json()["first_answer"] is False
    assert again.json()["annotation"]["first_answer"] is False


# --- 3. an invalid choice names the valid ones -------------------------------------------------------


def test_an_invalid_source_kind_names_the_valid_ones(api, manager, project):
    response = api(manager).post(
        f"/api/projects/{project.pk}/sources/", {"name": "web", "kind": "scraped", "unit": "lots"}, format="json"
    )
    assert response.status_code == 400
    assert response.json()["kind"] == [
        '"scraped" is not a valid choice; one of: owned, crowdsourced, purchased, synthetic, public, production_logs.'
    ]
    assert response.json()["unit"][0].startswith('"lots" is not a valid choice; one of: items, ')


def test_an_invalid_role_and_action_name_the_valid_ones(api, manager, reviewer, project):
    member = api(manager).post(
        f"/api/projects/{project.pk}/members/", {"username": "outsider", "role": "boss"}, format="json"
    )
    assert member.json()["role"] == ['"boss" is not a valid choice; one of: labeler, reviewer, manager.']
    item = images(project, 1)[0]
    decision = api(reviewer).post(f"/api/items/{item.pk}/decision/", {"action": "shrug"}, format="json")
    assert decision.json()["action"] == [
        '"shrug" is not a valid choice; one of: label, ambiguous_instructions, input_insufficient, relabel, withdrawn.'
    ]


def _api_serializers():
    import accounts.api
    from analysis.api import agreement, drift, error_analysis, maps, planning, review, training
    from labeling.api import items, jobs, labeling, projects, sources, versions, webhooks
    from labeling.api import serializers as labeling_serializers

    modules = [accounts.api, agreement, drift, error_analysis, maps, planning, review, training]
    modules += [items, jobs, labeling, projects, labeling_serializers, sources, versions, webhooks]
    for module in modules:
        for _, cls in inspect.getmembers(module, inspect.isclass):
            if issubclass(cls, serializers.Serializer) and cls.__module__ == module.__name__:
                yield cls


def test_every_writable_choice_field_of_the_api_names_its_choices():
    from labelhub.api import ChoiceField

    plain = []
    for cls in _api_serializers():
        fields = list(cls().fields.items())
        while fields:
            name, field = fields.pop()
            if isinstance(field, serializers.ListField):
                fields.append((f"{name}[]", field.child))
            elif isinstance(field, serializers.Serializer):
                fields += [(f"{name}.{n}", f) for n, f in field.fields.items()]
            elif (
                isinstance(field, serializers.ChoiceField)
                and not field.read_only
                and not isinstance(field, ChoiceField)
            ):
                plain.append(f"{cls.__name__}.{name}")
    assert plain == []


# --- 4. lists are paginated ---------------------------------------------------------------------------


def test_an_items_decisions_are_a_paginated_list(api, reviewer, project):
    item = images(project, 1)[0]
    client = api(reviewer)
    for rationale in ("first look", "second look"):
        client.post(f"/api/items/{item.pk}/decision/", {"label": "cat", "rationale": rationale}, format="json")
    listed = client.get(f"/api/items/{item.pk}/decision/").json()
    assert listed["count"] == 2 and listed["next"] is None and listed["previous"] is None
    assert [d["rationale"] for d in listed["results"]] == ["second look", "first look"]
    assert client.get(f"/api/items/{item.pk}/decision/?page_size=1").json()["next"]


def test_a_projects_embedders_are_a_paginated_list(api, reviewer, project):
    listed = api(reviewer).get(f"/api/projects/{project.pk}/embedders/").json()
    assert set(listed) == {"count", "next", "previous", "results"}
    assert listed["count"] == len(listed["results"]) > 0
    assert {"name", "kind", "default"} <= set(listed["results"][0])
