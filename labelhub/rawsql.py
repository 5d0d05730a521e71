"""Model instances from hand-written SQL, for the few requests that run on every answer a labeler gives.

Building an ORM query (cloning the query, resolving lookups, compiling SQL) costs a millisecond or
more per statement on a small server, several times what PostgreSQL needs to run it. The labeling loop
runs about ten statements per answer, so its hot statements are written out once, here and in
``labeling.services.queue``, and their rows are turned into model instances with ``Model.from_db``:
the same instances (deferred fields load on access) that the ORM would build. Everything else uses the
ORM.
"""

import datetime
from contextlib import contextmanager
from functools import cache

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, DatabaseError, connection, connections, models
from django.db.models import query_utils, signals
from django.db.models.base import ModelState
from django.db.models.fields import files, related_descriptors
from django.utils import timezone


@cache
def attnames(model, names=None) -> tuple[str, ...]:
    """The attribute names of ``model``'s concrete fields (only those in ``names``, a tuple, when given),
    in the model's field order: the order ``Model.from_db`` expects values in."""
    return tuple(f.attname for f in model._meta.concrete_fields if names is None or f.attname in names)


def select_list(model, alias, names=None) -> str:
    """``alias.column, ...`` for the fields ``attnames(model, names)`` answers, in the same order."""
    return _select_list(model, alias, names, connection.vendor)


@cache
def _select_list(model, alias, names, vendor) -> str:  # built once per process (and database vendor)
    wanted = set(attnames(model, names))
    quote = connection.ops.quote_name
    return ", ".join(f"{alias}.{quote(f.column)}" for f in model._meta.concrete_fields if f.attname in wanted)


@cache
def _datetime_positions(model, names=None) -> tuple[int, ...]:
    fields = {f.attname: f for f in model._meta.concrete_fields}
    return tuple(i for i, name in enumerate(attnames(model, names)) if isinstance(fields[name], models.DateTimeField))


# The descriptors a field's attribute may have for _new to store its value straight into the instance's
# __dict__, which is all their __set__ does on a new instance (a file field's wraps the name on access).
_PLAIN_DESCRIPTORS = (
    query_utils.DeferredAttribute,
    related_descriptors.ForeignKeyDeferredAttribute,
    files.FileDescriptor,
)


@cache
def _plain(model) -> bool:
    """Whether ``_new`` may build ``model``: the ORM's own ``from_db`` and plain field descriptors."""
    if model.from_db.__func__ is not models.Model.from_db.__func__ or model.__init__ is not models.Model.__init__:
        return False
    return all(type(model.__dict__.get(f.attname)) in _PLAIN_DESCRIPTORS for f in model._meta.concrete_fields)


def _new(model, fields, values):
    """``model(*values)`` for the fields named ``fields`` (attnames, in the model's field order), the others
    deferred, without ``Model.__init__`` (8 instances per answer, each walking every concrete field and
    sending pre_init and post_init) when the model allows it and no receiver listens to those signals."""
    if not _plain(model) or signals.pre_init.has_listeners(model) or signals.post_init.has_listeners(model):
        if len(fields) == len(model._meta.concrete_fields):
            return model(*values)
        return model.from_db(None, fields, values)
    obj = model.__new__(model)
    obj._state = ModelState()
    obj.__dict__.update(zip(fields, values, strict=True))
    return obj


def instance(model, names, values):
    """A saved ``model`` instance from a row's ``values`` for ``attnames(model, names)``; None when the
    row's primary key is NULL (the empty side of a LEFT JOIN)."""
    fields = attnames(model, names)
    if values[fields.index(model._meta.pk.attname)] is None:
        return None
    if connection.vendor == "sqlite" and settings.USE_TZ:
        # SQLite's driver answers naive datetimes (stored in UTC) where the ORM would make them aware;
        # left naive, saving the instance again would store them shifted by the local time zone.
        values = list(values)
        for i in _datetime_positions(model, names):
            if values[i] is not None and timezone.is_naive(values[i]):
                values[i] = timezone.make_aware(values[i], datetime.UTC)
    obj = _new(model, fields, values)
    obj._state.adding = False
    obj._state.db = connection.alias
    return obj


def build(model, values, related=(), saved=True):
    """A ``model`` instance from ``values`` ({attname: value} for every concrete field) with its related
    objects (``related``: (field name, object) pairs) cached, as ``model(**kwargs)`` would build it with
    the objects given: without the keyword path of ``Model.__init__``, which took 50-70 us a model here
    (20 us this way). ``saved``: the instance is a row of the database (``_state.adding`` False)."""
    fields = attnames(model)
    instance = _new(model, fields, [values[name] for name in fields])
    cache = instance._state.fields_cache
    for name, other in related:
        cache[name] = other
    if related or saved:  # (assigning a related object sets the database, as the ORM's descriptor does)
        instance._state.db = connection.alias
    if saved:
        instance._state.adding = False
    return instance


@contextmanager
def hot_cursor():
    """A cursor for the statements above: on PostgreSQL (unless prepared statements are switched off,
    see DB_PREPARED_STATEMENTS in settings) one with server-side binding, so that psycopg prepares each
    statement once it has run a few times on a connection and PostgreSQL stops planning it again on
    every answer (planning the queue's candidate query costs several times running it). Elsewhere,
    with prepared statements off (also on a connection through a pooler, see labelhub.postgresql), and
    while queries are logged (DEBUG, or a test counting queries: Django's log cannot show a
    server-side-bound statement), an ordinary cursor.
    """
    db = connections[DEFAULT_DB_ALIAS]  # once: every access through django.db.connection looks it up again
    if db.vendor != "postgresql" or db.settings_dict["OPTIONS"].get("prepare_threshold") is None or db.queries_logged:
        with db.cursor() as cursor:
            yield cursor
        return
    from django.db.backends.postgresql.base import ServerBindingCursor  # psycopg 3

    # Django's own cursors run the per-request health check (CONN_HEALTH_CHECKS) before connecting; this
    # cursor is often a request's first query (its session or token), so it must run it too, or a
    # connection the database dropped would fail the request instead of being replaced.
    db.close_if_health_check_failed()
    db.ensure_connection()
    if db.connection.prepare_threshold is None:  # through a pooler that would lose them
        with db.cursor() as cursor:
            yield cursor
        return
    # What Django's cursor wrapper checks before each statement; the wrapper itself is left out, and one
    # cursor serves the whole connection.
    db.validate_no_broken_transaction()
    cursor = getattr(db, "hot_cursor", None)
    if cursor is None or cursor.connection is not db.connection or cursor.closed:
        cursor = db.hot_cursor = ServerBindingCursor(db.connection)
    with db.wrap_database_errors:
        yield cursor


def fetch_one(sql, params):
    """The first row of a hot statement that only reads (see ``hot_cursor``), or None.

    When it is a request's first query on a persistent connection whose check is still due
    (CONN_HEALTH_CHECKS), the statement itself is the check, instead of Django's ``SELECT 1`` before
    it: on a connection the database has dropped it fails, and runs again on a new connection (a read
    outside any transaction: running it twice changes nothing). Every API request's first query is its
    token's (every page's, its session's), so this saves a round trip per request.
    """
    db = connections[DEFAULT_DB_ALIAS]
    if db.connection is not None and db.health_check_enabled and not db.health_check_done and not db.in_atomic_block:
        db.health_check_done = True
        try:
            with hot_cursor() as cursor:
                cursor.execute(sql, params)
                return cursor.fetchone()
        except DatabaseError:
            if db.is_usable():  # an error of the statement, not of the connection
                raise
            db.close()  # the next statement connects again
    with hot_cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchone()
