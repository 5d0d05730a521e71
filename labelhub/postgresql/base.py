"""Django's PostgreSQL backend, safe behind a pooler in transaction mode (PgBouncer).

``QuerySet.iterator()`` reads through a server-side cursor. Outside a transaction Django declares it
``WITH HOLD``, so it lives on in the server session after the statement that made it, and every chunk
is fetched by a statement of its own. Behind PgBouncer in transaction mode those statements may reach
different server connections, where the cursor does not exist ("cursor _django_curs_... does not
exist"): every page and job streaming rows outside a transaction failed there. Outside a transaction a
streamed read now runs as a plain query (psycopg receives the rows at once; the ORM still converts
them chunk by chunk); inside one (a version build's snapshot, an export's batches) the cursor ends with
the transaction, on the server connection the pooler gave it, and keeps streaming.

Prepared statements live in a server session too: psycopg prepares a statement that a server-side-binding
cursor (the labeling loop's, ``labelhub.rawsql.hot_cursor``; a report's answer read, in
``analysis.selectors``) has run five times on a connection, and a statement prepared on one server
connection was then executed by name on another ("prepared statement "_pg3_0" does not exist"): behind
PgBouncer every answer failed after the first few, and so did a process's sixth read of the same
report's answers, unless ``DB_PREPARED_STATEMENTS=0`` was set. A new connection that reaches PostgreSQL
through a pooler now prepares nothing (unless ``DB_PREPARED_STATEMENTS=1`` says the pooler keeps them).
"""

from django.db.backends.postgresql import base


class DatabaseWrapper(base.DatabaseWrapper):
    def chunked_cursor(self):
        if self.get_autocommit():
            return self.cursor()
        return super().chunked_cursor()

    def init_connection_state(self):
        super().init_connection_state()
        raw = self.connection
        if getattr(raw, "prepare_threshold", None) is None or self.settings_dict.get("PREPARE_THROUGH_POOLER"):
            return
        if self.through_pooler():
            raw.prepare_threshold = None  # rawsql.hot_cursor then takes an ordinary cursor

    def through_pooler(self) -> bool:
        """Whether this connection reaches PostgreSQL through a pooler (PgBouncer): the process id the
        server announced when the connection opened (its cancel key) is then the pooler's own, not that
        of the server process answering. One round trip per new connection (kept DB_CONN_MAX_AGE)."""
        with self.connection.cursor() as cursor:
            cursor.execute("SELECT pg_backend_pid()")
            pid = cursor.fetchone()[0]
        if not self.get_autocommit():
            self.connection.commit()
        return pid != self.connection.info.backend_pid
