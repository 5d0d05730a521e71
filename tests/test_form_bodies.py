"""Form bodies (``curl -d``, a page's form) are checked for fields an endpoint does not take as JSON bodies
are: a misspelt field was dropped without a word and the request carried out without it."""

from urllib.parse import urlencode

import pytest

from analysis.models import EmbeddingMap
from labeling.models import Invitation, Job, Skip, Tag, Webhook
from tests.labeling.queue_helpers import make_items

pytestmark = pytest.mark.django_db
FORM = "application/x-www-form-urlencoded"


def state(project):
    """What the requests below could change."""
    project.refresh_from_db()
    return {
        "project": (project.name, project.overlap, project.options),
        "members": sorted(project.memberships.values_list("user__username", "role")),
        "invitations": Invitation.objects.filter(project=project).count(),
        "webhooks": Webhook.objects.filter(project=project).count(),
        "skips": Skip.objects.filter(item__project=project).count(),
        "campaigns": project.campaigns.count(),
        "maps": EmbeddingMap.objects.filter(project=project).count(),
        "sources": project.sources.count(),
        "guidelines": project.guidelines.count(),
        "jobs": Job.objects.filter(project=project).count(),
    }


# (who, method, path, the form as the docs have it, a field it does not take): what a script posting the
# form with the extra field got was the request carried out without it.
CASES = {
    # a skip without the reason typed ("reasn")
    "skip": ("labeler", "post", "/api/items/{item}/skip/", {"reason": "blurry"}, {"reasn": "too blurry to read"}),
    # a campaign of the default overlap
    "campaign": (
        "reviewer",
        "post",
        "/api/projects/{project}/campaigns/",
        {"name": "c", "items": "{item}"},
        {"overlp": "5"},
    ),
    # a member added for good, not until a date
    "member": (
        "manager",
        "post",
        "/api/projects/{project}/members/",
        {"username": "outsider1", "role": "labeler"},
        {"untill": "2027-01-01"},
    ),
    # a role changed for good
    "member role": (
        "manager",
        "patch",
        "/api/projects/{project}/members/labeler1/",
        {"role": "reviewer"},
        {"until": "x"},
    ),
    # a 7-day link mailed, the earlier invitation withdrawn
    "invitation": (
        "manager",
        "post",
        "/api/projects/{project}/invitations/",
        {"email": "new@example.com", "role": "labeler"},
        {"expires": "30"},
    ),
    # an active webhook
    "webhook": (
        "manager",
        "post",
        "/api/projects/{project}/webhooks/",
        {"url": "https://hooks.example.com/lh"},
        {"activ": "false"},
    ),
    # a map of the default embedder queued
    "map": ("manager", "post", "/api/projects/{project}/maps/", {}, {"embeddr": "tfidf"}),
    # the overlap left as it was, with a 200
    "project": ("manager", "patch", "/api/projects/{project}/", {"name": "Renamed"}, {"overlp": "5"}),
    # a source with no licence in the inventory
    "source": (
        "manager",
        "post",
        "/api/projects/{project}/sources/",
        {"name": "s", "kind": "owned"},
        {"license": "CC-BY"},
    ),
    # a version published with the questions left open
    "guideline": ("reviewer", "post", "/api/projects/{project}/guidelines/", {"text": "v1"}, {"resolve": "1"}),
}


@pytest.mark.parametrize("case", list(CASES))
def test_a_form_with_a_field_the_endpoint_does_not_take_is_refused_naming_it(
    api, project, manager, reviewer, labeler, outsider, case
):
    # a map is made of 10 items or more
    item = make_items(project, 10 if case == "map" else 1)[0]
    who, method, path, body, extra = CASES[case]
    client = api({"manager": manager, "reviewer": reviewer, "labeler": labeler}[who])
    url = path.format(project=project.pk, item=item.pk)
    body = {name: value.format(item=item.pk) for name, value in body.items()}
    before = state(project)
    response = getattr(client, method)(url, urlencode({**body, **extra, "csrfmiddlewaretoken": "x"}), content_type=FORM)
    assert response.status_code == 400, response.json()
    (name,) = extra
    assert response.json()[name][0].startswith("unknown field (the fields here: ")
    assert state(project) == before
    # The same form without the extra field is taken, its page's CSRF token and all.
    response = getattr(client, method)(url, urlencode({**body, "csrfmiddlewaretoken": "x"}), content_type=FORM)
    assert response.status_code in (200, 201, 202), response.json()
    assert state(project) != before


def test_a_form_patch_of_a_project_reads_options_in_drf_notation_and_refuses_a_misspelt_one(api, project, manager):
    client = api(manager)
    url = f"/api/projects/{project.pk}/"
    misspelt = client.patch(url, urlencode({"options.bordreline": "false"}), content_type=FORM)
    assert misspelt.status_code == 400 and "bordreline" in misspelt.json()["options"]
    assert client.get(url).json()["options"]["borderline"] is True
    response = client.patch(
        url, urlencode({"options.borderline": "false", "csrfmiddlewaretoken": "x"}), content_type=FORM
    )
    assert response.status_code == 200, response.json()
    assert response.json()["options"]["borderline"] is False


