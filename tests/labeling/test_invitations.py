"""Invitations: a manager brings someone with no account into the project by e-mail; the one-time link
makes the account and the membership, and a used, withdrawn, expired or unknown link says why it fails."""

import re
import threading
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.contrib.messages import get_messages
from django.core import mail
from django.core.mail.backends import locmem
from django.utils import timezone

from labeling.models import Invitation, Membership
from labeling.services.invitations import invitation_create

pytestmark = pytest.mark.django_db

LINK = re.compile(r"http://testserver/invite/[\w-]+/")


def invite(project, manager, email="new.person@example.com", role="labeler"):
    _, link = invitation_create(
        project=project,
        email=email,
        role=role,
        invited_by=manager,
        link_for=lambda token: f"http://testserver/invite/{token}/",
    )
    return link


def test_a_manager_invites_an_address_with_no_account_and_the_link_is_mailed_and_shown(
    client, manager, project, django_capture_on_commit_callbacks
):
    client.force_login(manager)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            f"/projects/{project.pk}/members/", {"action": "add", "who": "New.Person@example.com", "role": "reviewer"}
        )
    assert response.status_code == 302
    shown = " ".join(str(m) for m in get_messages(response.wsgi_request))
    link = LINK.search(shown).group(0)
    assert "has no account here yet" in shown
    assert len(mail.outbox) == 1 and mail.outbox[0].to == ["New.Person@example.com"]
    assert link in mail.outbox[0].body and project.name in mail.outbox[0].body
    # Only the token's digest is stored.
    token = link.rstrip("/").rsplit("/", 1)[1]
    invitation = Invitation.objects.get()
    assert token not in invitation.token_digest and invitation.role == "reviewer"
    page = client.get(f"/projects/{project.pk}/members/").content.decode()
    assert 'data-invitation="New.Person@example.com"' in page
    # the waiting invitations are in the page once, and not in its title (the title block was left open)
    title = re.search(r"<title>(.*?)</title>", page, re.S).group(1)
    assert "Invitations" not in title and page.count('id="invitations"') == 1
    assert "as a reviewer (SME)" in shown or "reviewer (SME)" in shown


def test_the_invitee_chooses_a_username_and_password_and_lands_in_the_project(client, manager, project, labeler):
    link = invite(project, manager).replace("http://testserver", "")
    assert "Join" in client.get(link).content.decode()

    weak = client.post(link, {"username": "newbie", "password": "12345678"})
    assert weak.status_code == 400 and 'data-error-for="password"' in weak.content.decode()
    taken = client.post(link, {"username": labeler.username.upper(), "password": "a sound passphrase"})
    assert taken.status_code == 400 and "is taken" in taken.content.decode()
    assert not get_user_model().objects.filter(username="newbie").exists()

    joined = client.post(link, {"username": "newbie", "password": "a sound passphrase"})
    assert joined.status_code == 302 and joined["Location"] == f"/projects/{project.pk}/"
    newbie = get_user_model().objects.get(username="newbie")
    assert newbie.email == "new.person@example.com" and newbie.check_password("a sound passphrase")
    assert Membership.objects.get(project=project, user=newbie).role == "labeler"
    assert client.get(f"/projects/{project.pk}/label/").status_code == 200  # signed in as the new account

    client.logout()
    used = client.get(link)
    assert used.status_code == 410 and "already used" in used.content.decode()


def test_a_username_with_its_accents_as_separate_marks_joins_as_the_composed_name(client, manager, project):
    # "José" pasted from a macOS file name holds "e" and a combining accent (NFD): it was refused as "only
    # letters, numbers and @/./+/-/_", and the same name composed would have been a second account.
    import unicodedata

    link = invite(project, manager).replace("http://testserver", "")
    decomposed = unicodedata.normalize("NFD", "José.Müller")
    joined = client.post(link, {"username": decomposed, "password": "a sound passphrase"})
    assert joined.status_code == 302, joined.content.decode()
    assert get_user_model().objects.filter(username="José.Müller").exists()
    client.logout()
    again = client.post(
        invite(project, manager, email="other@example.com").replace("http://testserver", ""),
        {"username": decomposed, "password": "a sound passphrase"},
    )
    assert again.status_code == 400 and "is taken" in again.content.decode()


