"""Evidence stays: every answer (current, superseded, archived), what each version shipped, and the
classes and guideline versions answers were given under.

An account that answered is evidence: deleting it (the admin, a shell) took every answer it gave, its
superseded and archived answers with them, and the next version shipped other labels. Such an account is
deactivated instead; one that never answered can still be deleted. The admin shows answers, revisions and
guideline versions without rewriting them, and edits no class behind the taxonomy's back. A version is
stored files: what it shipped stays downloadable, byte for byte, whatever is edited or deleted later."""

from html.parser import HTMLParser

import pytest
from django.contrib.auth import get_user_model
from django.db.models import ProtectedError
from django.test import Client

from labeling.models import Annotation, AnnotationRevision, ArchivedAnnotation, Decision
from labeling.services.campaigns import campaign_create
from labeling.services.guidelines import guideline_publish
from labeling.services.review import decision_record
from tests.conftest import make_user
from tests.labeling.version_helpers import add_texts, answer, build, labelers, manifest, text_project

pytestmark = pytest.mark.django_db


@pytest.fixture
def answered(manager):
    """Three labelers on six texts; the third changed their mind on one item and had two items relabeled
    by a campaign (archived answers), which the first two answered again."""
    project = text_project(manager)
    items = add_texts(project, [f"text {i}" for i in range(6)])
    a, b, c = labelers(project, 3)
    for i, item in enumerate(items):
        answer(item, a, "cat" if i % 2 else "dog")
        answer(item, b, "cat" if i % 2 else "dog")
        answer(item, c, "dog")
    answer(items[1], c, "cat")  # a change of mind: the "dog" stays as a revision
    campaign_create(project=project, name="again", item_ids=[items[4].pk, items[5].pk], user=manager)
    for item in items[4:]:
        answer(item, a, "other")
    return project, items, c


def evidence_of(user):
    return (
        Annotation.objects.filter(labeler=user).count(),
        AnnotationRevision.objects.filter(annotation__labeler=user).count(),
        ArchivedAnnotation.objects.filter(labeler=user).count(),
    )


