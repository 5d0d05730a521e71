"""Django's PostgreSQL backend, safe behind a pooler in transaction mode (PgBouncer).

``QuerySet.iterator()`` reads through a server-side cursor. Outside a transaction Django declares it
``WITH HOLD``, so it lives on in the server session after the statement that made it, and every chunk
is fetched by a statement of its own. Behind PgBouncer in transaction mode those statements may reach
different server connections, where the cursor does not exist ("cursor _django_curs_... does not
exist"): every page and job streaming rows outside a transaction failed there. Outside a transaction a
streamed read now runs as a plain query (psycopg receives the rows at once; the ORM still converts
them chunk by chunk); inside one (a version build's snapshot, an export's batches) the cursor ends with
the transaction, on the server connection the pooler gave it, and keeps streaming.
"""

from django.db.backends.postgresql import base


class DatabaseWrapper(base.DatabaseWrapper):
    def chunked_cursor(self):
        if self.get_autocommit():
            return self.cursor()
        return super().chunked_cursor()
