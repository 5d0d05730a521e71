"""Reads for the account pages."""

from accounts.models import ApiToken


def tokens_for(*, user) -> list[ApiToken]:
    """``user``'s tokens, newest first (never their keys: only digests are stored)."""
    return list(ApiToken.objects.filter(user=user).defer("digest"))
