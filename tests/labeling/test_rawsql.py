"""labelhub.rawsql builds the instances the ORM would: same values, deferred fields loaded on access,
saved state, and Model.__init__'s signals still sent to any receiver."""

import pytest
from django.db.models import signals

from labelhub import rawsql
from labeling.models import Item, Reservation
from labeling.services.queue import QUEUE_ITEM_FIELDS
from tests.labeling.queue_helpers import make_items

pytestmark = pytest.mark.django_db


def _row(item):
    return [getattr(item, name) for name in rawsql.attnames(Item, QUEUE_ITEM_FIELDS)]


def test_an_instance_has_the_orms_values_and_loads_deferred_fields_on_access(project):
    (stored,) = make_items(project, 1)
    orm = Item.objects.get(pk=stored.pk)
    built = rawsql.instance(Item, QUEUE_ITEM_FIELDS, _row(orm))
    assert type(built) is Item and built.pk == orm.pk and not built._state.adding and built._state.db == "default"
    assert {name: getattr(built, name) for name in QUEUE_ITEM_FIELDS} == {
        name: getattr(orm, name) for name in QUEUE_ITEM_FIELDS
    }
    assert "random_key" in built.get_deferred_fields()
    assert built.random_key == orm.random_key  # loaded from the database on access
    assert built.file.name == orm.file.name and built.project == project
    built.n_answers = 2
    built.save(update_fields=["n_answers"])
    assert Item.objects.get(pk=stored.pk).n_answers == 2


def test_an_unsaved_build_is_adding_and_keeps_its_related_objects(project, labeler):
    (item,) = make_items(project, 1)
    values = {"id": None, "project_id": project.pk, "labeler_id": labeler.pk, "item_id": item.pk}
    values.update(expires=None, created=None)
    reservation = rawsql.build(Reservation, values, (("item", item),), saved=False)
    assert reservation._state.adding and reservation.item is item and reservation.labeler_id == labeler.pk


def test_post_init_receivers_still_hear_of_the_instance(project):
    (stored,) = make_items(project, 1)
    heard = []

    def receiver(sender, instance, **kwargs):
        heard.append(instance.pk)

    signals.post_init.connect(receiver, sender=Item)
    try:
        built = rawsql.instance(Item, QUEUE_ITEM_FIELDS, _row(stored))
    finally:
        signals.post_init.disconnect(receiver, sender=Item)
    assert heard == [stored.pk] and built.n_answers == stored.n_answers and not built._state.adding
    assert "random_key" in built.get_deferred_fields()
