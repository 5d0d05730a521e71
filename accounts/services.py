"""Writes for API tokens: create (the key is shown once and never stored), revoke one, revoke all."""

import secrets
from datetime import timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.utils import timezone

from accounts.models import ApiToken, key_digest

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
