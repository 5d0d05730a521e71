"""Pretrained embedders (EfficientNet-Lite0, all-MiniLM-L6-v2): listed with their dimension whether or not
`make embedders` installed them, the project's default only when installed; with the real models, their
vectors mean what they should. CI installs no models: the tests of the real ones skip there."""

import io
import json

import numpy as np
import pytest
from PIL import Image

from analysis.embeddings import get_embedder
from analysis.embeddings.pretrained import IMAGE_FILE, SPEEDS_FILE
from analysis.models import Embedding, EmbeddingMap
from analysis.services.maps import map_job_run
from labeling.services.imports import ImportEntry, items_import
from tests.analysis.embeddings.test_embedders import _field, _model, _node, _tensor, _value_info


def embedders(api, user, project):
    response = api(user).get(f"/api/projects/{project.pk}/embedders/")
    assert response.status_code == 200
    return {row["name"]: row for row in response.json()["results"]}


def colour_png(seed):
    """A small image of one random colour (the fake model below sees only the mean colour)."""
    rgb = np.random.default_rng(seed).integers(0, 256, 3).astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(np.tile(rgb, (24, 32, 1))).save(buffer, format="PNG")
    return buffer.getvalue()


def import_images(project, n=16):
    entries = [
        ImportEntry(name=f"{i}.png", load=lambda i=i: colour_png(i), label="cat" if i % 2 else "dog") for i in range(n)
    ]
    return items_import(project=project, entries=entries).imported


def fake_effnet(folder):
    """A stand-in for the exported EfficientNet-Lite0, with its input and output: pixels (N, 3, 224, 224)
    -> mean colour -> @ W (3×1280) + b -> features (N, 1280)."""
    rng = np.random.default_rng(0)
    w, b = rng.normal(size=(3, 1280)).astype(np.float32), rng.normal(size=1280).astype(np.float32)
    flatten_axis = _field(5, _field(1, "axis") + _field(3, 1) + _field(20, 2))
    model = _model(
        nodes=[
            _node("GlobalAveragePool", ["pixels"], ["g"]),
            _node("Flatten", ["g"], ["f"], flatten_axis),
            _node("MatMul", ["f", "W"], ["m"]),
            _node("Add", ["m", "b"], ["features"]),
        ],
        inits=[_tensor("W", w), _tensor("b", b)],
        inputs=[_value_info("pixels", ["N", 3, 224, 224])],
        outputs=[_value_info("features", ["N", 1280])],
    )
    folder.mkdir(parents=True, exist_ok=True)
    (folder / IMAGE_FILE).write_bytes(model)


def test_without_models_the_pretrained_embedders_are_listed_not_installed_and_the_builtins_stay_default(
    api, client, manager, reviewer, project
):
    rows = embedders(api, reviewer, project)
    assert rows["image-basic"] == {
        "name": "image-basic",
        "modality": "image",
        "kind": "built-in",
        "model": "",
        "dim": 604,
        "installed": True,
        "default": True,
        "items_per_second": None,
    }
    assert rows["image-effnet-lite0"]["installed"] is False and rows["image-effnet-lite0"]["dim"] == 1280
    assert not rows["image-effnet-lite0"]["default"]
    assert "text-minilm" not in rows and "audio-mfcc" not in rows  # another modality's

    refused = api(manager).post(f"/api/projects/{project.pk}/maps/", {"embedder": "image-effnet-lite0"}, format="json")
    assert refused.status_code == 400 and "image-effnet-lite0" in refused.json()["detail"]
    import_images(project)
    body = api(manager).post(f"/api/projects/{project.pk}/maps/", {}, format="json").json()
    assert EmbeddingMap.objects.get(pk=body["map"]).embedder == "image-basic"

    client.force_login(manager)
    page = client.get(f"/projects/{project.pk}/map/").content.decode()
    assert '<option value="image-basic" selected>' in page
    assert 'value="image-effnet-lite0"' not in page
    assert "image-effnet-lite0 (EfficientNet-Lite0" in page and "make embedders" in page


