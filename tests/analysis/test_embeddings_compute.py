"""Computed vectors: kept per item, embedder and content; the image featurizer's worker processes read
the media through the storage (no local path), so object storage works."""

import io

import numpy as np
from django.test import override_settings

from analysis.embeddings.registry import get_embedder
from analysis.models import Embedding
from analysis.services.embeddings import embeddings_compute
from labeling.models import Item
from labeling.services.imports import ImportEntry, items_import
from tests.conftest import png_bytes

IN_MEMORY = {
    "default": {"BACKEND": "django.core.files.storage.InMemoryStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}


def images(project, seeds):
    entries = [ImportEntry(name=f"{s}.png", load=lambda s=s: png_bytes(seed=s), label="cat") for s in seeds]
    items_import(project=project, entries=entries)
    return list(Item.objects.filter(project=project).order_by("id"))


def stored(item):
    return np.frombuffer(bytes(Embedding.objects.get(item=item, model="image-basic").vector), dtype="<f4")


@override_settings(STORAGES=IN_MEMORY)
def test_worker_processes_embed_from_storage_and_a_grown_project_computes_only_its_new_items(project):
    items = images(project, range(5))
    # Two worker processes, even for five items; the media exist only in memory (no local path).
    assert (
        embeddings_compute(
            project=project,
            embedder_name="image-basic",
            items=items,
            batch_size=2,
            processes=2,
            min_items_for_processes=0,
        )
        == 5
    )
    expected = get_embedder("image-basic").embed([io.BytesIO(png_bytes(seed=s)) for s in range(5)])
    for item, vector in zip(items, expected, strict=True):
        np.testing.assert_allclose(stored(item), vector, rtol=1e-6)
    assert set(Embedding.objects.values_list("content", flat=True)) == {item.sha256 for item in items}

    # The same project again: nothing to compute. Grown by two items: only those two.
    assert embeddings_compute(project=project, embedder_name="image-basic", items=items) == 0
    grown = images(project, [5, 6])
    assert embeddings_compute(project=project, embedder_name="image-basic", items=grown) == 2
    # A vector computed from other content than the item's is computed again.
    Embedding.objects.filter(item=grown[0]).update(content="0" * 64)
    assert embeddings_compute(project=project, embedder_name="image-basic", items=grown) == 1
    assert Embedding.objects.get(item=grown[0]).content == grown[0].sha256


def test_vectors_load_in_the_items_order_without_holding_them_twice(project, monkeypatch):
    """A map reads every vector of its embedder. Each row's bytes were kept until the array was built, so the
    vectors were held twice (1.5 GB for 100,000 pretrained image vectors): each is now written into its row
    as it arrives, and only the rows of one read (``LOAD_CHUNK_ROWS``, one here) are held meanwhile. Items
    without a vector are left out, the others keep the order asked for."""
    import tracemalloc

    from analysis.services import embeddings

    items = images(project, range(9))
    dim = 50_000  # wide vectors: a second copy of them shows above the rest of the read
    vectors = np.random.default_rng(0).standard_normal((8, dim), dtype=np.float32)
    for item, vector in zip(items[1:], vectors, strict=True):
        Embedding.objects.create(item=item, model="custom", dim=dim, vector=vector.astype("<f4").tobytes(), content="")
    order = [items[0].pk, items[3].pk, items[1].pk, items[2].pk]  # the first has no vector

    X, present = embeddings.embeddings_load(project=project, model="custom", item_ids=order)
    assert present == [items[3].pk, items[1].pk, items[2].pk]
    np.testing.assert_array_equal(X, vectors[[2, 0, 1]])

    monkeypatch.setattr(embeddings, "LOAD_CHUNK_ROWS", 1, raising=False)
    ids = [item.pk for item in items[1:]]
    tracemalloc.start()
    try:
        X, present = embeddings.embeddings_load(project=project, model="custom", item_ids=ids)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    np.testing.assert_array_equal(X, vectors)
    assert peak < 1.5 * X.nbytes, f"peak {peak / X.nbytes:.2f} x the vectors' size"
