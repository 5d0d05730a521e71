"""Who is asking: token authentication for machine clients and the session backend for the browser, each
loading the user in one hand-written query (the labeling loop authenticates on every answer)."""

from django.contrib.auth import backends, get_user_model
from django.core.exceptions import ValidationError
from django.db import connection
from django.utils.translation import gettext_lazy as _
from rest_framework import authentication, exceptions
from rest_framework.authtoken.models import Token

from labelhub import rawsql


class TokenAuthentication(authentication.TokenAuthentication):
    """DRF's ``Authorization: Token <key>`` scheme, same contract and messages.

    DRF looks the token up with ``select_related("user")``; building that query costs more than
    running it, and every API request of a scripted labeler pays it, so the join is written out.
    """

    def authenticate_credentials(self, key):
        User = get_user_model()
        sql = (
            f"SELECT {rawsql.select_list(User, 'u')}, t.created FROM {Token._meta.db_table} t "
            f"JOIN {User._meta.db_table} u ON u.{User._meta.pk.column} = t.user_id WHERE t.key = %s"
        )
        row = rawsql.fetch_one(sql, [key])
        if row is None:
            raise exceptions.AuthenticationFailed(_("Invalid token."))
        user = rawsql.instance(User, None, row[:-1])
        if not user.is_active:
            raise exceptions.AuthenticationFailed(_("User inactive or deleted."))
        token = Token.from_db(connection.alias, ("key", "user_id", "created"), (key, user.pk, row[-1]))
        token.user = user
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


class ModelBackend(backends.ModelBackend):
    """Django's username and password backend. Loading the signed-in user, which every page and every
    request of the labeling page does, is one hand-written query (see labelhub.rawsql)."""

    def get_user(self, user_id):
        user = user_by_id(user_id)
        return user if user is not None and self.user_can_authenticate(user) else None
