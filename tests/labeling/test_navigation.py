"""The project navigation names every page a role may use, and only those: classes, conventions and
campaigns included (they were reachable only by URL); every link it shows opens."""

import re

import pytest

from labeling.models import Membership
from tests.conftest import make_project

pytestmark = pytest.mark.django_db


def nav_links(client, project):
    html = client.get(f"/projects/{project.pk}/").content.decode()
    nav = re.search(r'class="project-nav".*?</nav>', html, re.S).group(0)
    return dict((name.strip(), href) for href, name in re.findall(r'<a href="([^"]+)"[^>]*>([^<]+)</a>', nav))


@pytest.mark.parametrize(
    ("task_type", "shown", "hidden"),
    [
        ("classification", {"Classes", "Campaigns", "Review", "Agreement", "Map", "Members"}, {"Conventions"}),
        ("transcription", {"Conventions", "Campaigns", "Review", "Agreement", "Map"}, {"Classes"}),
    ],
)
def test_a_manager_reaches_every_project_page_from_the_navigation(client, manager, task_type, shown, hidden):
    modality = "audio" if task_type == "transcription" else "image"
    project = make_project(manager, modality=modality, task_type=task_type)
    client.force_login(manager)
    links = nav_links(client, project)
    assert shown <= set(links) and not hidden & set(links)
    for name, href in links.items():
        assert client.get(href).status_code == 200, name


def test_a_labeler_sees_no_manager_or_reviewer_pages(client, manager, labeler):
    project = make_project(manager)
    Membership.objects.create(project=project, user=labeler, role="labeler")
    client.force_login(labeler)
    links = nav_links(client, project)
    assert {"Label", "Guidelines"} <= set(links)
    assert not {"Classes", "Campaigns", "Review", "Agreement", "Members", "Import"} & set(links)
    for name, href in links.items():
        assert client.get(href).status_code == 200, name
