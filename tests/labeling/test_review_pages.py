"""The consistency pages render for reviewers and refuse labelers."""

import pytest

from labeling.services.guidelines import guideline_publish
from tests.conftest import make_project
from tests.labeling.test_consistency_loop import scratches  # noqa: F401 - the fixture


@pytest.mark.parametrize("path", ["review/", "guidelines/", "taxonomy/", "campaigns/"])
def test_reviewer_pages_render(client, reviewer, scratches, path):  # noqa: F811
    project, ids, _ = scratches
    guideline_publish(project=project, text="# v1\n* a *scratch* is a line", author=reviewer)
    client.force_login(reviewer)
    response = client.get(f"/projects/{project.pk}/{path}")
    assert response.status_code == 200


def test_review_queue_page_lists_disputed_items_and_links_the_review_page(client, reviewer, scratches):  # noqa: F811
    project, ids, _ = scratches
    client.force_login(reviewer)
    page = client.get(f"/projects/{project.pk}/review/").content.decode()
    assert 'id="review-queue"' in page and "Review</a>" in page
    item_page = client.get(f"/projects/{project.pk}/review/{ids[0]}/?queue={ids[0]},{ids[1]}").content.decode()
    assert f"/projects/{project.pk}/review/{ids[1]}/" in item_page


def test_taxonomy_page_shows_the_suggested_merge(client, reviewer, scratches):  # noqa: F811
    project, _, _ = scratches
    client.force_login(reviewer)
    page = client.get(f"/projects/{project.pk}/taxonomy/").content.decode()
    assert 'data-use-suggestion="deep,shallow"' in page


def test_guidelines_are_readable_by_labelers_but_not_editable(client, labeler, reviewer, project):
    guideline_publish(project=project, text="# Be careful\n<script>alert(1)</script>", author=reviewer)
    client.force_login(labeler)
    page = client.get(f"/projects/{project.pk}/guidelines/").content.decode()
    assert "<h1>Be careful</h1>" in page and "<script>alert(1)" not in page
    assert "guideline-form" not in page
    assert client.get(f"/projects/{project.pk}/review/").status_code == 403
    assert client.get(f"/projects/{project.pk}/taxonomy/").status_code == 403


def _project_nav(page: str) -> str:
    start = page.index('class="project-nav"')
    return page[start : page.index("</nav>", start)]


def test_the_project_navigation_leads_reviewers_to_classes_conventions_and_campaigns(
    client, manager, reviewer, labeler, project
):
    client.force_login(reviewer)
    nav = _project_nav(client.get(f"/projects/{project.pk}/").content.decode())
    assert f'href="/projects/{project.pk}/taxonomy/"' in nav
    assert f'href="/projects/{project.pk}/campaigns/"' in nav
    assert "conventions/" not in nav  # a classification project has classes, not transcript conventions

    speech = make_project(manager, name="Speech", modality="audio", task_type="transcription", classes=[])
    speech.memberships.create(user=reviewer, role="reviewer")
    nav = _project_nav(client.get(f"/projects/{speech.pk}/").content.decode())
    assert f'href="/projects/{speech.pk}/conventions/"' in nav and "taxonomy/" not in nav

    client.force_login(labeler)
    nav = _project_nav(client.get(f"/projects/{project.pk}/").content.decode())
    assert "taxonomy/" not in nav and "campaigns/" not in nav
