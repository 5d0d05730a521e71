"""Reads for the account pages."""

from django.contrib.auth import get_user_model

from accounts.models import ApiToken


def tokens_for(*, user) -> list[ApiToken]:
    """``user``'s tokens, newest first (never their keys: only digests are stored)."""
    return list(ApiToken.objects.filter(user=user).defer("digest"))


def accounts_exist() -> bool:
    """Whether the instance has any account (the first-account link works only while it has none)."""
    return get_user_model().objects.exists()
