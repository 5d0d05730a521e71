"""Who is asking: token authentication for machine clients and the session backend for the browser, each
loading the user in one hand-written query (the labeling loop authenticates on every answer)."""

from django.contrib.auth import backends, get_user_model
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from rest_framework import authentication, exceptions

from accounts.models import ApiToken, key_digest
from accounts.services import token_touch
from accounts.signin import client_address, signin_failed, signin_succeeded, signin_wait
from labelhub import rawsql

TOKEN_FIELDS = ("id", "user_id", "name", "created", "expires", "last_used")


class TokenAuthentication(authentication.TokenAuthentication):
    """DRF's ``Authorization: Token <key>`` scheme, same contract and messages, on ``accounts.ApiToken``.

    The key's SHA-256 is looked up together with its user in one hand-written, indexed query (every
    API request of a scripted labeler pays it; building the ORM's ``select_related`` costs more than
    running it). An expired token answers 401 saying so; ``last_used`` is written at most every few
    minutes (see ``accounts.services.token_touch``).
    """

    def authenticate(self, request):
        if authentication.get_authorization_header(request)[:7].lower() == b"bearer ":
            # DRF answers "credentials were not provided" to another scheme, to a client that sent its token
            raise exceptions.AuthenticationFailed(
                'Send the token as "Authorization: Token <token>" (this API does not read the Bearer scheme).'
            )
        return super().authenticate(request)

    def authenticate_credentials(self, key):
        User = get_user_model()
        sql = (
            f"SELECT {rawsql.select_list(User, 'u')}, {rawsql.select_list(ApiToken, 't', TOKEN_FIELDS)} "
            f"FROM {ApiToken._meta.db_table} t "
            f"JOIN {User._meta.db_table} u ON u.{User._meta.pk.column} = t.user_id WHERE t.digest = %s"
        )
        row = rawsql.fetch_one(sql, [key_digest(key)])
        if row is None:
            raise exceptions.AuthenticationFailed(_("Invalid token."))
        n = len(TOKEN_FIELDS)
        user = rawsql.instance(User, None, row[:-n])
        if not user.is_active:
            raise exceptions.AuthenticationFailed(_("User inactive or deleted."))
        token = rawsql.instance(ApiToken, TOKEN_FIELDS, row[-n:])
        token.user = user
        now = timezone.now()
        expires = token.expires_at
        if expires is not None and expires <= now:
            raise exceptions.AuthenticationFailed(_("Token expired: sign in again for a new one."))
        token_touch(token=token, now=now)
        return user, token


def user_by_id(user_id):
    """The user with that primary key, or None: the ORM's ``get(pk=...)`` in one hand-written query."""
    User = get_user_model()
    sql = f"SELECT {rawsql.select_list(User, 'u')} FROM {User._meta.db_table} u WHERE u.{User._meta.pk.column} = %s"
    try:
        user_id = User._meta.pk.to_python(user_id)
    except ValidationError:
        return None
    row = rawsql.fetch_one(sql, [user_id])
    return None if row is None else rawsql.instance(User, None, row)


class SignInThrottled(PermissionDenied):
    """Raised by the backend for a throttled attempt: ``django.contrib.auth.authenticate`` then stops
    and answers None, and the view reads the wait from ``request.signin_retry_after``."""


class ModelBackend(backends.ModelBackend):
    """Django's username and password backend, behind the sign-in throttle (``accounts.signin``) so every
    password form (the login page, the API token endpoint, the admin) is throttled the same way and a
    throttled attempt costs no password hash. Loading the signed-in user, which every page and every
    request of the labeling page does, is one hand-written query (see labelhub.rawsql)."""

    def authenticate(self, request, username=None, password=None, **kwargs):
        if username is None:
            username = kwargs.get(get_user_model().USERNAME_FIELD)
        if username is None or password is None:
            return None
        address = client_address(request) if request is not None else None
        wait = signin_wait(username=username, address=address)
        if wait:
            if request is not None:
                request.signin_retry_after = wait
            raise SignInThrottled
        user = super().authenticate(request, username=username, password=password, **kwargs)
        if user is None:
            signin_failed(username=username, address=address)
        else:
            signin_succeeded(username=username, address=address)
        return user

    def get_user(self, user_id):
        user = user_by_id(user_id)
        return user if user is not None and self.user_can_authenticate(user) else None
