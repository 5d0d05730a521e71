"""The version pages: list with builds and the build form, detail, diff, changelog, webhooks, training."""

import pytest

from labeling.models import Job
from tests.labeling.version_helpers import add_texts, answer, build, labelers, text_project

pytestmark = pytest.mark.django_db


@pytest.fixture
def two_versions(manager, reviewer, labeler):
    from labeling.choices import Role
    from labeling.services.projects import member_add

    project = text_project(manager)
    member_add(project=project, username=reviewer.username, role=Role.REVIEWER)
    member_add(project=project, username=labeler.username, role=Role.LABELER)
    items = add_texts(project, [f"t{i}" for i in range(5)])
    (a,) = labelers(project, 1)
    for item in items:
        answer(item, a, "cat")
    build(project, manager)
    answer(items[0], a, "dog")
    build(project, manager, {"min_agreement": 0.9})
    return project, items


def test_versions_list_shows_versions_builds_and_the_form(client, manager, two_versions):
    project, _ = two_versions
    Job.objects.create(kind="version", project=project, status="failed", errors=[{"reason": "build failed: boom"}])
    client.force_login(manager)
    page = client.get(f"/projects/{project.pk}/versions/").content.decode()
    assert 'data-version="2"' in page and 'data-version="1"' in page
    assert "build failed: boom" in page and "Retry" in page
    assert 'id="build-form"' in page
    assert f'href="/projects/{project.pk}/versions/"' in page  # the nav link


def test_build_form_queues_a_job_and_shows_recipe_errors(client, manager, two_versions):
    project, _ = two_versions
    client.force_login(manager)
    response = client.post(
        f"/projects/{project.pk}/versions/",
        {
            "consensus": "majority",
            "min_answers": 2,
            "min_agreement": 0.5,
            "unresolved": "exclude",
            "use_decisions": "on",
            "borderline": "exclude",
            "uncertain": "exclude",
            "out_of_domain": "class",
            "train": 0.8,
            "dev": 0.1,
            "test": 0.1,
            "formats": ["jsonl", "csv", "parquet"],
        },
    )
    assert response.status_code == 302
    job = Job.objects.filter(project=project, kind="version", status="queued").get()
    assert job.params["policy"]["min_answers"] == 2
    response = client.post(f"/projects/{project.pk}/versions/", {"recipe_json": '{"min_agreemnt": 1}'})
    assert response.status_code == 200 and "unknown field" in response.content.decode()


def test_detail_diff_and_changelog(client, reviewer, two_versions):
    project, items = two_versions
    client.force_login(reviewer)
    detail = client.get(f"/projects/{project.pk}/versions/2/").content.decode()
    assert 'id="distribution"' in detail and 'id="downloads"' in detail and "min_agreement" in detail
    assert "1</b> relabeled" in detail
    assert 'id="build-form"' not in client.get(f"/projects/{project.pk}/versions/").content.decode()
    diff = client.get(f"/projects/{project.pk}/versions/2/diff/").content.decode()
    assert f'data-item="{items[0].pk}"' in diff
    changelog = client.get(f"/projects/{project.pk}/versions/changelog/").content.decode()
    assert 'data-version="2"' in changelog and "min_agreement" in changelog
    assert client.get(f"/projects/{project.pk}/versions/9/").status_code == 404
    assert client.get(f"/projects/{project.pk}/training/").status_code == 200
    assert client.get(f"/projects/{project.pk}/webhooks/").status_code == 403


def test_webhooks_page(client, manager, two_versions):
    project, _ = two_versions
    client.force_login(manager)
    response = client.post(f"/projects/{project.pk}/webhooks/", {"url": "gopher://old.example"})
    assert response.status_code == 200 and "only http:// and https://" in response.content.decode()
    response = client.post(f"/projects/{project.pk}/webhooks/", {"url": "https://ci.example.com/hook"})
    assert response.status_code == 302
    page = client.get(f"/projects/{project.pk}/webhooks/").content.decode()
    assert "https://ci.example.com/hook" in page and 'id="deliveries"' in page


def test_labelers_and_outsiders_see_no_version_page(client, labeler, outsider, two_versions):
    project, _ = two_versions
    client.force_login(labeler)
    for url in ("versions/", "versions/1/", "versions/2/diff/", "versions/changelog/", "training/", "webhooks/"):
        assert client.get(f"/projects/{project.pk}/{url}").status_code == 403, url
    assert f'href="/projects/{project.pk}/versions/"' not in client.get(f"/projects/{project.pk}/").content.decode()
    client.force_login(outsider)
    assert client.get(f"/projects/{project.pk}/versions/").status_code == 404


def test_versions_page_query_count_does_not_grow_with_versions(
    client, manager, two_versions, django_assert_max_num_queries
):
    project, _ = two_versions
    client.force_login(manager)
    with django_assert_max_num_queries(14):
        client.get(f"/projects/{project.pk}/versions/")