def test_a_form_sign_in_with_a_field_it_does_not_take_is_refused_and_makes_no_token(client, labeler):
    # "expires_in" sent with curl -d was dropped and a token made that never expires.
    form = {"username": labeler.username, "password": "pw-labeler1", "expires_in": "3600"}
    response = client.post("/api/auth/token/", urlencode(form), content_type=FORM)
    assert response.status_code == 400
    assert response.json()["expires_in"] == ["unknown field (the fields here: username, password, name)"]
    assert not labeler.api_tokens.exists()


def test_a_page_form_of_planning_settings_or_a_version_build_passes_its_csrf_token(api, project, manager):
    # The two endpoints that check every name themselves refused the page form's CSRF token as an unknown
    # setting or recipe field.
    client = api(manager)
    planning = client.patch(
        f"/api/projects/{project.pk}/planning/",
        urlencode({"hourly_rate": "25", "csrfmiddlewaretoken": "x"}),
        content_type=FORM,
    )
    assert planning.status_code == 200, planning.json()
    assert planning.json()["hourly_rate"] == 25.0
    misspelt = client.patch(f"/api/projects/{project.pk}/planning/", urlencode({"hourly_rat": "30"}), content_type=FORM)
    assert misspelt.status_code == 400 and "hourly_rat" in misspelt.json()
    build = client.post(
        f"/api/projects/{project.pk}/versions/",
        urlencode({"consensus": "majority", "csrfmiddlewaretoken": "x"}),
        content_type=FORM,
    )
    assert build.status_code == 202, build.json()
    misspelt = client.post(f"/api/projects/{project.pk}/versions/", urlencode({"consensu": "x"}), content_type=FORM)
    assert misspelt.status_code == 400 and "consensu" in misspelt.json()
    assert Job.objects.filter(project=project).count() == 1


def test_transcript_conventions_as_a_form_are_refused_saying_json_is_taken(api, reviewer, project):
    # The rules are an object a form cannot carry: the form was refused "an object of convention fields is
    # required" with its other fields unread; now a 415 naming what the endpoint takes.
    response = api(reviewer).put(
        f"/api/projects/{project.pk}/conventions/", urlencode({"rules": "fillers=um", "rule": "x"}), content_type=FORM
    )
    assert response.status_code == 415
    assert "this endpoint takes application/json" in response.json()["detail"]


def test_a_version_recipe_sent_as_a_form_reads_its_numbers_and_yes_no_from_text(api, project, manager):
    # Every number came in as text and was refused ("min_answers: must be a whole number from 1 to 1000,
    # not '2'"), so a recipe could not be sent with curl -d at all.
    client = api(manager)
    url = f"/api/projects/{project.pk}/versions/"
    form = {"min_answers": "2", "min_agreement": "0.7", "archived_weight": "0", "use_decisions": "false"}
    response = client.post(url, urlencode({**form, "csrfmiddlewaretoken": "x"}), content_type=FORM)
    assert response.status_code == 202, response.json()
    policy = Job.objects.get(pk=response.json()["job"]).params["policy"]
    assert (policy["min_answers"], policy["min_agreement"], policy["archived_weight"]) == (2, 0.7, 0.0)
    assert policy["use_decisions"] is False


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("min_answers", "two", "must be a whole number from 1 to 1000, not 'two'"),
        ("min_answers", "2.5", "must be a whole number from 1 to 1000, not '2.5'"),
        ("min_answers", "0", "must be a whole number from 1 to 1000, not 0"),
        ("min_agreement", "most", "must be a number from 0 to 1, not 'most'"),
        ("archived_weight", "nan", "must be a number from 0 to 1, not 'nan'"),
        ("use_decisions", "maybe", "must be true or false, not 'maybe'"),
    ],
)
def test_a_form_recipe_value_that_is_no_number_is_refused_naming_it(api, project, manager, field, value, message):
    response = api(manager).post(f"/api/projects/{project.pk}/versions/", urlencode({field: value}), content_type=FORM)
    assert response.status_code == 400
    assert response.json()[field] == [message]
    assert not Job.objects.filter(project=project).exists()


def test_a_json_recipe_keeps_its_numbers_numbers(api, project, manager):
    # JSON carries numbers as numbers: text there is still refused, as before.
    response = api(manager).post(f"/api/projects/{project.pk}/versions/", {"min_answers": "2"}, format="json")
    assert response.status_code == 400
    assert response.json()["min_answers"] == ["must be a whole number from 1 to 1000, not '2'"]
    assert not Job.objects.filter(project=project).exists()