def test_withdrawn_expired_unknown_and_replaced_links_say_why_they_fail(client, manager, project):
    first = invite(project, manager).replace("http://testserver", "")
    second = invite(project, manager).replace("http://testserver", "")
    replaced = client.get(first)
    assert replaced.status_code == 410 and "withdrawn" in replaced.content.decode()
    assert client.get(second).status_code == 200

    Invitation.objects.filter(revoked=None).update(expires=timezone.now() - timedelta(minutes=1))
    expired = client.get(second)
    assert expired.status_code == 410 and "expired" in expired.content.decode()
    assert client.post(second, {"username": "late", "password": "a sound passphrase"}).status_code == 410
    assert not get_user_model().objects.filter(username="late").exists()

    unknown = client.get("/invite/not-a-token/")
    assert unknown.status_code == 404 and "copied whole" in unknown.content.decode()


def test_someone_signed_in_joins_with_their_account_and_keeps_a_higher_role(client, manager, project, reviewer):
    outsider_link = invite(project, manager, email="someone@example.com", role="reviewer")
    guest = get_user_model().objects.create_user("guest", "guest@example.com", "pw-guest")
    client.force_login(guest)
    assert client.post(outsider_link.replace("http://testserver", "")).status_code == 302
    assert Membership.objects.get(project=project, user=guest).role == "reviewer"

    # A reviewer invited (again, under another address) as a labeler stays a reviewer.
    link = invite(project, manager, email="other-address@example.com").replace("http://testserver", "")
    client.force_login(reviewer)
    client.post(link)
    assert Membership.objects.get(project=project, user=reviewer).role == "reviewer"


def test_invitations_api_is_for_managers_and_refuses_members_addresses(api, manager, project, labeler):
    url = f"/api/projects/{project.pk}/invitations/"
    assert api(labeler).post(url, {"email": "x@example.com", "role": "labeler"}, format="json").status_code == 403
    assert api(labeler).get(url).status_code == 403

    created = api(manager).post(url, {"email": "x@example.com", "role": "labeler"}, format="json")
    assert created.status_code == 201
    body = created.json()
    assert body["state"] == "pending" and "/invite/" in body["link"]
    listed = api(manager).get(url).json()["results"]
    assert [(i["email"], i["invited_by"]) for i in listed] == [("x@example.com", manager.username)]
    assert "link" not in listed[0]

    labeler.email = "labeler@example.com"
    labeler.save()
    member = api(manager).post(url, {"email": "LABELER@example.com", "role": "manager"}, format="json")
    assert member.status_code == 400 and "already a member" in str(member.json())
    bad = api(manager).post(url, {"email": "not an address", "role": "labeler"}, format="json")
    assert bad.status_code == 400 and "email" in bad.json()

    assert api(manager).delete(f"{url}{body['id']}/").status_code == 204
    assert api(manager).get(url).json()["results"] == []
    assert api(manager).get(body["link"].replace("http://testserver", "")).status_code == 410


class GatedBackend(locmem.EmailBackend):
    """The locmem backend behind a gate: a mail server that answers only when the test says so."""

    gate = threading.Event()

    def send_messages(self, messages):
        assert self.gate.wait(10), "the gate was never opened"
        return super().send_messages(messages)


def test_the_invitation_mail_leaves_off_the_request_so_a_slow_mail_server_never_holds_the_page(
    client, manager, project, settings, django_capture_on_commit_callbacks
):
    settings.LABELHUB_MAIL_IN_BACKGROUND = True
    settings.EMAIL_BACKEND = f"{__name__}.GatedBackend"
    GatedBackend.gate.clear()
    client.force_login(manager)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            f"/projects/{project.pk}/members/", {"action": "add", "who": "slow@example.com", "role": "labeler"}
        )
    # the page is answered while the mail server has not answered yet
    assert response.status_code == 302 and mail.outbox == []
    link = LINK.search(" ".join(str(m) for m in get_messages(response.wsgi_request))).group(0)
    GatedBackend.gate.set()
    (sender,) = [t for t in threading.enumerate() if t.name.startswith("invitation-mail-")]
    sender.join(10)
    assert len(mail.outbox) == 1 and link in mail.outbox[0].body and mail.outbox[0].to == ["slow@example.com"]


