"""The labeler home and the labeling page (server side; the browser tests drive the page itself)."""

import json
import re
from pathlib import Path

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from labeling.services.annotations import annotation_save
from labeling.services.guidelines import guideline_publish
from labeling.services.projects import member_add
from tests.conftest import make_project
from tests.labeling.queue_helpers import answer_by_others, make_items

pytestmark = pytest.mark.django_db
ROOT = Path(__file__).resolve().parents[2]


def test_home_shows_my_progress_and_the_projects_with_a_start_button(client, project, labeler, labeler2):
    items = make_items(project, 4)
    answer_by_others(project, items[0], project.overlap)
    annotation_save(item=items[1], labeler=labeler, value="cat")
    annotation_save(item=items[2], labeler=labeler, value="dog")
    annotation_save(item=items[2], labeler=labeler2, value="dog")
    client.force_login(labeler)
    page = client.get("/").content.decode()
    row = re.search(rf'<tr data-project="{project.pk}">.*?</tr>', page, re.S).group(0)
    assert re.search(r'data-testid="mine-today">2<', row) and re.search(r'data-testid="mine-total">2<', row)
    assert re.search(r'data-testid="project-complete">1 / 4<', row)
    assert f'href="/projects/{project.pk}/label/"' in row and "Start labeling" in row


def test_home_runs_the_same_queries_for_one_project_or_many(client, manager, labeler, project):
    client.force_login(labeler)
    with CaptureQueriesContext(connection) as one:
        client.get("/")
    for n in range(4):
        other = make_project(manager, name=f"More {n}")
        member_add(project=other, username=labeler.username, role="labeler")
        make_items(other, 3, start=10 * n)
    with CaptureQueriesContext(connection) as five:
        page = client.get("/").content.decode()
    assert page.count("Start labeling") == 4  # the project without items has nothing to start
    assert len(five.captured_queries) == len(one.captured_queries)


@pytest.mark.parametrize(
    ("modality", "task_type", "expect"),
    [
        ("image", "classification", ['id="image"', "Brightness", 'data-hotkey="1"']),
        ("audio", "classification", ['id="waveform"', 'id="audio"', "Speed"]),
        ("text", "classification", ['id="text-viewer"']),
        ("audio", "transcription", ['id="transcript"', "Conventions", "fillers: write"]),
    ],
)
def test_labeling_page_renders_for_each_kind_of_project(client, manager, labeler, modality, task_type, expect):
    project = make_project(
        manager,
        name=f"{modality} {task_type}",
        modality=modality,
        task_type=task_type,
        options={"borderline": True, "uncertain": True, "out_of_domain": True},
        transcription_conventions="- fillers: write `um`",
    )
    member_add(project=project, username=labeler.username, role="labeler")
    client.force_login(labeler)
    response = client.get(f"/projects/{project.pk}/label/")
    assert response.status_code == 200
    page = response.content.decode()
    for text in expect:
        assert text in page, text
    assert 'id="lab-config"' in page and "labelhub/labeling/label.js" in page


def test_binary_project_shows_a_middle_borderline_answer(client, manager, labeler):
    project = make_project(
        manager, name="Defect", classes=[{"key": "ok"}, {"key": "bad"}], options={"borderline": True}
    )
    member_add(project=project, username=labeler.username, role="labeler")
    client.force_login(labeler)
    page = client.get(f"/projects/{project.pk}/label/").content.decode()
    buttons = re.findall(r'class="class-button[^"]*"[^>]*>', page)
    assert len(buttons) == 3 and "data-borderline-middle" in buttons[1]
    assert 'id="toggle-borderline"' not in page


def _labeling_page(client, manager, labeler, *, name, task_type, hotkeys):
    """(its config, the page, its key help) of the labeling page of a new image project whose classes
    have ``hotkeys``, as ``labeler`` sees it."""
    project = make_project(
        manager,
        name=name,
        modality="image",
        task_type=task_type,
        classes=[{"key": f"c{n}", "hotkey": key} for n, key in enumerate(hotkeys)],
    )
    member_add(project=project, username=labeler.username, role="labeler")
    client.force_login(labeler)
    page = client.get(f"/projects/{project.pk}/label/").content.decode()
    config = json.loads(re.search(r'<script id="lab-config" type="application/json">(.*?)</script>', page, re.S)[1])
    return config, page, re.search(r'<dialog id="help-dialog".*?</dialog>', page, re.S)[0]