def test_the_admin_refuses_to_delete_an_account_that_answered_and_says_to_deactivate_it(
    answered, manager, admin_client
):
    project, items, labeler = answered
    before = build(project, manager)
    held = evidence_of(labeler)
    assert held == (4, 1, 2)

    assert admin_client.get("/admin/auth/user/").status_code == 200
    assert admin_client.get(f"/admin/auth/user/{labeler.pk}/change/").status_code == 200
    page = admin_client.get(f"/admin/auth/user/{labeler.pk}/delete/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "4 answers, 1 superseded answer and 2 archived answers" in html
    assert "deactivate the account instead" in html

    response = admin_client.post(f"/admin/auth/user/{labeler.pk}/delete/", {"post": "yes"})
    assert response.status_code == 200  # the page again, nothing deleted
    response = admin_client.post(
        "/admin/auth/user/", {"action": "delete_selected", "_selected_action": [labeler.pk], "post": "yes"}
    )
    assert get_user_model().objects.filter(pk=labeler.pk).exists()
    assert evidence_of(labeler) == held

    after = build(project, manager)
    assert after.content_hash == before.content_hash
    assert manifest(after) == manifest(before)


def test_deleting_an_account_that_answered_from_a_shell_raises_and_keeps_everything(answered):
    _, _, labeler = answered
    held = evidence_of(labeler)
    with pytest.raises(ProtectedError):
        labeler.delete()
    assert evidence_of(labeler) == held


def test_a_deactivated_account_keeps_its_answers_counting(answered, manager):
    project, _, labeler = answered
    before = build(project, manager)
    labeler.is_active = False
    labeler.save()
    assert build(project, manager).content_hash == before.content_hash


def test_an_account_that_never_answered_is_still_deleted_and_its_decisions_stay(answered, manager, admin_client):
    """A reviewer's decisions keep their label and rationale; only the name goes ("a reviewer whose
    account is gone")."""
    project, items, _ = answered
    sme = make_user("sme")
    decision_record(item=items[0], reviewer=sme, action="label", label="cat", rationale="whiskers")
    idle = make_user("idle")

    response = admin_client.post(
        "/admin/auth/user/", {"action": "delete_selected", "_selected_action": [sme.pk, idle.pk], "post": "yes"}
    )
    assert response.status_code == 302
    assert not get_user_model().objects.filter(pk__in=[sme.pk, idle.pk]).exists()
    decision = Decision.objects.get(item=items[0])
    assert (decision.label, decision.rationale, decision.reviewer) == ("cat", "whiskers", None)


def test_the_admin_shows_answers_and_guidelines_but_does_not_rewrite_them(answered, admin_client):
    """An answer edited in the admin lost its earlier value (the app keeps it as a revision) and a
    guideline version edited there no longer said what its answers were given under."""
    project, items, labeler = answered
    current = Annotation.objects.get(item=items[1], labeler=labeler)
    revision = AnnotationRevision.objects.get(annotation=current)
    guideline = guideline_publish(project=project, text="Whiskers make a cat.")
    text = guideline.text

    assert admin_client.get(f"/admin/labeling/annotation/{current.pk}/change/").status_code == 200
    response = admin_client.post(
        f"/admin/labeling/annotation/{current.pk}/change/",
        {"item": items[1].pk, "labeler": labeler.pk, "value": "other", "revision": 2},
    )
    assert response.status_code == 403
    response = admin_client.post(
        f"/admin/labeling/annotationrevision/{revision.pk}/change/",
        {"annotation": current.pk, "value": "other", "revision": 1, "answered": "2026-01-01 00:00:00"},
    )
    assert response.status_code == 403
    response = admin_client.post(
        f"/admin/labeling/guideline/{guideline.pk}/change/",
        {"project": project.pk, "version": guideline.version, "text": "something else"},
    )
    assert response.status_code == 403
    assert admin_client.get("/admin/labeling/annotation/add/").status_code == 403
    assert admin_client.get("/admin/labeling/guideline/add/").status_code == 403

    current.refresh_from_db()
    revision.refresh_from_db()
    guideline.refresh_from_db()
    assert (current.value, revision.value, guideline.text) == ("cat", "dog", text)


class _Form(HTMLParser):
    """The fields a page's form would post, as a browser fills them in (first form with inputs)."""

    def __init__(self):
        super().__init__()
        self.data, self._select, self._multiple, self._textarea = {}, None, False, None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        name = a.get("name")
        if tag == "input" and name and a.get("type") not in ("submit", "button", "file"):
            if a.get("type") in ("checkbox", "radio"):
                if "checked" in a:
                    self.data[name] = a.get("value", "on")
            else:
                self.data[name] = a.get("value", "")
        elif tag == "select" and name:
            self._select, self._multiple = name, "multiple" in a
            self.data.setdefault(name, [] if self._multiple else "")
        elif tag == "option" and self._select and "selected" in a:
            if self._multiple:
                self.data[self._select].append(a.get("value", ""))
            else:
                self.data[self._select] = a.get("value", "")
        elif tag == "textarea" and name:
            self._textarea = name
            self.data[name] = ""

    def handle_endtag(self, tag):
        if tag == "select":
            self._select = None
        elif tag == "textarea":
            self._textarea = None

    def handle_data(self, data):
        if self._textarea:
            self.data[self._textarea] += data.removeprefix("\n")


def admin_form(client, url):
    form = _Form()
    form.feed(client.get(url).content.decode())
    return {k: v for k, v in form.data.items() if k != "csrfmiddlewaretoken"}


def test_the_project_admin_does_not_rename_delete_or_retire_classes_behind_the_taxonomy(
    answered, manager, admin_client
):
    """A class key edited, a class deleted or retired in the project's admin page changed no recorded,
    undoable taxonomy change, and the answers given with it counted for nothing in the next version."""
    project, _, _ = answered
    before = build(project, manager)
    url = f"/admin/labeling/project/{project.pk}/change/"
    data = admin_form(admin_client, url)
    rows = {data[f"classes-{i}-id"]: i for i in range(int(data["classes-TOTAL_FORMS"]))}
    cat, dog = (rows[str(project.classes.get(key=k).pk)] for k in ("cat", "dog"))
    data[f"classes-{cat}-key"] = "kitten"
    data[f"classes-{dog}-retired"] = "on"
    data[f"classes-{dog}-DELETE"] = "on"
    response = admin_client.post(url, data)
    assert response.status_code == 302, response.content.decode()[:3000]

    assert sorted(project.classes.filter(retired=False).values_list("key", flat=True)) == ["cat", "dog", "other"]
    assert build(project, manager).content_hash == before.content_hash


def test_a_version_stays_downloadable_and_byte_identical_after_its_items_source_and_tag_are_deleted(
    manager, admin_client
):
    """Every format of a version is a stored file written at build time: deleting (in the admin) the data
    source and tag of the items it shipped changes no byte of it, and its diff still reads. The items
    themselves the admin does not delete: the version holds them (only a purge, which rewrites the
    version's files, deletes them: test_item_deletion, test_version_purge)."""
    import hashlib

    from labeling.models import DataSource, Item, Tag

    project = text_project(manager)
    source = DataSource.objects.create(project=project, name="crawl")
    items = add_texts(project, [f"text {i}" for i in range(4)], tags=["batch"], source=source)
    (a,) = labelers(project, 1)
    for i, item in enumerate(items):
        answer(item, a, ("cat", "dog")[i % 2])
    version = build(project, manager)
    client = Client()
    client.force_login(manager)
    base = f"/api/projects/{project.pk}/versions/{version.number}"

    def downloads():
        out = {}
        for artifact in version.artifacts.all():
            response = client.get(f"{base}/download?format={artifact.format}")
            assert response.status_code == 200, artifact.format
            out[artifact.format] = hashlib.sha256(b"".join(response.streaming_content)).hexdigest()
        return out

    shipped = downloads()
    assert shipped == {a.format: a.sha256 for a in version.artifacts.all()}
    assert shipped["jsonl"] == version.content_hash

    response = admin_client.post(f"/admin/labeling/item/{items[0].pk}/delete/", {"post": "yes"})
    assert response.status_code == 302 and Item.objects.filter(pk=items[0].pk).exists()  # refused
    for url in (
        f"/admin/labeling/datasource/{source.pk}/delete/",
        f"/admin/labeling/tag/{Tag.objects.get(project=project).pk}/delete/",
    ):
        assert admin_client.post(url, {"post": "yes"}).status_code == 302, url
    assert Item.objects.filter(project=project, source=None).count() == 4

    assert downloads() == shipped
    later = build(project, manager)
    diff = client.get(f"/api/projects/{project.pk}/versions/{later.number}/diff?against={version.number}")
    assert diff.status_code == 200 and diff.json()["n_removed"] == 0


def test_an_answer_changed_after_a_version_shipped_it_keeps_its_earlier_value_and_the_version_its_bytes(
    answered, manager
):
    import hashlib

    from django.core.files.storage import default_storage

    project, items, labeler = answered
    version = build(project, manager)
    shipped = [r for r in manifest(version) if r["item"] == items[0].pk]
    answer(items[0], labeler, "other")  # was "dog"
    current = Annotation.objects.get(item=items[0], labeler=labeler)
    assert (current.value, current.revision) == ("other", 2)
    assert list(current.revisions.values_list("value", flat=True)) == ["dog"]
    for artifact in version.artifacts.all():
        with default_storage.open(artifact.name, "rb") as handle:
            assert hashlib.sha256(handle.read()).hexdigest() == artifact.sha256, artifact.format
    assert [r for r in manifest(version) if r["item"] == items[0].pk] == shipped


def test_the_admin_deletes_no_single_answer_or_guideline_version_but_still_deletes_their_project(
    answered, admin_client
):
    """An answer deleted on its own in the admin was lost, and the item's answer count the queue trusts
    was left one too high; a guideline version deleted on its own left its answers naming none."""
    project, items, labeler = answered
    current = Annotation.objects.get(item=items[1], labeler=labeler)
    guideline = guideline_publish(project=project, text="Whiskers make a cat.")
    for model, pk in (("annotation", current.pk), ("guideline", guideline.pk)):
        assert admin_client.post(f"/admin/labeling/{model}/{pk}/delete/", {"post": "yes"}).status_code == 403
        admin_client.post(
            f"/admin/labeling/{model}/", {"action": "delete_selected", "_selected_action": [pk], "post": "yes"}
        )
        page = admin_client.get(f"/admin/labeling/{model}/{pk}/change/").content.decode()
        assert f"/admin/labeling/{model}/{pk}/delete/" not in page
    assert Annotation.objects.filter(pk=current.pk).exists()
    assert AnnotationRevision.objects.filter(annotation=current).exists()
    assert project.guidelines.filter(pk=guideline.pk).exists()

    response = admin_client.post(f"/admin/labeling/project/{project.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302
    assert not Annotation.objects.filter(pk=current.pk).exists()


def test_the_item_admin_does_not_rewrite_what_labelers_answered(answered, manager, admin_client):
    """An item's text, file, checksum or imported label edited in the admin changed what its answers were
    given to (and the split its checksum keeps) with nothing recorded; the next version shipped the new
    text under the old labels."""
    project, items, _ = answered
    before = build(project, manager)
    item = items[0]
    url = f"/admin/labeling/item/{item.pk}/change/"
    data = admin_form(admin_client, url)
    data.update(text="something else entirely", sha256="0" * 64, label="dog", original_name="renamed.txt")
    response = admin_client.post(url, data)
    import re

    errors = re.findall(r'class="errorlist[^"]*"[^>]*>(.*?)</ul>', response.content.decode(), re.S)
    assert response.status_code == 302, errors
    item.refresh_from_db()
    assert (item.text, item.label) == ("text 0", "")
    assert build(project, manager).content_hash == before.content_hash


def test_the_admin_does_not_rewrite_what_a_version_says_it_shipped(answered, manager, admin_client):
    """A version's content_hash, counts, recipe or storage folder edited in the admin no longer described
    its files (or named another version's): it is shown there, and deleted, never edited."""
    project, _, _ = answered
    version = build(project, manager)
    url = f"/admin/labeling/datasetversion/{version.pk}/change/"
    assert admin_client.get(url).status_code == 200
    data = admin_form(admin_client, url)
    data.update(content_hash="0" * 64, storage_prefix="datasets/elsewhere")
    response = admin_client.post(url, data)
    assert response.status_code == 403
    stored = type(version).objects.get(pk=version.pk)
    assert (stored.content_hash, stored.storage_prefix) == (version.content_hash, version.storage_prefix)


def test_a_labeler_removed_from_the_project_keeps_their_answers_counting(answered, manager, api):
    project, _, labeler = answered
    before = build(project, manager)
    held = evidence_of(labeler)
    assert api(manager).delete(f"/api/projects/{project.pk}/members/{labeler.username}/").status_code == 204
    assert evidence_of(labeler) == held
    assert build(project, manager).content_hash == before.content_hash


def test_the_project_admin_keeps_the_task_modality_and_guideline_answers_were_given_under(
    answered, manager, admin_client
):
    """A project's task or modality edited in the admin read every stored answer as another kind (class
    keys as transcripts), and its active guideline set back to an old version made new answers name it."""
    project, _, _ = answered
    first = guideline_publish(project=project, text="v1")
    latest = guideline_publish(project=project, text="v2")
    url = f"/admin/labeling/project/{project.pk}/change/"
    data = admin_form(admin_client, url)
    data.update(task_type="transcription", modality="image", active_guideline=str(first.pk), name="Renamed")
    response = admin_client.post(url, data)
    assert response.status_code == 302
    project.refresh_from_db()
    assert (project.task_type, project.modality, project.active_guideline_id) == ("classification", "text", latest.pk)
    assert project.name == "Renamed"


def test_an_item_sent_back_twice_keeps_every_answer_of_both_rounds(manager):
    from labeling.selectors import archived_answers_by_item
    from labeling.services.campaigns import campaign_send_back

    project = text_project(manager)
    (item,) = add_texts(project, ["a purr"])
    a, b = labelers(project, 2)
    answer(item, a, "cat")
    answer(item, a, "dog")  # a change of mind, kept as a revision
    answer(item, b, "cat")
    first = campaign_send_back(project=project, item=item, user=manager)
    answer(item, a, "other")
    second = campaign_send_back(project=project, item=item, user=manager)
    assert second.pk == first.pk  # the standing campaign
    answer(item, b, "other")

    archived = archived_answers_by_item(item_ids=[item.pk])[item.pk]
    assert sorted((r["labeler"], r["value"]) for r in archived) == [
        ("lab0", "cat"),
        ("lab0", "dog"),
        ("lab0", "other"),
        ("lab1", "cat"),
    ]
    assert list(Annotation.objects.filter(item=item).values_list("value", flat=True)) == ["other"]
    (row,) = manifest(build(project, manager))
    assert row["label"] == "other"
