"""Writes for API tokens (create: the key is shown once and never stored; revoke one, revoke all) and for
new accounts (the first one on an empty instance, and the checks an invitation's new account passes)."""

import secrets
from datetime import timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import connection, transaction
from django.utils import timezone
from django.utils.crypto import constant_time_compare, salted_hmac

from accounts.models import ApiToken, key_digest
from accounts.selectors import accounts_exist

KEY_PREFIX = "lh_"  # recognisable in a leaked file or a secret scanner's findings
LAST_USED_RESOLUTION = timedelta(minutes=5)


def token_create(*, user, name: str) -> tuple[ApiToken, str]:
    """A new token for ``user`` named ``name`` (e.g. the machine it is for). Answers the row and the key:
    the key is shown to the user once and only its digest is kept. It expires after
    ``LABELHUB_TOKEN_TTL_SECONDS`` when that is set."""
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    now = timezone.now()
    ttl = settings.LABELHUB_TOKEN_TTL_SECONDS
    token = ApiToken.objects.create(
        user=user,
        name=name[:100],
        digest=key_digest(key),
        prefix=key[: len(KEY_PREFIX) + 5],
        created=now,
        expires=now + timedelta(seconds=ttl) if ttl else None,
    )
    return token, key


def token_revoke(*, user, token_id: int) -> bool:
    """Delete ``user``'s token ``token_id``; answers whether there was one (another user's token is
    never touched)."""
    deleted, _ = ApiToken.objects.filter(pk=token_id, user=user).delete()
    return bool(deleted)


def tokens_revoke_all(*, user_id: int) -> int:
    """Delete every token of the user; answers how many there were."""
    deleted, _ = ApiToken.objects.filter(user_id=user_id).delete()
    return deleted


def token_touch(*, token: ApiToken, now) -> None:
    """Record that ``token`` was used, at most once per ``LAST_USED_RESOLUTION`` so that the labeling loop
    (a request per answer) writes nothing on almost every request."""
    if token.last_used is None or now - token.last_used >= LAST_USED_RESOLUTION:
        ApiToken.objects.filter(pk=token.pk).update(last_used=now)
        token.last_used = now


def revoke_tokens_on_credential_change(sender, instance, raw=False, update_fields=None, **kwargs):
    """``pre_save`` of the user model: a changed password or a deactivation revokes all the user's tokens
    (in the same transaction as the save). Saves that touch neither field (the last-login stamp at every
    sign-in) cost nothing; the others read the stored password and flag once."""
    if raw or instance.pk is None:
        return
    if update_fields is not None and not {"password", "is_active"} & set(update_fields):
        return
    stored = get_user_model().objects.filter(pk=instance.pk).values("password", "is_active").first()
    if stored is None:
        return
    if stored["password"] != instance.password or (stored["is_active"] and not instance.is_active):
        tokens_revoke_all(user_id=instance.pk)


# ------------------------------------------------------------------------------------------------
# new accounts: the first one on an empty instance, and those made from an invitation's link
# ------------------------------------------------------------------------------------------------
def username_as_typed(username) -> str:
    """A username as it is stored and looked up: stripped and NFKC-normalized, as Django's own forms and
    ``create_user`` do. "José" typed or pasted with its accent as a separate mark (NFD, as macOS file names
    hold it) was refused as "only letters, numbers and @/./+/-/_" when joining, and never signed in."""
    return get_user_model().normalize_username((username or "").strip())


def new_account_errors(*, username: str, email: str, password: str) -> dict[str, list[str]]:
    """What is wrong with a new account's username, e-mail and password, by field (empty when nothing is):
    a username missing, taken (case-insensitively) or refused by the user model's validator; an e-mail
    given that is no address; a password that Django's validators refuse (``AUTH_PASSWORD_VALIDATORS``,
    which compare it with the username and e-mail too)."""
    users = get_user_model()
    errors: dict[str, list[str]] = {}
    if not username:
        errors["username"] = ["choose a username"]
    elif users.objects.filter(username__iexact=username).exists():
        errors["username"] = [f"the username '{username}' is taken"]
    else:
        try:
            users.username_validator(username)
        except ValidationError as exc:
            errors["username"] = exc.messages
    if email:
        try:
            validate_email(email)
        except ValidationError:
            errors["email"] = [f"'{email}' is not an e-mail address"]
    try:
        validate_password(password or "", user=users(username=username, email=email))
    except ValidationError as exc:
        errors["password"] = exc.messages
    return errors


def first_account_token() -> str:
    """The secret part of the first-account link, ``/setup/<token>/``: an HMAC of the installation's
    ``SECRET_KEY``, so every web process and machine of one installation knows the same link and nothing
    is stored. Whoever can run ``manage.py first_account_link`` on the server (or read the web container's
    log, which prints it while the instance has no account) can open it; a visitor who merely reaches an
    empty instance cannot make themselves its administrator."""
    return salted_hmac("labelhub.accounts.first-account", "first-account", algorithm="sha256").hexdigest()[:32]


def first_account_token_valid(token: str) -> bool:
    return constant_time_compare(token or "", first_account_token())


FIRST_ACCOUNT_LOCK = 0x4C48_0001  # the advisory lock key of first_account_create ("LH", 1)


class AccountsExist(Exception):
    """The instance has an account already: the first-account link no longer makes one."""


@transaction.atomic
def first_account_create(*, token: str, username: str, email: str, password: str):
    """Make the instance's first account, a superuser (it creates projects and may open the Django admin),
    when ``token`` is the first-account token and no account exists. Raises ``PermissionError`` for a
    wrong token, ``AccountsExist`` once any account exists (two people submitting the link at once make
    one account, not two: on PostgreSQL the check holds a transaction-level advisory lock; SQLite runs
    one writer at a time), ValidationError by field for a bad username, e-mail or password."""
    if not first_account_token_valid(token):
        raise PermissionError("not the first-account link")
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [FIRST_ACCOUNT_LOCK])
    if accounts_exist():
        raise AccountsExist
    username, email = username_as_typed(username), (email or "").strip()
    errors = new_account_errors(username=username, email=email, password=password)
    if errors:
        raise ValidationError(errors)
    return get_user_model().objects.create_superuser(username=username, email=email, password=password)