@pytest.mark.parametrize(
    ("task_type", "hotkeys", "draw_key", "shown"),
    [
        ("detection", ["1", "2"], "x", "<kbd>x</kbd>"),
        ("detection", ["1", "x"], "X", "<kbd>Shift</kbd>+<kbd>X</kbd>"),  # x is a class's: Shift+X draws
        ("detection", ["x", "X"], "", None),  # both taken: the mouse draws, as before
        ("classification", ["1", "2"], "", None),
    ],
)
def test_the_box_draw_key_is_one_no_class_has(client, manager, labeler, task_type, hotkeys, draw_key, shown):
    config, page, help_rows = _labeling_page(
        client, manager, labeler, name=f"Draw key {task_type} {''.join(hotkeys)}", task_type=task_type, hotkeys=hotkeys
    )
    assert config["drawKey"] == draw_key
    assert ("a new box from the keyboard" in help_rows) == bool(shown)
    if shown:
        assert f"or {shown}, arrows and <kbd>Enter</kbd> at two corners" in page
        assert f"<tr><td>{shown}</td><td>a new box from the keyboard" in help_rows


@pytest.mark.parametrize(
    ("hotkeys", "corner_key", "shown"),
    [
        (["1", "2"], "h", "<kbd>h</kbd>"),
        (["1", "h"], "H", "<kbd>Shift</kbd>+<kbd>H</kbd>"),  # h is a class's: Shift+H chooses the corner
        (["h", "H"], "", None),  # both taken: Shift+arrows move the right and bottom edges, as before
    ],
)
def test_the_box_corner_key_is_one_no_class_has(client, manager, labeler, hotkeys, corner_key, shown):
    config, page, help_rows = _labeling_page(
        client, manager, labeler, name=f"Corner key {''.join(hotkeys)}", task_type="detection", hotkeys=hotkeys
    )
    assert config["cornerKey"] == corner_key
    assert ("the corner of the selected box" in help_rows) == bool(shown)
    if shown:
        assert f"resize the selected box from the corner {shown} chooses" in page
        assert f"<tr><td>{shown}</td><td>the corner of the selected box <kbd>Shift</kbd>+arrows move" in help_rows
        assert f"or those of the corner {shown} chose" in help_rows


def test_guideline_is_rendered_from_markdown_and_sanitized(client, project, labeler, reviewer):
    guideline_publish(
        project=project,
        text="# Cats\n\nA **cat** has whiskers.\n\n<script>alert('x')</script>\n\n[click](javascript:alert(1))",
        author=reviewer,
    )
    client.force_login(labeler)
    page = client.get(f"/projects/{project.pk}/label/").content.decode()
    assert "<h2>Cats</h2>" in page and "<strong>cat</strong>" in page  # under the page's own h1
    assert "alert('x')" not in page and "javascript:" not in page
    assert "Guideline v1" in page and '"guideline": 1' in page


def test_an_outsider_cannot_open_the_labeling_page(client, outsider, project):
    client.force_login(outsider)
    assert client.get(f"/projects/{project.pk}/label/").status_code == 404


def test_the_labeling_page_is_light_and_loads_nothing_from_elsewhere():
    own = [ROOT / "static/labelhub/labeling.css", *sorted((ROOT / "static/labelhub/labeling").glob("*.js"))]
    assert sum(path.stat().st_size for path in own) < 300 * 1024
    for path in [*own, ROOT / "templates/labeling/label.html"]:
        text = path.read_text()
        assert not re.search(r"""(src|href)=["']?(https?:)?//""", text), path
        assert not re.search(r"""import\s*\(?\s*["'](https?:)?//""", text), path
    vendor = ROOT / "static/vendor/wavesurfer"
    assert (vendor / "LICENSE").exists() and (vendor / "wavesurfer.esm.js").exists()


def test_labelers_are_told_when_the_guideline_changed_since_their_last_answer(client, project, labeler, labeler2):
    (item,) = make_items(project, 1)
    guideline_publish(project=project, text="v1")
    annotation_save(item=item, labeler=labeler, value="cat")
    client.force_login(labeler)
    assert 'id="guideline-notice"' not in client.get(f"/projects/{project.pk}/label/").content.decode()
    guideline_publish(project=project, text="v2: whiskers matter")
    page = client.get(f"/projects/{project.pk}/label/").content.decode()
    assert 'id="guideline-notice"' in page and "updated to <b>v2</b>" in page and "(v1)" in page
    client.force_login(labeler2)  # nothing answered yet: nothing to compare with
    assert 'id="guideline-notice"' not in client.get(f"/projects/{project.pk}/label/").content.decode()
