"""Token authentication for machine clients and scripted labeling, in one hand-written query."""

from django.contrib.auth import get_user_model
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
        with rawsql.hot_cursor() as cursor:
            cursor.execute(sql, [key])
            row = cursor.fetchone()
        if row is None:
            raise exceptions.AuthenticationFailed(_("Invalid token."))
        user = rawsql.instance(User, None, row[:-1])
        if not user.is_active:
            raise exceptions.AuthenticationFailed(_("User inactive or deleted."))
        token = Token.from_db(connection.alias, ("key", "user_id", "created"), (key, user.pk, row[-1]))
        token.user = user
        return user, token