def test_an_installed_pretrained_embedder_becomes_the_default_and_its_speed_is_listed(
    api, client, manager, project, settings, tmp_path, monkeypatch
):
    from analysis.services import embeddings

    monkeypatch.setattr(embeddings, "SPEED_MIN_ITEMS", 10)  # a run of 16 images has its speed remembered
    folder = tmp_path / "installed-models"
    fake_effnet(folder)
    settings.LABELHUB_MODELS_DIR = str(folder)
    rows = embedders(api, manager, project)
    # the default is the network's features beside the built-in ones; the network's alone is offered too
    assert rows["image-effnet-basic"]["installed"] and rows["image-effnet-basic"]["default"]
    assert rows["image-effnet-lite0"]["installed"] and not rows["image-effnet-lite0"]["default"]
    assert not rows["image-basic"]["default"]
    assert next(iter(rows)) == "image-effnet-basic"  # listed first

    import_images(project)
    body = api(manager).post(f"/api/projects/{project.pk}/maps/", {}, format="json").json()
    map_job_run(job_id=body["job"])
    emap = EmbeddingMap.objects.get(pk=body["map"])
    assert emap.embedder == "image-effnet-basic" and emap.job.status == "succeeded"
    assert set(Embedding.objects.filter(model="image-effnet-basic").values_list("dim", flat=True)) == {1884}
    speed = json.loads((folder / SPEEDS_FILE).read_text())["image-effnet-basic"]
    assert speed > 0 and embedders(api, manager, project)["image-effnet-basic"]["items_per_second"] == speed

    client.force_login(manager)
    page = client.get(f"/projects/{project.pk}/map/").content.decode()
    assert '<option value="image-effnet-basic" selected>image-effnet-basic · pretrained · 1884-d' in page


def test_a_pretrained_name_cannot_be_taken_by_pushed_vectors(api, manager, project):
    (item,) = import_images(project, n=1)
    response = api(manager).post(
        f"/api/projects/{project.pk}/embeddings/",
        {"model": "text-minilm", "vectors": [{"item": item, "vector": [1.0, 2.0]}]},
        format="json",
    )
    assert response.status_code == 400 and "built-in embedder" in response.json()["detail"]


def test_a_pretrained_embedder_without_its_files_says_how_to_install(tmp_path):
    with pytest.raises(TypeError, match="models_dir"):
        get_embedder("image-effnet-lite0")
    with pytest.raises(FileNotFoundError, match="make embedders"):
        get_embedder("text-minilm", models_dir=str(tmp_path))


def colour_files(folder, n):
    paths = []
    for i in range(n):
        path = folder / f"{i}.png"
        path.write_bytes(colour_png(i))
        paths.append(str(path))
    return paths


def test_images_decoded_and_run_in_parallel_come_back_in_order_and_as_one_at_a_time(tmp_path):
    folder = tmp_path / "models"
    fake_effnet(folder)
    paths = colour_files(tmp_path, 13)
    # 2 threads, runs of 2 images, blocks of 5: runs finish out of order and blocks cut runs in two
    embedder = get_embedder("image-effnet-lite0", models_dir=str(folder), threads=2, run_batch=2, batch_size=5)
    blocks = list(embedder.iter_batches(paths))
    assert [start for start, _ in blocks] == [0, 5, 10] and [len(b) for _, b in blocks] == [5, 5, 3]
    together = np.concatenate([b for _, b in blocks])
    alone = np.concatenate([get_embedder("image-effnet-lite0", models_dir=str(folder)).embed([p]) for p in paths])
    np.testing.assert_allclose(together, alone, atol=1e-5)
    assert np.allclose(np.linalg.norm(together, axis=1), 1.0, atol=1e-5)
    assert not np.allclose(together[0], together[1])  # two colours, two vectors


def test_an_unreadable_image_among_many_is_named_by_its_position(tmp_path):
    from analysis.embeddings import EmbeddingError

    folder = tmp_path / "models"
    fake_effnet(folder)
    paths = colour_files(tmp_path, 11)
    (tmp_path / "broken.png").write_bytes(b"not a png")
    paths[9] = str(tmp_path / "broken.png")
    with pytest.raises(EmbeddingError, match="broken.png") as caught:
        get_embedder("image-effnet-basic", models_dir=str(folder), run_batch=2).embed(paths)
    assert caught.value.index == 9


def test_the_default_image_embedder_gives_photos_the_network_and_small_scans_the_builtin_features(tmp_path):
    folder = tmp_path / "models"
    fake_effnet(folder)
    rgb = np.random.default_rng(1).integers(0, 256, (3, 3)).astype(np.uint8)
    paths = []
    for i, (w, h) in enumerate([(32, 24), (320, 240), (200, 168), (96, 112)]):
        paths.append(str(tmp_path / f"{i}.png"))
        Image.fromarray(np.tile(rgb[i % 3], (h, w, 1))).save(paths[-1])
    both = get_embedder("image-effnet-basic", models_dir=str(folder)).embed(paths)
    net = get_embedder("image-effnet-lite0", models_dir=str(folder)).embed(paths)
    basic = get_embedder("image-basic").embed(paths)
    basic /= np.linalg.norm(basic, axis=1, keepdims=True)
    assert both.shape == (4, 1884) and np.allclose(np.linalg.norm(both, axis=1), 1.0, atol=1e-5)
    # a scan of 24 or 96 px: the built-in features alone; a 240-px photo: the network's alone
    for i in (0, 3):
        np.testing.assert_allclose(both[i], np.concatenate([np.zeros(1280), basic[i]]), atol=1e-5)
    np.testing.assert_allclose(both[1], np.concatenate([net[1], np.zeros(604)]), atol=1e-5)
    # 168 px, halfway from 112 to 224: a blend whose cosines are a weighted mean of the two blocks'
    np.testing.assert_allclose(both[2], np.concatenate([0.5 * net[2], np.sqrt(0.75) * basic[2]]), atol=1e-5)