def test_a_version_recipe_sent_as_a_form_carries_its_objects_and_lists_as_json_does(api, project, manager):
    # A form could send no object or list of a recipe: splits.train (DRF's notation) was refused as an
    # unknown field, and formats sent repeated as "must be a list". The same recipe as JSON, as a form and
    # as multipart now queues the same build.
    for name in ("hard", "night"):
        Tag.objects.create(project=project, name=name)
    client = api(manager)
    url = f"/api/projects/{project.pk}/versions/"
    recipe = {
        "min_answers": 2,
        "class_map": {"other": "cat"},
        "splits": {"train": 0.7, "dev": 0.2, "test": 0.1, "salt": "2026", "group_by": "recording"},
        "filters": {"tags": ["hard", "night"], "exclude_tags": ["night"], "created_from": "2026-01-01"},
        "formats": ["csv", "imagefolder"],
    }
    form = [
        ("min_answers", "2"),
        ("class_map.other", "cat"),
        ("splits.train", "0.7"),
        ("splits.dev", "0.2"),
        ("splits.test", "0.1"),
        ("splits.salt", "2026"),
        ("splits.group_by", "recording"),
        ("filters.tags[0]", "hard"),
        ("filters.tags[1]", "night"),
        ("filters.exclude_tags", "night"),
        ("filters.created_from", "2026-01-01"),
        ("formats", "csv"),
        ("formats", "imagefolder"),
        ("csrfmiddlewaretoken", "x"),
    ]
    multipart = {
        "min_answers": "2",
        "class_map.other": "cat",
        "splits.train": "0.7",
        "splits.dev": "0.2",
        "splits.test": "0.1",
        "splits.salt": "2026",
        "splits.group_by": "recording",
        "filters.tags": ["hard", "night"],
        "filters.exclude_tags[0]": "night",
        "filters.created_from": "2026-01-01",
        "formats": ["csv", "imagefolder"],
    }
    policies = []
    responses = [
        client.post(url, recipe, format="json"),
        client.post(url, urlencode(form), content_type=FORM),
        client.post(url, multipart, format="multipart"),
    ]
    # One recipe: the form and the multipart body find the JSON one's build still queued and answer it.
    assert [response.status_code for response in responses] == [202, 200, 200], responses[0].json()
    assert len({response.json()["job"] for response in responses}) == 1
    for response in responses:
        policies.append(Job.objects.get(pk=response.json()["job"]).params["policy"])
    assert policies[1] == policies[0] and policies[2] == policies[0]
    assert policies[0]["splits"] == {"train": 0.7, "dev": 0.2, "test": 0.1, "salt": "2026", "group_by": "recording"}
    assert policies[0]["formats"] == ["jsonl", "csv", "parquet", "imagefolder"]  # the manifest and parquet too
    assert policies[0]["filters"]["tags"] == ["hard", "night"] and policies[0]["class_map"] == {"other": "cat"}


def test_a_planning_setting_sent_twice_in_a_form_is_refused_naming_it(api, project, manager):
    # The form's last value was stored and the first dropped without a word, as a recipe's once was.
    client = api(manager)
    url = f"/api/projects/{project.pk}/planning/"
    before = client.get(url).json()["settings"]
    for content in (FORM, "multipart"):
        form = [("hourly_rate", "25"), ("hourly_rate", "40"), ("currency", "EUR")]
        if content == FORM:
            response = client.patch(url, urlencode(form), content_type=FORM)
        else:
            response = client.patch(url, {"hourly_rate": ["25", "40"], "currency": "EUR"}, format="multipart")
        assert response.status_code == 400, response.json()
        assert response.json()["hourly_rate"] == ["sent 2 times; this field takes one value"]
        assert client.get(url).json()["settings"] == before  # nothing changed, the currency neither
    once = client.patch(url, urlencode([("hourly_rate", "40"), ("csrfmiddlewaretoken", "x")]), content_type=FORM)
    assert once.status_code == 200 and once.json()["hourly_rate"] == 40.0


@pytest.mark.parametrize(
    ("form", "field", "message"),
    [
        # JSON holds one value per field; a form's second one was taken and the first dropped unsaid.
        ([("min_answers", "2"), ("min_answers", "3")], "min_answers", "sent 2 times; this field takes one value"),
        ([("splits", "0.7")], "splits", "an object, which a form sends by its fields: splits.<field>=<value>"),
        ([("splits.train", "0.7"), ("splits", "x")], "splits", "an object, which a form sends by its fields"),
        ([("splits.trian", "0.7")], "splits.trian", "unknown field 'trian' (known splits fields"),
        ([("formats", "csv"), ("formats[0]", "jsonl")], "formats", "sent both as formats and numbered"),
        (
            [("transcripts.rules[0]", "um")],
            "transcripts.rules[0]",
            "which a form cannot carry: send the recipe as JSON",
        ),
    ],
)
def test_a_form_recipe_that_json_would_not_mean_is_refused_naming_the_field(
    api, project, manager, form, field, message
):
    response = api(manager).post(f"/api/projects/{project.pk}/versions/", urlencode(form), content_type=FORM)
    assert response.status_code == 400, response.json()
    assert message in response.json()[field][0]
    assert not Job.objects.filter(project=project).exists()