def test_an_invitation_with_a_field_it_does_not_take_is_refused_and_changes_nothing(
    api, manager, project, django_capture_on_commit_callbacks
):
    # "expires" (a longer link) was dropped: the address's pending invitation was withdrawn and a new
    # one e-mailed with the usual 7 days, as if the field had not been sent.
    url = f"/api/projects/{project.pk}/invitations/"
    invite(project, manager, email="x@example.com")
    pending = Invitation.objects.get()
    body = {"email": "x@example.com", "role": "reviewer", "expires": "2027-06-30T00:00:00Z"}
    with django_capture_on_commit_callbacks(execute=True):
        response = api(manager).post(url, body, format="json")
    assert response.status_code == 400
    assert response.json()["expires"] == ["unknown field (the fields here: email, role)"]
    (kept,) = Invitation.objects.all()
    assert kept == pending and kept.state() == "pending" and kept.role == "labeler"
    assert mail.outbox == []


def test_an_invitation_to_a_project_whose_name_has_a_line_break_is_still_mailed(
    api, manager, project, django_capture_on_commit_callbacks
):
    # The name went into the Subject header as it is: its line break failed every invitation mail of the
    # project (Django refuses a header with a newline), logged on the server, unseen by the manager.
    project.name = "Night shots\nBcc: someone@example.com"
    project.save()
    with django_capture_on_commit_callbacks(execute=True):
        created = api(manager).post(
            f"/api/projects/{project.pk}/invitations/", {"email": "x@example.com", "role": "labeler"}, format="json"
        )
    assert created.status_code == 201
    assert len(mail.outbox) == 1 and mail.outbox[0].to == ["x@example.com"]
    message = mail.outbox[0].message()  # what the mail server is sent
    assert message["Subject"] == "Invitation to Night shots Bcc: someone@example.com"
    assert message["Bcc"] is None and mail.outbox[0].recipients() == ["x@example.com"]


def test_roles_read_in_lower_case_with_their_article_in_every_sentence(
    client, manager, project, labeler2, django_capture_on_commit_callbacks
):
    """The members page said "ann is now Labeler." and the invitation page "invites … as Labeler", while
    the invitation's own message said "as labeler"; each now reads "a labeler", "a reviewer (SME)"."""
    from tests.conftest import make_user

    make_user("ann")
    client.force_login(manager)

    def said(response):
        return " ".join(str(m) for m in get_messages(response.wsgi_request))

    def shown(response):  # the message bar of the page the form led to
        return response.content.decode()

    members = f"/projects/{project.pk}/members/"
    added = client.post(members, {"action": "add", "who": "ann", "role": "labeler"}, follow=True)
    assert "ann is now a labeler." in shown(added)
    changed = client.post(members, {"action": "role", "username": labeler2.username, "role": "reviewer"}, follow=True)
    assert f"{labeler2.username} is now a reviewer (SME)." in shown(changed)
    with django_capture_on_commit_callbacks(execute=True):
        invited = client.post(members, {"action": "add", "who": "bo@example.com", "role": "labeler"})
    assert "an invitation to join as a labeler was e-mailed" in said(invited)
    assert "as a labeler." in mail.outbox[-1].body
    link = LINK.search(said(invited)).group(0).replace("http://testserver", "")
    client.logout()
    page = client.get(link).content.decode()
    assert "to this project as <strong>a labeler</strong>." in page, page
    joined = client.post(link, {"username": "bo", "password": "a sound passphrase"})
    assert said(joined) == f"Welcome to {project.name}, as a labeler."
