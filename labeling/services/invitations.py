"""Invitations: bring someone who has no account here yet into a project, with a role.

A manager invites an e-mail address; LabelHub sends the link by e-mail (the console in development, SMTP
when ``EMAIL_HOST`` is set) and shows it once to the manager, who may pass it on another way. The invitee
opens the link, chooses a username and a password, and lands in the project as a member. Someone who
already has an account opens the same link signed in and joins with it.

The token is 32 random bytes; only its SHA-256 digest is stored. A link works once, for
``INVITATION_DAYS`` days, until the manager withdraws it; a new invitation of the same address to the
same project withdraws the earlier one (the newest link is the one that works).
"""

import hashlib
import secrets
from datetime import timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.mail import EmailMultiAlternatives
from django.core.validators import validate_email
from django.db import transaction
from django.utils import timezone

from accounts.mail import send_later
from accounts.services import new_account_errors, username_as_typed
from accounts.signin import invitation_mail_sent
from labeling.choices import ROLE_RANK, Role, role_words
from labeling.models import Invitation, Membership

INVITATION_DAYS = 7


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _check_email(email: str) -> str:
    email = (email or "").strip()
    try:
        validate_email(email)
    except ValidationError:
        raise ValidationError({"email": f"'{email}' is not an e-mail address"}) from None
    return email


@transaction.atomic
def invitation_create(*, project, email, role, invited_by, link_for) -> tuple[Invitation, str]:
    """Invite ``email`` to ``project`` as ``role``; answer the invitation and its link (shown once).

    ``link_for(token)`` makes the absolute URL of the accept page (the caller knows the host). Raises
    ValidationError naming the field for a bad address or role, or an address whose account is already a
    member (change their role instead) — an address with an account that is not a member is invited like
    any other: the link asks them to sign in. Raises TooManyMails past ``LABELHUB_INVITATION_MAILS`` mails
    of the inviter, or of the project, within ``LABELHUB_MAIL_WINDOW_SECONDS``.
    """
    email = _check_email(email)
    if role not in Role.values:
        raise ValidationError({"role": f"unknown role '{role}' (one of {', '.join(Role.values)})"})
    member = Membership.objects.filter(project=project, user__email__iexact=email).select_related("user").first()
    if member is not None:
        raise ValidationError(
            {"email": f"{member.user.username} ({email}) is already a member, as {role_words(member.role)}"}
        )
    invitation_mail_sent(inviter_id=getattr(invited_by, "pk", None), project_id=project.pk)
    now = timezone.now()
    Invitation.objects.filter(project=project, email__iexact=email, accepted=None, revoked=None).update(revoked=now)
    token = secrets.token_urlsafe(32)
    invitation = Invitation.objects.create(
        project=project,
        email=email,
        role=role,
        token_digest=_digest(token),
        invited_by=invited_by,
        expires=now + timedelta(days=INVITATION_DAYS),
    )
    link = link_for(token)
    message = _message(invitation, link)
    # sent off the request (accounts.mail): a slow SMTP server must not hold the manager's page, who is
    # shown the link anyway, and the link stays out of the broker
    transaction.on_commit(lambda: send_later(message, name=f"invitation-mail-{invitation.pk}"))
    return invitation, link


def _message(invitation, link) -> EmailMultiAlternatives:
    inviter = invitation.invited_by.get_username() if invitation.invited_by else "A manager"
    body = (
        f"{inviter} invites you to label data in the LabelHub project “{invitation.project.name}”, "
        f"as {role_words(invitation.role)}.\n\n"
        f"Open this link to choose a username and a password (it works once, until "
        f"{invitation.expires:%Y-%m-%d %H:%M} UTC):\n\n{link}\n"
    )
    # One line: a line break in the project's name would make Django refuse the header (and the mail).
    subject = f"Invitation to {' '.join(invitation.project.name.split())}"
    return EmailMultiAlternatives(subject, body, settings.DEFAULT_FROM_EMAIL, [invitation.email])


def invitation_for_token(*, token: str, lock=False) -> Invitation:
    """The pending invitation a link names. ValidationError saying why a link does not work: unknown,
    already used, withdrawn or expired (and when)."""
    rows = Invitation.objects.select_related("project", "invited_by")
    if lock:
        rows = rows.select_for_update(of=("self",))
    invitation = rows.filter(token_digest=_digest(token or "")).first()
    if invitation is None:
        raise ValidationError("This invitation link is not valid: check that it was copied whole.")
    state = invitation.state()
    if state == "accepted":
        raise ValidationError("This invitation was already used. Sign in with the account made with it.")
    if state == "withdrawn":
        raise ValidationError("This invitation was withdrawn. Ask the project's manager for a new one.")
    if state == "expired":
        raise ValidationError(
            f"This invitation expired on {invitation.expires:%Y-%m-%d}. Ask the project's manager for a new one."
        )
    if invitation.project.archived is not None:
        raise ValidationError("The project of this invitation is archived. Ask its manager.")
    return invitation


@transaction.atomic
def invitation_accept(*, token, user=None, username="", password="") -> Membership:
    """Use the invitation: with ``user`` (signed in), or with a new account ``username`` / ``password``
    whose e-mail is the invited address. Answers the membership. A member already in the project keeps
    the higher of their role and the invited one. ValidationError names the field for a taken username
    or a password the validators refuse; nothing is created then."""
    invitation = invitation_for_token(token=token, lock=True)
    if user is None:
        username = username_as_typed(username)
        errors = new_account_errors(username=username, email=invitation.email, password=password)
        if errors:
            raise ValidationError(errors)
        user = get_user_model().objects.create_user(username=username, email=invitation.email, password=password)
    membership = Membership.objects.filter(project=invitation.project, user=user).first()
    if membership is None:
        membership = Membership.objects.create(project=invitation.project, user=user, role=invitation.role)
    elif ROLE_RANK[invitation.role] > ROLE_RANK[membership.role]:
        membership.role = invitation.role
        membership.save(update_fields=["role"])
    invitation.accepted, invitation.accepted_by = timezone.now(), user
    invitation.save(update_fields=["accepted", "accepted_by"])
    return membership


def invitation_revoke(*, invitation) -> Invitation:
    """Withdraw a pending invitation (its link stops working); a used one stays as the record it is."""
    if invitation.accepted is None and invitation.revoked is None:
        invitation.revoked = timezone.now()
        invitation.save(update_fields=["revoked"])
    return invitation