def test_the_build_form_of_a_detection_project_says_what_its_versions_ship(client, manager, reviewer):
    """It told detection projects that borderline and uncertain answers are left out, which their
    builds do not do (shapes count whatever their flags)."""
    from tests.conftest import detection_project

    project = detection_project(manager, reviewer, ["iguana", "rock"])
    client.force_login(manager)
    form = client.get(f"/projects/{project.pk}/versions/").content.decode().split('id="build-form"')[1]
    assert "consensus of the labelers' boxes" in form and "IoU ≥ 0.5" in form
    assert "uncertain answers left out" not in form


def test_build_form_takes_a_metadata_key_to_split_by(client, manager, two_versions):
    project, _ = two_versions
    client.force_login(manager)
    page = client.get(f"/projects/{project.pk}/versions/").content.decode()
    assert 'name="group_by"' in page
    response = client.post(f"/projects/{project.pk}/versions/", {"group_by": "k" * 101})
    assert response.status_code == 200 and "splits.group_by: " in response.content.decode()
    assert not Job.objects.filter(project=project, kind="version", status="queued").exists()
    response = client.post(
        f"/projects/{project.pk}/versions/", {"group_by": "recording", "train": 0.7, "dev": 0.2, "test": 0.1}
    )
    assert response.status_code == 302
    job = Job.objects.filter(project=project, kind="version", status="queued").get()
    assert job.params["policy"]["splits"] == {
        "train": 0.7,
        "dev": 0.2,
        "test": 0.1,
        "salt": "",
        "group_by": "recording",
    }


def test_versions_list_and_version_page_say_which_key_a_version_was_split_by(client, manager, two_versions):
    project, _ = two_versions
    version = build(project, manager, {"splits": {"group_by": "recording"}})
    client.force_login(manager)
    page = client.get(f"/projects/{project.pk}/versions/").content.decode()
    assert "split by recording" in page
    detail = client.get(f"/projects/{project.pk}/versions/{version.number}/").content.decode()
    assert "&quot;group_by&quot;: &quot;recording&quot;" in detail
    assert "kept together by metadata <code>recording</code>: 0 items took the split of their recording" in detail


def test_a_version_stored_before_group_by_existed_shows_no_recipe_change(client, manager, two_versions):
    # Versions stored before splits.group_by have no such field; the next default build made the same
    # splits and must not list "splits.group_by: — → (blank)" as a recipe change.
    from labeling.models import DatasetVersion

    project, _ = two_versions
    parent = DatasetVersion.objects.get(project=project, number=2)
    del parent.policy["splits"]["group_by"]
    parent.save(update_fields=["policy"])
    version = build(project, manager, {"min_agreement": 0.9})
    client.force_login(manager)
    detail = client.get(f"/projects/{project.pk}/versions/{version.number}/").content.decode()
    assert "Same recipe as the parent." in detail and "<code>splits.group_by</code>" not in detail
    grouped = build(project, manager, {"min_agreement": 0.9, "splits": {"group_by": "recording"}})
    detail = client.get(f"/projects/{project.pk}/versions/{grouped.number}/").content.decode()
    assert "<code>splits.group_by</code>:  → recording" in detail


def test_the_diffs_items_open_their_review_page_not_the_apis_json(client, manager, reviewer, two_versions):
    """A relabeled item on the diff page linked to /api/items/<id>/, the API's JSON of the item, and an
    added item was no link at all, where the version page links each item it names to the item's review
    page (answers, decisions, the image). Every item of the diff now opens its review page."""
    project, items = two_versions
    (a,) = labelers(project, 1)
    (extra,) = add_texts(project, ["t5"])
    answer(extra, a, "cat")
    third = build(project, manager)
    client.force_login(reviewer)
    diff = client.get(f"/projects/{project.pk}/versions/{third.number}/diff/?against=1").content.decode()
    relabeled = diff[diff.index('id="relabeled"') :].split("</table>")[0]
    added = diff[diff.index('id="added"') :].split("</table>")[0]
    assert f'href="/projects/{project.pk}/review/{items[0].pk}/"' in relabeled, relabeled
    assert f'href="/projects/{project.pk}/review/{extra.pk}/"' in added, added
    assert "/api/items/" not in diff


def test_the_diff_page_does_not_offer_a_version_against_itself(client, reviewer, two_versions):
    # "Compare with" listed v2 on v2's diff, and ?against=2 showed "v2 → v2" with no change
    project, _ = two_versions
    client.force_login(reviewer)
    page = client.get(f"/projects/{project.pk}/versions/2/diff/").content.decode()
    compare = page[page.index('name="against"') :].split("</select>")[0]
    assert '<option value="1"' in compare and '<option value="2"' not in compare
    for against in ("2", "latest"):
        response = client.get(f"/projects/{project.pk}/versions/2/diff/?against={against}")
        assert response.status_code == 404
        assert "v2 compared with itself" in response.content.decode()
        assert "v2 → v2" not in response.content.decode()
