"""Django's PostgreSQL backend, with server-side cursors only inside transactions (see ``base``)."""
