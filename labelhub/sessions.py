"""Database sessions, read in one hand-written query: every request of a signed-in user reads its session
(see labelhub.rawsql). Writing, expiry and clean-up are Django's. SESSION_ENGINE points here."""

from django.contrib.sessions.backends import db
from django.db import connection
from django.utils import timezone

from labelhub import rawsql


class SessionStore(db.SessionStore):
    def _get_session_from_db(self):
        Session = self.model
        sql = (
            f"SELECT session_key, session_data, expire_date FROM {Session._meta.db_table} "
            "WHERE session_key = %s AND expire_date > %s"
        )
        row = rawsql.fetch_one(sql, [self.session_key, connection.ops.adapt_datetimefield_value(timezone.now())])
        if row is None:
            self._session_key = None
            return None
        return Session.from_db(connection.alias, ("session_key", "session_data", "expire_date"), row)
