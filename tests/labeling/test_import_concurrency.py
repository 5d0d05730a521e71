"""Two imports of the same content at once, on PostgreSQL: the item both would make is made once, and its
media file is still there afterwards, whichever import's row won."""

import threading

import pytest
from django.core.files.storage import default_storage
from django.db import connection, connections

from labeling.models import Item
from labeling.services import imports
from labeling.services.imports import ImportEntry, items_import
from tests.conftest import png_bytes


@pytest.mark.django_db(transaction=True)
def test_an_import_that_loses_the_race_for_an_item_leaves_the_winners_file(monkeypatch, project):
    """The first import writes the (content-addressed) file, then stalls before its row; the second finds
    the file there, keeps it and stores its row first. The first then finds the item taken: it used to
    delete the file it had written, which the second's item was showing."""
    if connection.vendor != "postgresql":
        pytest.skip("concurrent transactions need PostgreSQL (SQLite serializes writers)")
    content = png_bytes(seed=7)
    wrote, second_done, errors, reports = threading.Event(), threading.Event(), [], {}
    real_insert = imports._insert

    def insert(**kwargs):
        if threading.current_thread().name == "first":
            wrote.set()  # its file is stored: the second import may come
            second_done.wait(timeout=10)
        return real_insert(**kwargs)

    monkeypatch.setattr(imports, "_insert", insert)

    def run(name):
        try:
            if name == "second":
                assert wrote.wait(timeout=10)
            entry = ImportEntry(name=f"{name}.png", load=lambda: content)
            reports[name] = items_import(project=project, entries=[entry])
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(repr(exc))
        finally:
            if name == "second":
                second_done.set()
            connections.close_all()

    threads = [threading.Thread(target=run, args=(name,), name=name) for name in ("first", "second")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert not errors, errors
    assert len(reports["second"].imported) == 1 and len(reports["first"].duplicates) == 1
    (item,) = Item.objects.filter(project=project)
    assert default_storage.exists(item.file.name)
    with default_storage.open(item.file.name, "rb") as handle:
        assert handle.read() == content