def test_a_big_jpeg_is_decoded_at_a_reduced_size_that_still_covers_the_network_input(tmp_path):
    from analysis.embeddings.image import load_image

    path = tmp_path / "big.jpg"
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (1000, 2000, 3), dtype=np.uint8)).save(path)
    assert load_image(str(path)).size == (2000, 1000)
    assert load_image(str(path), min_side=224).size == (500, 250)  # 1/4: 1/8 would be under 224
    assert load_image(str(path), min_side=600).size == (2000, 1000)


def test_an_exif_rotated_photo_is_embedded_upright_as_labelers_saw_it():
    """The map sees what the labeling page shows (and what the stored width and height describe): an
    EXIF Orientation 6 JPEG stored 400x200 is read 200x400, its white patch where the browser puts it."""
    from analysis.embeddings.image import load_image
    from labeling.inputs import inspect_image
    from tests.conftest import rotated_jpeg

    data = rotated_jpeg(6)
    stats = inspect_image(data).stats
    for min_side in (None, 100):  # decoded whole, and at half size in the DCT
        img = load_image(io.BytesIO(data), min_side=min_side)
        scale = 1 if min_side is None else 2
        assert (img.width * scale, img.height * scale) == (stats["width"], stats["height"]) == (200, 400)
        ys, xs = np.nonzero(np.asarray(img.convert("L")) > 128)
        assert (xs.min() * scale, ys.min() * scale) == pytest.approx((140, 300), abs=2)
        assert (xs.max() * scale, ys.max() * scale) == pytest.approx((179, 379), abs=2)


# --- the real models (after `make embedders`) ----------------------------------------------------------


def test_effnet_two_crops_of_a_photo_are_closer_than_another_photo(pretrained_models_dir):
    from skimage import data

    cat, coffee = Image.fromarray(data.chelsea()), Image.fromarray(data.coffee())
    w, h = cat.size
    crops = [cat.crop((0, 0, int(w * 0.75), int(h * 0.8))), cat.crop((int(w * 0.2), int(h * 0.15), w, h))]
    v = get_embedder("image-effnet-lite0", models_dir=pretrained_models_dir).embed([*crops, coffee])
    assert v.shape == (3, 1280) and np.allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-5)
    same, other = float(v[0] @ v[1]), float(v[0] @ v[2])
    assert same > 0.7 and other < 0.4, (same, other)
    # the default embedder gives photos (here 300 px and more) the network's vectors
    both = get_embedder("image-effnet-basic", models_dir=pretrained_models_dir).embed([*crops, coffee])
    np.testing.assert_allclose(both[:, :1280], v, atol=1e-5)


def test_minilm_puts_a_cat_on_a_mat_nearer_a_kitten_on_a_rug_than_stock_prices(pretrained_models_dir):
    texts = ["a cat sits on the mat", "a kitten on a rug", "stock prices fell", "A CAT SITS ON THE MAT"]
    v = get_embedder("text-minilm", models_dir=pretrained_models_dir, run_batch=2).embed(texts)
    assert v.shape == (4, 384) and np.allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-5)
    assert v[0] @ v[1] > 0.5 > 0.2 > v[0] @ v[2]
    np.testing.assert_allclose(v[0], v[3], atol=1e-5)  # uncased model; padding beside longer texts changes nothing


def test_effnet_map_through_storage(api, manager, project, settings, pretrained_models_dir):
    settings.LABELHUB_MODELS_DIR = pretrained_models_dir
    import_images(project, n=12)
    body = api(manager).post(f"/api/projects/{project.pk}/maps/", {}, format="json").json()
    map_job_run(job_id=body["job"])
    assert EmbeddingMap.objects.get(pk=body["map"]).embedder == "image-effnet-basic"
    assert Embedding.objects.filter(model="image-effnet-basic", dim=1884).count() == 12
