"""Embeddings, maps and label issues: pushing vectors, the map job, the label-issue API, selections."""

import json

import numpy as np
import pytest
from django.utils import timezone

from analysis.models import Embedding, EmbeddingMap, MapPoint
from analysis.services.maps import map_job_run
from labeling.models import Item, Job
from labeling.services.annotations import annotation_save
from labeling.services.imports import ImportEntry, items_import
from tests.conftest import make_project, make_user, png_bytes


def text_items(project, texts, labels=None):
    entries = [ImportEntry(name=f"t{i}", text=t, label=(labels[i] if labels else "")) for i, t in enumerate(texts)]
    return items_import(project=project, entries=entries).imported


@pytest.fixture
def blobs(manager, reviewer):
    """A text project whose pushed vectors form two blobs; twenty 'b' items sit, labeled 'a', inside blob b."""
    project = make_project(manager, name="Blobs", modality="text", classes=[{"key": "a"}, {"key": "b"}])
    from labeling.services.projects import member_add

    member_add(project=project, username=reviewer.username, role="reviewer")
    rng = np.random.default_rng(0)
    n = 120
    truth = np.array([0] * 60 + [1] * 60)
    given = truth.copy()
    given[60:80] = 0  # a coherent group of b's labeled a
    ids = text_items(project, [f"doc {i}" for i in range(n)], ["ab"[g] for g in given])
    centres = np.array([[0.0] * 8, [6.0] * 8])
    vectors = centres[truth] + rng.normal(0, 1, (n, 8))
    # The relabeled b's are one visual kind of b: a tight group at the edge of blob b (the jaguar case).
    vectors[60:80] = centres[1] + np.array([2.5] + [0.0] * 7) + rng.normal(0, 0.4, (20, 8))
    return project, ids, vectors, set(ids[60:80])


def push(api, user, project, model, rows):
    return api(user).post(f"/api/projects/{project.pk}/embeddings/", {"model": model, "vectors": rows}, format="json")


def push_all(api, user, project, ids, vectors, model="team-net"):
    """Push every item's vector (the blobs) as ``model``."""
    return push(
        api, user, project, model, [{"item": i, "vector": v.tolist()} for i, v in zip(ids, vectors, strict=True)]
    )


def test_pushed_vectors_are_stored_and_checked(api, manager, blobs):
    project, ids, vectors, _ = blobs
    rows = [{"item": i, "vector": v.tolist()} for i, v in zip(ids, vectors, strict=True)]
    response = push(api, manager, project, "team-net", rows)
    assert response.status_code == 201 and response.json()["stored"] == 120
    assert Embedding.objects.filter(model="team-net").count() == 120
    stored = np.frombuffer(bytes(Embedding.objects.get(item_id=ids[0], model="team-net").vector), dtype="<f4")
    assert np.allclose(stored, vectors[0])


@pytest.mark.parametrize(
    "rows, message",
    [
        ("wrong_dim", "3 dimensions, not the 8 already stored"),
        ("unknown_item", "unknown items"),
        ("nan", "NaN"),
        ("not_numbers", "list of numbers"),
        ("booleans", "list of numbers"),  # stored as 1.0 and 0.0
        ("fractional_item", "item must be an item id"),  # 12.5 was stored as item 12's vector
        ("boolean_item", "item must be an item id"),  # true was item 1
    ],
)
def test_bad_vectors_are_rejected_and_nothing_is_stored(api, manager, blobs, other_project, rows, message):
    project, ids, vectors, _ = blobs
    push(api, manager, project, "team-net", [{"item": ids[0], "vector": vectors[0].tolist()}])
    bad = {
        "wrong_dim": [{"item": ids[1], "vector": [1.0, 2.0, 3.0]}],
        "unknown_item": [
            {"item": ids[1], "vector": vectors[1].tolist()},
            {"item": 999999, "vector": vectors[2].tolist()},
        ],
        "nan": [{"item": ids[1], "vector": [float("nan")] * 8}],
        "not_numbers": [{"item": ids[1], "vector": ["x"] * 8}],
        "booleans": [{"item": ids[1], "vector": [True, False] * 4}],
        "fractional_item": [{"item": ids[1] + 0.5, "vector": vectors[1].tolist()}],
        "boolean_item": [{"item": True, "vector": vectors[1].tolist()}],
    }[rows]
    if rows == "nan":
        response = api(manager).post(
            f"/api/projects/{project.pk}/embeddings/",
            json.dumps({"model": "team-net", "vectors": bad}),
            content_type="application/json",
        )
    else:
        response = push(api, manager, project, "team-net", bad)
    assert response.status_code == 400
    assert message in response.json()["detail"]
    assert Embedding.objects.filter(model="team-net").count() == 1


def test_a_push_with_a_misspelt_field_is_refused_and_stores_nothing(api, manager, blobs):
    # A field the push does not take ("replace", a misspelt "normalise") was dropped without a word and the
    # vectors stored as if it had not been sent.
    project, ids, vectors, _ = blobs
    body = {"model": "team-net", "vectors": [{"item": ids[0], "vector": vectors[0].tolist()}], "replace": True}
    response = api(manager).post(f"/api/projects/{project.pk}/embeddings/", body, format="json")
    assert response.status_code == 400
    assert response.json()["replace"] == ["unknown field (the fields here: model, vectors)"]
    assert not Embedding.objects.filter(model="team-net").exists()


def test_a_push_entry_with_an_extra_key_is_refused_naming_it_and_stores_nothing(api, manager, blobs):
    # Only the top-level fields were checked: an entry's "weight" (or any key beside item and vector) was
    # dropped and every vector stored as if it had not been sent.
    project, ids, vectors, _ = blobs
    rows = [{"item": i, "vector": v.tolist()} for i, v in zip(ids[:3], vectors[:3], strict=True)]
    rows[2]["weight"] = 0.5
    response = api(manager).post(
        f"/api/projects/{project.pk}/embeddings/", {"model": "team-net", "vectors": rows}, format="json"
    )
    assert response.status_code == 400
    assert response.json()["vectors"] == ["entry 2: unknown fields weight (an entry has item, vector)"]
    assert not Embedding.objects.filter(model="team-net").exists()


def test_another_projects_item_is_an_unknown_item(api, manager, blobs, outsider):
    project, ids, vectors, _ = blobs
    foreign = text_items(make_project(outsider, name="Theirs", modality="text"), ["x"])[0]
    response = push(api, manager, project, "team-net", [{"item": foreign, "vector": vectors[0].tolist()}])
    assert response.status_code == 400 and str(foreign) in response.json()["detail"]


def test_a_built_in_name_cannot_be_pushed(api, manager, blobs):
    project, ids, vectors, _ = blobs
    response = push(api, manager, project, "image-basic", [{"item": ids[0], "vector": vectors[0].tolist()}])
    assert response.status_code == 400 and "built-in" in response.json()["detail"]


def test_map_job_lays_out_points_and_reports_the_relabeled_group(api, manager, reviewer, blobs):
    project, ids, vectors, planted = blobs
    push_all(api, manager, project, ids, vectors)
    response = api(manager).post(f"/api/projects/{project.pk}/maps/", {"embedder": "team-net"}, format="json")
    assert response.status_code == 202
    body = response.json()
    map_job_run(job_id=body["job"])
    job = Job.objects.get(pk=body["job"])
    assert job.status == "succeeded", job.errors
    assert job.processed == job.total
    detail = api(reviewer).get(f"/api/projects/{project.pk}/maps/{body['map']}/").json()
    assert len(detail["points"]) == 120
    assert all(-1.0001 <= p["x"] <= 1.0001 and -1.0001 <= p["y"] <= 1.0001 for p in detail["points"])
    issues = api(reviewer).get(f"/api/projects/{project.pk}/label-issues/").json()
    cluster = issues["clusters"][0]
    assert (cluster["label"], cluster["suggested_label"]) == ("a", "b")
    assert len(set(cluster["items"]) & planted) >= 0.9 * len(planted)
    flagged = {row["item"] for row in issues["items"]}
    assert len(flagged & planted) >= 0.9 * len(planted)
    assert "sit among b" in cluster["description"]
    # points come as rows or columns; another format (a misspelt "column") was answered as rows without a word
    wrong = api(reviewer).get(f"/api/projects/{project.pk}/maps/{body['map']}/?format=column")
    assert wrong.status_code == 400 and "column" in wrong.json()["format"][0]
    # limit=0 or a negative one listed one item without a word
    for limit in ("0", "-5", "abc"):
        refused = api(reviewer).get(f"/api/projects/{project.pk}/label-issues/", {"limit": limit})
        assert refused.status_code == 400 and "limit" in refused.json(), limit
    assert len(api(reviewer).get(f"/api/projects/{project.pk}/label-issues/", {"limit": "3"}).json()["items"]) == 3


def test_copies_of_one_item_count_once(api, manager, reviewer, blobs):
    """Ten items with the same vector (one text uploaded ten times) labeled b in the middle of blob a:
    the detector counts them once, so they share one score and one suggestion, and the map's summary
    says how many items were scored as copies of another. The relabeled group is reported as before."""
    project, ids, vectors, planted = blobs
    vectors = vectors.copy()
    copies = ids[:10]
    vectors[:10] = vectors[0]
    Item.objects.filter(pk__in=copies).update(label="b")
    rows = [{"item": i, "vector": v.tolist()} for i, v in zip(ids, vectors, strict=True)]
    push(api, manager, project, "team-net", rows)
    body = api(manager).post(f"/api/projects/{project.pk}/maps/", {"embedder": "team-net"}, format="json").json()
    map_job_run(job_id=body["job"])
    assert EmbeddingMap.objects.get(pk=body["map"]).summary["n_near_duplicates"] == 9
    points = MapPoint.objects.filter(map_id=body["map"], item_id__in=copies)
    assert len({(p.score, p.suggested_label) for p in points}) == 1
    issues = api(reviewer).get(f"/api/projects/{project.pk}/label-issues/").json()
    cluster = issues["clusters"][0]
    assert (cluster["label"], cluster["suggested_label"]) == ("a", "b")
    assert len(set(cluster["items"]) & planted) >= 0.9 * len(planted)


def test_given_label_is_the_labelers_majority_over_the_imported_one(manager, blobs, labeler, labeler2):
    from analysis.services.maps import given_labels

    project, ids, _, _ = blobs
    item = Item.objects.get(pk=ids[0])
    assert given_labels(project=project, items=[item]) == ["a"]
    annotation_save(item=item, labeler=labeler, value="b")
    annotation_save(item=item, labeler=labeler2, value="b")
    assert given_labels(project=project, items=[item]) == ["b"]


def test_built_in_embedder_map_on_images(api, manager, project):
    entries = [
        ImportEntry(name=f"{i}.png", load=lambda i=i: png_bytes(seed=i), label="cat" if i % 2 else "dog")
        for i in range(16)
    ]
    items_import(project=project, entries=entries)
    body = api(manager).post(f"/api/projects/{project.pk}/maps/", {"embedder": "image-basic"}, format="json").json()
    map_job_run(job_id=body["job"])
    assert Job.objects.get(pk=body["job"]).status == "succeeded"
    assert MapPoint.objects.filter(map_id=body["map"]).count() == 16
    assert Embedding.objects.filter(model="image-basic").count() == 16
    # A second map reuses the stored vectors.
    again = api(manager).post(f"/api/projects/{project.pk}/maps/", {"embedder": "image-basic"}, format="json").json()
    map_job_run(job_id=again["job"])
    assert Embedding.objects.filter(model="image-basic").count() == 16


def test_a_map_asked_with_a_misspelt_embedder_is_refused_and_not_started(api, manager, project):
    # "embeddr" was dropped: a map of the project's default embedder was queued (a minute of a worker's
    # time and a map of other vectors than the ones asked for).
    response = api(manager).post(f"/api/projects/{project.pk}/maps/", {"embeddr": "image-basic"}, format="json")
    assert response.status_code == 400
    assert response.json()["embeddr"] == ["unknown field (the fields here: embedder, group_by)"]
    assert not EmbeddingMap.objects.exists() and not Job.objects.exists()


def test_a_pretrained_embedder_not_installed_here_is_refused_saying_how_to_install_it(api, manager, project):
    # It answered "unknown embedder 'image-effnet-lite0'", as for a misspelt name: the name is right, its
    # model files are what is missing (tests see an installation without `make embedders`).
    response = api(manager).post(f"/api/projects/{project.pk}/maps/", {"embedder": "image-effnet-lite0"}, format="json")
    assert response.status_code == 400
    detail = response.json()["detail"]
    assert "unknown" not in detail
    assert "'image-effnet-lite0' is a pretrained embedder that is not installed on this machine" in detail
    assert "`make embedders` installs it" in detail and "image-basic" in detail  # what is available instead
    assert not EmbeddingMap.objects.exists() and not Job.objects.exists()


def test_an_embedder_for_other_data_is_refused_naming_what_it_embeds(api, manager, project):
    # An audio or text embedder asked for an image project answered "unknown embedder", as for a misspelt
    # name (the pretrained text model too, installed or not).
    for name, kind in (("audio-mfcc", "audio"), ("text-minilm", "text"), ("text-tfidf", "text")):
        response = api(manager).post(f"/api/projects/{project.pk}/maps/", {"embedder": name}, format="json")
        assert response.status_code == 400
        detail = response.json()["detail"]
        assert f"'{name}' embeds {kind}, not image: this is an image project" in detail and "unknown" not in detail
        assert "image-basic" in detail  # what the project can use
    assert not EmbeddingMap.objects.exists() and not Job.objects.exists()


def test_unknown_embedder_and_roles(api, manager, reviewer, labeler, outsider, project):
    bad = api(manager).post(f"/api/projects/{project.pk}/maps/", {"embedder": "magic"}, format="json")
    assert bad.status_code == 400 and "unknown embedder 'magic'" in bad.json()["detail"]
    assert (
        api(reviewer).post(f"/api/projects/{project.pk}/maps/", {"embedder": "image-basic"}, format="json").status_code
        == 403
    )
    assert api(labeler).get(f"/api/projects/{project.pk}/label-issues/").status_code == 403
    assert api(outsider).get(f"/api/projects/{project.pk}/label-issues/").status_code == 404
    assert api(reviewer).get(f"/api/projects/{project.pk}/label-issues/").status_code == 404  # no map yet
    assert not EmbeddingMap.objects.exists()


def test_selection_tags_exactly_the_items(api, reviewer, blobs, outsider):
    project, ids, _, _ = blobs
    response = api(reviewer).post(
        f"/api/projects/{project.pk}/selection/", {"items": ids[:5], "action": "tag", "tag": "looped"}, format="json"
    )
    assert response.status_code == 200 and response.json()["n_items"] == 5
    assert set(Item.objects.filter(tags__name="looped").values_list("pk", flat=True)) == set(ids[:5])
    foreign = text_items(make_project(outsider, name="Theirs", modality="text"), ["x"])[0]
    response = api(reviewer).post(
        f"/api/projects/{project.pk}/selection/",
        {"items": [ids[6], foreign], "action": "tag", "tag": "looped"},
        format="json",
    )
    assert response.status_code == 400 and str(foreign) in response.json()["detail"]
    assert Item.objects.filter(tags__name="looped").count() == 5


def test_a_selection_tag_holding_a_comma_is_refused_saying_why(api, reviewer, blobs):
    # "night, rain" was stored as one tag; the version's CSV and fairness=a,b then read it as two.
    project, ids, _, _ = blobs
    body = {"items": ids[:5], "action": "tag", "tag": "night, rain"}
    response = api(reviewer).post(f"/api/projects/{project.pk}/selection/", body, format="json")
    assert response.status_code == 400
    assert "holds a comma: tags are listed comma-separated" in response.json()["detail"]
    assert not Item.objects.filter(tags__name__contains=",").exists()


def test_a_selection_with_a_field_it_does_not_take_is_refused_and_tags_nothing(api, reviewer, blobs):
    # An extra field ("untag": true, meant to take a mistaken tag off) was dropped without a word and every
    # item of the lasso tagged: the opposite of what the client asked.
    project, ids, _, _ = blobs
    body = {"items": ids[:5], "action": "tag", "tag": "looped", "untag": True}
    response = api(reviewer).post(f"/api/projects/{project.pk}/selection/", body, format="json")
    assert response.status_code == 400
    assert response.json()["untag"] == ["unknown field (the fields here: items, action, tag)"]
    assert not Item.objects.filter(tags__name="looped").exists()


def test_map_page_data_has_one_entry_per_point(client, api, manager, reviewer, blobs):
    project, ids, vectors, _ = blobs
    push_all(api, manager, project, ids, vectors)
    body = api(manager).post(f"/api/projects/{project.pk}/maps/", {"embedder": "team-net"}, format="json").json()
    map_job_run(job_id=body["job"])
    client.force_login(reviewer)
    assert client.get(f"/projects/{project.pk}/map/").status_code == 200
    data = client.get(f"/projects/{project.pk}/map/{body['map']}/data.json").json()
    assert len(data["item"]) == len(data["x"]) == len(data["label"]) == len(data["agreement"]) == 120
    assert data["classes"] == ["a", "b"]
    item = client.get(f"/projects/{project.pk}/map/items/{ids[0]}.json").json()
    assert item["id"] == ids[0] and item["answers"] == []


def test_map_agreement_counts_answers_in_todays_classes(client, api, manager, reviewer, blobs, labeler, labeler2):
    """Two labelers answered "a" and "c", then c was merged into a: the agreement page counts them as
    agreeing, and so does the map's colour by agreement (it compared the raw answers: 0.5)."""
    from labeling.services.taxonomy import taxonomy_apply

    project, ids, vectors, _ = blobs
    taxonomy_apply(project=project, op="add", payload={"key": "c"}, author=manager)
    first, second = Item.objects.filter(pk__in=ids[:2]).order_by("pk")
    annotation_save(item=first, labeler=labeler, value="a")
    annotation_save(item=first, labeler=labeler2, value="c")
    annotation_save(item=second, labeler=labeler, value="a")
    annotation_save(item=second, labeler=labeler2, value="b")
    taxonomy_apply(project=project, op="merge", payload={"classes": ["a", "c"], "into": "a"}, author=manager)
    push_all(api, manager, project, ids, vectors)
    map_id = build_map(api, manager, project, "team-net")
    client.force_login(reviewer)
    data = client.get(f"/projects/{project.pk}/map/{map_id}/data.json").json()
    agreement = dict(zip(data["item"], data["agreement"], strict=True))
    assert (agreement[first.pk], agreement[second.pk]) == (1.0, 0.5)


def test_decisions_are_labels_for_the_map_and_ties_are_counted_apart(api, manager, reviewer, blobs, labeler, labeler2):
    from analysis.services.maps import label_sources
    from labeling.services.review import decision_record

    project, ids, vectors, _ = blobs
    items = list(Item.objects.filter(pk__in=ids[:10]).order_by("pk"))
    Item.objects.filter(pk__in=ids[:10]).update(label="")
    for item in items[:5]:
        decision_record(item=item, reviewer=reviewer, label="b")
    for item in items[5:7]:  # a tie, and no imported label to settle it
        annotation_save(item=item, labeler=labeler, value="a")
        annotation_save(item=item, labeler=labeler2, value="b")
    # A decision wins over the answers too.
    annotation_save(item=items[0], labeler=labeler, value="a")
    annotation_save(item=items[0], labeler=labeler2, value="a")
    items = list(Item.objects.filter(pk__in=ids[:10]).order_by("pk"))
    labels, sources = label_sources(project=project, items=items)
    assert labels == ["b"] * 5 + [""] * 5
    assert sources == ["decision"] * 5 + ["tie"] * 2 + [""] * 3
    push_all(api, manager, project, ids, vectors)
    body = api(manager).post(f"/api/projects/{project.pk}/maps/", {"embedder": "team-net"}, format="json").json()
    map_job_run(job_id=body["job"])
    summary = EmbeddingMap.objects.get(pk=body["map"]).summary
    assert (summary["n_unlabeled"], summary["n_ties"], summary["n_decided"]) == (3, 2, 5)
    assert set(MapPoint.objects.filter(map_id=body["map"], item_id__in=ids[:5]).values_list("label", flat=True)) == {
        "b"
    }


def test_a_tie_takes_the_imported_label_when_it_is_one_of_the_tied(manager, blobs, labeler, labeler2):
    from analysis.services.maps import label_sources

    project, ids, _, _ = blobs
    item = Item.objects.get(pk=ids[0])  # imported as "a"
    annotation_save(item=item, labeler=labeler, value="a")
    annotation_save(item=item, labeler=labeler2, value="b")
    assert label_sources(project=project, items=[item]) == (["a"], ["tie"])


# --- Transcription maps and ?map= on label issues (issue 15, point 4) ------------------------------------


@pytest.fixture
def spoken(manager, reviewer, labeler, labeler2):
    """An audio transcription project: 12 clips in two recording conditions (metadata), two sources;
    the two labelers agree word for word on the clean clips and differ by one word of four on the noisy."""
    from labeling.services.projects import member_add
    from labeling.services.sources import source_create
    from tests.conftest import wav_bytes

    project = make_project(manager, name="Spoken", modality="audio", task_type="transcription")
    for user, role in ((reviewer, "reviewer"), (labeler, "labeler"), (labeler2, "labeler")):
        member_add(project=project, username=user.username, role=role)
    studio = source_create(project=project, name="studio", kind="owned")
    street = source_create(project=project, name="street", kind="owned")
    conditions = ["clean", "car-noise"] * 6
    entries = [
        ImportEntry(
            name=f"clip{i}.wav",
            load=lambda i=i: wav_bytes(freq=220.0 + 40 * i),
            source=studio if conditions[i] == "clean" else street,
            metadata={"condition": conditions[i], "reference": f"nearest gas station number {i}"},
        )
        for i in range(12)
    ]
    ids = items_import(project=project, entries=entries).imported
    for i, pk in enumerate(ids[:10]):
        item = Item.objects.get(pk=pk)
        annotation_save(item=item, labeler=labeler, value="Um, nearest gas station")
        noisy = conditions[i] == "car-noise"
        annotation_save(
            item=item, labeler=labeler2, value="um nearest bus station" if noisy else "um nearest gas station"
        )
    return project, ids, conditions


def build_map(api, manager, project, embedder):
    response = api(manager).post(f"/api/projects/{project.pk}/maps/", {"embedder": embedder}, format="json")
    assert response.status_code == 202, response.json()
    body = response.json()
    map_job_run(job_id=body["job"])
    job = Job.objects.get(pk=body["job"])
    assert job.status == "succeeded", job.errors
    return body["map"]


def test_a_transcription_projects_map_carries_wer_and_condition_but_no_scores(api, client, manager, reviewer, spoken):
    project, ids, conditions = spoken
    map_id = build_map(api, manager, project, "audio-mfcc")
    emap = EmbeddingMap.objects.get(pk=map_id)
    assert emap.n_points == 12 and emap.summary["label_issues"] is False
    assert emap.summary["n_compared"] == 10
    wer = dict(MapPoint.objects.filter(map=emap).values_list("item_id", "wer"))
    # "Um," and "um" agree after normalization; "bus" for "gas" is one word of four, both ways.
    assert [wer[pk] for pk in ids[:4]] == [0.0, 0.25, 0.0, 0.25]
    assert wer[ids[10]] is None and wer[ids[11]] is None  # no transcripts yet

    detail = api(reviewer).get(f"/api/projects/{project.pk}/maps/{map_id}/").json()
    assert detail["label_issues"] is False and "free text" in detail["label_issues_reason"]
    point = next(p for p in detail["points"] if p["item"] == ids[1])
    assert (point["wer"], point["agreement"], point["score"]) == (0.25, 0.5, None)
    # the documented ?format=: the same points as parallel arrays (or as rows, the default)
    columns = api(reviewer).get(f"/api/projects/{project.pk}/maps/{map_id}/?format=columns")
    assert columns.status_code == 200, columns.json()
    points = columns.json()["points"]
    at = points["item"].index(ids[1])
    assert (points["wer"][at], points["agreement"][at], points["score"][at]) == (0.25, 0.5, None)
    rows = api(reviewer).get(f"/api/projects/{project.pk}/maps/{map_id}/?format=rows")
    assert rows.status_code == 200 and rows.json()["points"] == detail["points"]

    client.force_login(reviewer)
    data = client.get(f"/projects/{project.pk}/map/{map_id}/data.json").json()
    assert data["label_issues"] is False and data["task"] == "transcription"
    assert data["wer"][:4] == [0.0, 0.25, 0.0, 0.25] and data["agreement"][:2] == [1.0, 0.5]
    condition = next(f for f in data["fields"] if f["name"] == "condition")
    assert condition["values"] == ["car-noise", "clean"]
    assert [condition["values"][c] for c in condition["codes"]] == conditions
    assert [data["sources"][s] for s in data["source"][:2]] == ["studio", "street"]
    # A free-text field (one reference per clip) is no colouring.
    assert "reference" not in {f["name"] for f in data["fields"]}
    page = client.get(f"/projects/{project.pk}/map/{map_id}/").content.decode()
    assert 'value="wer"' in page and "no label-issue scores" in page.lower() and 'value="score"' not in page

    issues = api(reviewer).get(f"/api/projects/{project.pk}/label-issues/").json()
    assert issues["map"] == map_id and issues["label_issues"] is False
    assert issues["items"] == [] and "free text" in issues["reason"]


def test_an_audio_project_can_map_its_clips_by_recording_condition(api, manager, spoken):
    """audio-logmel is offered beside the default audio-mfcc, with its dimension, and builds a map."""
    project, ids, _ = spoken
    rows = {r["name"]: r for r in api(manager).get(f"/api/projects/{project.pk}/embedders/").json()["results"]}
    assert rows["audio-logmel"]["dim"] == 200 and rows["audio-mfcc"]["dim"] == 84
    assert rows["audio-mfcc"]["default"] and not rows["audio-logmel"]["default"]
    emap = EmbeddingMap.objects.get(pk=build_map(api, manager, project, "audio-logmel"))
    assert emap.embedder == "audio-logmel" and emap.n_points == len(ids)


def test_a_text_transcription_map_uses_the_text_embedder(api, manager, labeler, labeler2):
    project = make_project(manager, name="Tickets", modality="text", task_type="transcription")
    ids = text_items(project, [f"printer {w} jammed on floor {i}" for i, w in enumerate(["paper", "ink"] * 6)])
    for pk in ids[:3]:
        item = Item.objects.get(pk=pk)
        annotation_save(item=item, labeler=labeler, value="printer jam")
        annotation_save(item=item, labeler=labeler2, value="printer jam on floor two")
    map_id = build_map(api, manager, project, "text-tfidf")
    assert MapPoint.objects.filter(map_id=map_id).count() == 12
    # "printer jam" against "printer jam on floor two": 3 edits of 2 words one way, of 5 the other.
    assert MapPoint.objects.get(map_id=map_id, item_id=ids[0]).wer == pytest.approx(6 / 7)


def test_detection_projects_are_refused_with_the_reason_and_no_button(api, client, manager):
    project = make_project(manager, name="Boxes", task_type="detection", classes=[{"key": "digit"}])
    response = api(manager).post(f"/api/projects/{project.pk}/maps/", {"embedder": "image-basic"}, format="json")
    assert response.status_code == 400 and "detection project" in response.json()["detail"]
    client.force_login(manager)
    page = client.get(f"/projects/{project.pk}/map/").content.decode()
    assert 'id="map-start"' not in page and "detection project" in page
    # said once, not again under "No map yet"
    assert page.count("this is a detection project") == 1 and "No map yet" not in page
    reviewer = make_user("sme-boxes")
    project.memberships.create(user=reviewer, role="reviewer")
    client.force_login(reviewer)
    page = client.get(f"/projects/{project.pk}/map/").content.decode()
    assert page.count("this is a detection project") == 1


def test_label_issues_answers_for_the_map_asked_for(api, manager, reviewer, blobs, other_project):
    project, ids, vectors, planted = blobs
    push_all(api, manager, project, ids, vectors)
    # A second embedder whose vectors say nothing: its map finds other (or no) issues.
    rng = np.random.default_rng(5)
    push(api, manager, project, "noise", [{"item": i, "vector": rng.normal(size=8).tolist()} for i in ids])
    good = build_map(api, manager, project, "team-net")
    noise = build_map(api, manager, project, "noise")
    latest = api(reviewer).get(f"/api/projects/{project.pk}/label-issues/").json()
    assert (latest["map"], latest["embedder"]) == (noise, "noise")  # the default: the latest map
    chosen = api(reviewer).get(f"/api/projects/{project.pk}/label-issues/?map={good}").json()
    assert (chosen["map"], chosen["embedder"], chosen["label_issues"]) == (good, "team-net", True)
    assert chosen["clusters"] and chosen["clusters"][0]["label"] == "a"
    flagged = {row["item"] for row in chosen["items"]}
    assert flagged == set(MapPoint.objects.filter(map_id=good, flagged=True).values_list("item_id", flat=True))
    assert flagged != {row["item"] for row in latest["items"]}

    unknown = api(reviewer).get(f"/api/projects/{project.pk}/label-issues/?map=999999")
    assert unknown.status_code == 404 and "No map 999999 in this project" in unknown.json()["detail"]
    theirs = EmbeddingMap.objects.create(project=other_project, embedder="image-basic")
    foreign = api(reviewer).get(f"/api/projects/{project.pk}/label-issues/?map={theirs.pk}")
    assert foreign.status_code == 404 and f"No map {theirs.pk}" in foreign.json()["detail"]
    malformed = api(reviewer).get(f"/api/projects/{project.pk}/label-issues/?map=latest")
    assert malformed.status_code == 400 and "'latest'" in malformed.json()["detail"]
    running = EmbeddingMap.objects.create(project=project, embedder="team-net")
    unfinished = api(reviewer).get(f"/api/projects/{project.pk}/label-issues/?map={running.pk}")
    assert unfinished.status_code == 400 and f"map {running.pk} has not finished" in unfinished.json()["detail"]


@pytest.mark.parametrize(("n_flagged", "says"), [(1, "1 item flagged in all"), (2, "2 items flagged in all")])
def test_the_map_page_counts_flagged_items_in_words_that_agree(client, manager, blobs, n_flagged, says):
    """A first small project's map flagged one item and the page said "1 items flagged in all"."""
    project, ids, _, _ = blobs
    emap = EmbeddingMap.objects.create(
        project=project,
        job=Job.objects.create(project=project, kind="map", status="succeeded"),
        embedder="text-tfidf",
        created_by=manager,
        finished=timezone.now(),
        n_points=len(ids),
        classes=["a", "b"],
        summary={"n_flagged": n_flagged},
    )
    MapPoint.objects.bulk_create(
        MapPoint(map=emap, item_id=pk, x=0, y=0, label="a", score=0.9, flagged=k < n_flagged)
        for k, pk in enumerate(ids[:5])
    )
    client.force_login(manager)
    page = client.get(f"/projects/{project.pk}/map/").content.decode()
    assert says in page and "1 items" not in page


def test_a_map_request_sent_again_while_the_map_is_computed_starts_no_second(api, manager, blobs):
    """A script that lost the 202 retries: it gets the map under way (200), not a second computation."""
    project, ids, vectors, _ = blobs
    push_all(api, manager, project, ids, vectors)
    url = f"/api/projects/{project.pk}/maps/"
    first = api(manager).post(url, {"embedder": "team-net"}, format="json")
    assert first.status_code == 202
    again = api(manager).post(url, {"embedder": "team-net"}, format="json")
    assert again.status_code == 200 and again.json() == first.json()
    assert EmbeddingMap.objects.filter(project=project).count() == 1
    assert Job.objects.filter(project=project, kind="map").count() == 1
    map_job_run(job_id=first.json()["job"])
    assert api(manager).post(url, {"embedder": "team-net"}, format="json").status_code == 202  # done: a new map


def test_a_transcript_maps_wer_keeps_the_answers_a_campaign_archived(api, manager, reviewer, spoken):
    """A campaign sends the noisy clip 1 back ("um nearest gas station" against "um nearest bus station")
    and nobody has transcribed it again: the agreement report still reads both archived transcripts, yet
    the map's point had no WER (it read current answers only). By hand: one word of four, both ways
    (0.25), half the transcripts equal to the most common one (0.5), as before the campaign."""
    from labeling.services.campaigns import campaign_create

    project, ids, _ = spoken
    campaign_create(project=project, name="again", item_ids=[ids[1]], overlap=2, user=manager)
    map_id = build_map(api, manager, project, "audio-mfcc")
    detail = api(reviewer).get(f"/api/projects/{project.pk}/maps/{map_id}/").json()
    point = next(p for p in detail["points"] if p["item"] == ids[1])
    assert (point["wer"], point["agreement"]) == (0.25, 0.5)
    assert EmbeddingMap.objects.get(pk=map_id).summary["n_compared"] == 10


def test_a_maps_tie_weighs_archived_answers_as_a_version_does(api, manager, reviewer, blobs):
    """Item 0 (imported "a"): five labelers said "b", a campaign archived their answers, two labelers then
    said "a". A version weighs them 5 × 0.4 = 2 against 2 × 1 = 2: a tie, which the map settles with the
    imported label when it is one of the tied ("a", source tie). The map compared answer counts (5 b's
    against 2 a's), so "a" was not among the tied and the point went unlabeled."""
    from analysis.services.maps import label_sources
    from labeling.services.campaigns import campaign_create
    from tests.labeling.version_helpers import answer, labelers

    project, ids, vectors, _ = blobs
    users = labelers(project, 5)
    for user in users:
        answer(Item.objects.get(pk=ids[0]), user, "b")
    campaign_create(project=project, name="again", item_ids=[ids[0]], overlap=2, user=manager)
    for user in users[:2]:
        answer(Item.objects.get(pk=ids[0]), user, "a")
    assert label_sources(project=project, items=[Item.objects.get(pk=ids[0])]) == (["a"], ["tie"])
    push_all(api, manager, project, ids, vectors)
    map_id = build_map(api, manager, project, "team-net")
    point = next(
        p
        for p in api(reviewer).get(f"/api/projects/{project.pk}/maps/{map_id}/").json()["points"]
        if p["item"] == ids[0]
    )
    assert point["label"] == "a"


def test_a_class_maps_agreement_keeps_the_answers_a_campaign_archived(client, api, manager, reviewer, blobs):
    """Two labelers answered "a" and "b" on item 0, a campaign sent it back and nobody has answered again:
    the agreement report still reads both archived answers, yet the map's colour by agreement had none
    for it (it read current answers only). By hand: one of two answers is the most common, 0.5; once
    one labeler answers "b" again, their new answer replaces their archived one: b, b → 1.0."""
    from labeling.services.campaigns import campaign_create
    from tests.labeling.version_helpers import answer, labelers

    project, ids, vectors, _ = blobs
    users = labelers(project, 2)
    for user, value in zip(users, ("a", "b"), strict=True):
        answer(Item.objects.get(pk=ids[0]), user, value)
    campaign_create(project=project, name="again", item_ids=[ids[0]], overlap=2, user=manager)
    push_all(api, manager, project, ids, vectors)
    map_id = build_map(api, manager, project, "team-net")
    client.force_login(reviewer)
    url = f"/projects/{project.pk}/map/{map_id}/data.json"

    def agreement():
        data = client.get(url).json()
        return dict(zip(data["item"], data["agreement"], strict=True))[ids[0]]

    assert agreement() == 0.5
    answer(Item.objects.get(pk=ids[0]), users[0], "b")
    assert agreement() == 1.0


@pytest.fixture
def recorded(manager, reviewer):
    """A text project of 60 'recordings' cut into 4 windows each (near-copies, pushed as vectors), each
    window's recording in its metadata; the windows of three recordings all carry the other class."""
    project = make_project(manager, name="Windows", modality="text", classes=[{"key": "a"}, {"key": "b"}])
    from labeling.services.projects import member_add

    member_add(project=project, username=reviewer.username, role="reviewer")
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(60, 8))
    centres[30:, 0] += 5.0
    rec = np.repeat(np.arange(60), 4)
    truth = (rec >= 30).astype(int)
    given = truth.copy()
    wrong = np.isin(rec, [2, 3, 40])
    given[wrong] = 1 - given[wrong]
    entries = [
        ImportEntry(name=f"w{i}", text=f"window {i}", label="ab"[given[i]], metadata={"recording": f"r{rec[i]}"})
        for i in range(len(rec))
    ]
    ids = items_import(project=project, entries=entries).imported
    vectors = np.repeat(centres, 4, axis=0) + rng.normal(0, 0.05, (len(rec), 8))
    return project, ids, vectors, {i for i, w in zip(ids, wrong, strict=True) if w}


def test_a_map_keeps_the_windows_of_one_recording_apart_when_asked(api, client, manager, reviewer, recorded):
    """Windows of one recording relabeled whole vouch for each other as neighbours: the map finds few of
    them. Started with ``group_by`` naming the metadata key of the recording, it flags most of them,
    and the API and page say how the items were kept apart."""
    project, ids, vectors, wrong = recorded
    push_all(api, manager, project, ids, vectors)
    url = f"/api/projects/{project.pk}/maps/"

    def flagged(body):
        map_job_run(job_id=body["job"])
        assert Job.objects.get(pk=body["job"]).status == "succeeded"
        issues = api(reviewer).get(f"/api/projects/{project.pk}/label-issues/", {"map": body["map"]}).json()
        return {row["item"] for row in issues["items"]}

    plain = api(manager).post(url, {"embedder": "team-net"}, format="json").json()
    assert len(flagged(plain) & wrong) <= 0.25 * len(wrong)
    started = api(manager).post(url, {"embedder": "team-net", "group_by": "recording"}, format="json")
    assert started.status_code == 202
    grouped = started.json()
    found = flagged(grouped)
    assert len(found & wrong) >= 0.75 * len(wrong) and len(found - wrong) <= 3
    detail = api(reviewer).get(f"{url}{grouped['map']}/").json()
    assert detail["group_by"] == "recording"
    assert detail["summary"]["n_grouped"] == 240 and detail["summary"]["n_groups"] == 60
    assert api(reviewer).get(f"{url}{plain['map']}/").json()["group_by"] is None
    client.force_login(manager)
    page = client.get(f"/projects/{project.pk}/map/{grouped['map']}/").content.decode()
    assert "kept apart: 240 items in 60 groups" in " ".join(page.split())
    assert '<option value="recording">' in page  # offered as a key to group by


def test_a_map_grouped_by_a_key_no_item_shares_keeps_nothing_apart_and_says_so(api, client, manager, recorded):
    project, ids, vectors, _ = recorded
    push_all(api, manager, project, ids, vectors)
    body = (
        api(manager)
        .post(f"/api/projects/{project.pk}/maps/", {"embedder": "team-net", "group_by": "microphone"}, format="json")
        .json()
    )
    map_job_run(job_id=body["job"])
    emap = EmbeddingMap.objects.get(pk=body["map"])
    assert emap.job.status == "succeeded" and emap.summary["n_grouped"] == 0
    client.force_login(manager)
    page = client.get(f"/projects/{project.pk}/map/{emap.pk}/")
    assert "no two items share a value" in page.content.decode()


def test_a_grouped_map_is_a_map_of_its_own_and_a_bad_key_is_refused(api, manager, recorded):
    """The same embedder grouped and not grouped are two maps (a retry of one answers that one); a key
    over 100 characters is refused naming the field, and nothing starts."""
    project, ids, vectors, _ = recorded
    push_all(api, manager, project, ids, vectors)
    url = f"/api/projects/{project.pk}/maps/"
    first = api(manager).post(url, {"embedder": "team-net"}, format="json")
    grouped = api(manager).post(url, {"embedder": "team-net", "group_by": "recording"}, format="json")
    assert first.status_code == grouped.status_code == 202 and first.json() != grouped.json()
    again = api(manager).post(url, {"embedder": "team-net", "group_by": "recording"}, format="json")
    assert again.status_code == 200 and again.json() == grouped.json()
    refused = api(manager).post(url, {"embedder": "team-net", "group_by": "k" * 101}, format="json")
    assert refused.status_code == 400 and "group_by" in refused.json()
    assert EmbeddingMap.objects.filter(project=project).count() == 2


@pytest.mark.parametrize("key", ["2024", "site.id", 'say "cheese"'])
def test_a_map_groups_by_any_metadata_key_as_written(api, manager, key):
    """A key that looks like a list position ("2024"), holds a dot or a quote groups the items that share
    its value (Django's key lookup read "2024" as a position and grouped nothing)."""
    project = make_project(manager, name="Keys", modality="text", classes=[{"key": "a"}, {"key": "b"}])
    entries = [ImportEntry(name=f"w{i}", text=f"w {i}", label="ab"[i % 2], metadata={key: i // 4}) for i in range(24)]
    ids = items_import(project=project, entries=entries).imported
    from analysis.services.maps import item_groups

    groups, n_grouped = item_groups(project=project, item_ids=ids, key=key)
    assert n_grouped == 24 and len(set(groups.tolist())) == 6
    assert all(len(set(groups[i : i + 4].tolist())) == 1 for i in range(0, 24, 4))


def test_a_map_reads_a_string_value_as_its_text_and_only_json_null_as_no_value(manager):
    """On SQLite the string "null" under the key was no value, and a string holding JSON ('"17"',
    '{"b": 1, "a": 2}') the JSON it spells: its items joined the group of 17 or of that object, where
    PostgreSQL keeps them apart."""
    from analysis.services.maps import item_groups

    project = make_project(manager, name="Nulls", modality="text", classes=[{"key": "a"}, {"key": "b"}])
    values = ["null", None, "17", '"17"', {"a": 2, "b": 1}, '{"b": 1, "a": 2}', "[1,2]", [1, 2]]
    entries = [
        ImportEntry(name=f"w{i}", text=f"w {i}", label="ab"[i % 2], metadata={"recording": values[i // 3]})
        for i in range(3 * len(values))
    ]
    ids = items_import(project=project, entries=entries).imported
    groups, n_grouped = item_groups(project=project, item_ids=ids, key="recording")
    runs = [groups[i : i + 3].tolist() for i in range(0, len(ids), 3)]
    assert runs[1] == [-1, -1, -1]  # JSON null: no value
    shared = [run for n, run in enumerate(runs) if n != 1]
    assert all(len(set(run)) == 1 and run[0] >= 0 for run in shared)
    assert len({run[0] for run in shared}) == 7 and n_grouped == 21


def test_the_map_page_reads_classes_by_their_names(client, api, manager, reviewer, blobs):
    """The map's legend, tooltips, item panel and suspicious clusters read each class by its key ("41 items
    labeled 4 sit among 9" on the digits demo, whose classes are "four" and "nine") where every other page
    reads its name; the page's data now carries the names beside the keys, and the clusters' sentence uses
    them. The API keeps the keys."""
    project, ids, vectors, _ = blobs
    project.classes.filter(key="a").update(name="Apple")
    project.classes.filter(key="b").update(name="Banana")
    push_all(api, manager, project, ids, vectors)
    body = api(manager).post(f"/api/projects/{project.pk}/maps/", {"embedder": "team-net"}, format="json").json()
    map_job_run(job_id=body["job"])
    client.force_login(reviewer)
    data = client.get(f"/projects/{project.pk}/map/{body['map']}/data.json").json()
    assert data["classes"] == ["a", "b"] and data["class_names"] == ["Apple", "Banana"]
    cluster = data["clusters"][0]
    assert (cluster["label"], cluster["suggested_label"]) == ("a", "b")
    assert cluster["description"] == f"{len(cluster['items'])} items labeled Apple sit among Banana"
    issues = api(reviewer).get(f"/api/projects/{project.pk}/label-issues/").json()
    assert issues["clusters"][0]["label"] == "a"


def test_a_map_of_a_project_with_fewer_items_than_a_map_needs_is_refused_saying_so(api, manager):
    """A project of 8 texts queued a map whose job embedded all 8 and then failed with "only 8 items have
    'text-tfidf' vectors; a map needs 10", which reads as vectors missing, not items."""
    project = make_project(manager, name="Few", modality="text")
    text_items(project, [f"text number {i}" for i in range(8)])
    response = api(manager).post(f"/api/projects/{project.pk}/maps/", {"embedder": "text-tfidf"}, format="json")
    assert response.status_code == 400
    assert response.json()["embedder"] == ["a map needs at least 10 items; this project has 8"]
    assert not EmbeddingMap.objects.exists() and not Job.objects.exists()


def test_a_clusters_deleted_items_are_no_longer_counted_named_or_shown(client, api, manager, reviewer, blobs):
    """Items deleted after the map was made (a wrong folder imported, a licence revoked) left the map's
    points, but the suspicious cluster still said "20 items labeled a sit among b", listed their ids and
    showed them as examples (broken thumbnails), and "N items flagged in all" counted them: the API, the
    sentence and the selection a click makes disagreed."""
    project, ids, vectors, planted = blobs
    push_all(api, manager, project, ids, vectors)
    body = api(manager).post(f"/api/projects/{project.pk}/maps/", {"embedder": "team-net"}, format="json").json()
    map_job_run(job_id=body["job"])
    before = api(reviewer).get(f"/api/projects/{project.pk}/label-issues/").json()
    cluster = before["clusters"][0]
    gone = [cluster["examples"][0], cluster["neighbour_examples"][0], *cluster["items"][-2:]]
    n_flagged = len(before["items"])
    deleted = api(manager).post(f"/api/projects/{project.pk}/items/delete/", {"items": gone}, format="json")
    assert deleted.status_code == 200, deleted.json()

    after = api(reviewer).get(f"/api/projects/{project.pk}/label-issues/").json()
    kept = [i for i in cluster["items"] if i not in gone]
    now = after["clusters"][0]
    assert now["items"] == kept and now["size"] == len(kept)
    assert now["description"] == f"{len(kept)} items labeled a sit among b"
    assert not set(now["examples"]) & set(gone) and not set(now["neighbour_examples"]) & set(gone)
    assert now["examples"] and now["neighbour_examples"]
    detail = api(reviewer).get(f"/api/projects/{project.pk}/maps/{body['map']}/").json()
    assert detail["clusters"][0]["items"] == kept
    client.force_login(reviewer)
    data = client.get(f"/projects/{project.pk}/map/{body['map']}/data.json").json()
    assert data["clusters"][0]["items"] == kept and not set(data["clusters"][0]["examples"]) & set(gone)
    assert data["clusters"][0]["description"].startswith(f"{len(kept)} items labeled")
    page = client.get(f"/projects/{project.pk}/map/{body['map']}/").content.decode()
    assert f"{len(after['items'])} items flagged in all" in page and len(after["items"]) < n_flagged


def test_the_map_says_which_items_were_answered_or_decided_since_it_was_made(
    client, api, manager, reviewer, labeler, blobs
):
    """An SME settled a suspicious cluster from the map ("Review these items"), came back, and the map
    still said "20 items labeled a sit among b", coloured them a, with nothing saying that its labels
    were those of before the decisions: it looked as if the decisions had not been taken."""
    from labeling.services.projects import member_add
    from labeling.services.review import decision_record
    from labeling.services.taxonomy import taxonomy_apply

    project, ids, vectors, planted = blobs
    member_add(project=project, username=labeler.username, role="labeler")
    push_all(api, manager, project, ids, vectors)
    body = api(manager).post(f"/api/projects/{project.pk}/maps/", {"embedder": "team-net"}, format="json").json()
    map_job_run(job_id=body["job"])
    client.force_login(reviewer)
    page_url = f"/projects/{project.pk}/map/{body['map']}/"
    assert "since this map was made" not in client.get(page_url).content.decode()
    cluster = api(reviewer).get(f"/api/projects/{project.pk}/label-issues/").json()["clusters"][0]
    decided = cluster["items"][:3]
    for pk in decided:
        decision_record(item=Item.objects.get(pk=pk), reviewer=reviewer, label="b")
    outside = next(i for i in ids if i not in cluster["items"])
    annotation_save(item=Item.objects.get(pk=outside), labeler=labeler, value="a")

    data = client.get(f"/projects/{project.pk}/map/{body['map']}/data.json").json()
    changed = {pk for pk, flag in zip(data["item"], data["changed"], strict=True) if flag}
    assert changed == {*decided, outside}
    assert data["clusters"][0]["n_changed"] == 3
    page = client.get(page_url).content.decode()
    assert "4 items were answered or decided since this map was made" in page
    # a class change since relabels every item of the classes it touches: said too
    taxonomy_apply(project=project, op="rename", payload={"key": "b", "new_key": "bee", "new_name": "Bee"})
    page = client.get(page_url).content.decode()
    assert "the classes changed since (1 change)" in page
    # the API's clusters count them too, as the page does
    issues = api(reviewer).get(f"/api/projects/{project.pk}/label-issues/").json()
    assert issues["clusters"][0]["n_changed"] == 3
    detail = api(reviewer).get(f"/api/projects/{project.pk}/maps/{body['map']}/").json()
    assert detail["clusters"][0]["n_changed"] == 3


def test_the_maps_item_card_shows_the_decision_in_force(client, manager, reviewer, blobs):
    """An SME clicked a point of the cluster they had settled: its card said "imported label: a" and "no
    answers yet", not that it was decided b; only the review page told."""
    from labeling.services.review import decision_record

    project, ids, _, _ = blobs
    item = Item.objects.get(pk=ids[60])
    client.force_login(reviewer)
    url = f"/projects/{project.pk}/map/items/{item.pk}.json"
    assert client.get(url).json()["decision"] is None
    decision_record(item=item, reviewer=reviewer, label="b", rationale="one of the relabeled b's")
    card = client.get(url).json()
    assert card["decision"] == {"what": "label 'b'", "reviewer": reviewer.username, "label": "b", "action": "label"}
    decision_record(item=item, reviewer=reviewer, action="relabel", rationale="ask the labelers again")
    assert client.get(url).json()["decision"]["what"] == "Send back for relabeling"


def test_a_map_of_vectors_that_are_all_the_same_fails_saying_so(api, manager, blobs):
    """A team's pipeline wrote the same vector for every item (zeros): the map job failed with
    "IntegrityError: NOT NULL constraint failed: analysis_mappoint.x" (the layout of identical points
    is NaN), which says nothing to the person who pushed them."""
    project, ids, _, _ = blobs
    assert push_all(api, manager, project, ids, np.zeros((len(ids), 8)), model="broken-net").status_code == 201
    body = api(manager).post(f"/api/projects/{project.pk}/maps/", {"embedder": "broken-net"}, format="json").json()
    map_job_run(job_id=body["job"])
    job = Job.objects.get(pk=body["job"])
    assert job.status == "failed"
    reason = " ".join(e["reason"] for e in job.errors)
    assert "all 120 items have the same 'broken-net' vector" in reason and "Error" not in reason
    assert not MapPoint.objects.filter(map_id=body["map"]).exists()


@pytest.mark.parametrize(
    ("op", "payload", "b_is"),
    [
        ("rename", {"key": "b", "new_key": "bee", "new_name": "Bee"}, "bee"),
        ("merge", {"classes": ["b", "c"], "into": "c"}, "c"),
    ],
)
def test_imported_labels_count_as_their_class_after_a_rename_or_merge(api, manager, reviewer, blobs, op, payload, b_is):
    """Items labeled by import (no answers yet) whose class was renamed (b → bee) or merged into
    another were all "unlabeled" on the next map (n_unlabeled 60 of 120), which then found nothing: the
    relabeled group labeled a sitting among the b's was no longer reported."""
    from labeling.models import LabelClass
    from labeling.services.taxonomy import taxonomy_apply

    project, ids, vectors, planted = blobs
    if op == "merge":
        LabelClass.objects.create(project=project, key="c", name="c", order=3)
    taxonomy_apply(project=project, op=op, payload=payload)
    push_all(api, manager, project, ids, vectors)
    body = api(manager).post(f"/api/projects/{project.pk}/maps/", {"embedder": "team-net"}, format="json").json()
    map_job_run(job_id=body["job"])
    emap = EmbeddingMap.objects.get(pk=body["map"])
    assert emap.summary["n_unlabeled"] == 0
    labels = dict(MapPoint.objects.filter(map=emap).values_list("item_id", "label"))
    assert {labels[i] for i in ids[80:]} == {b_is}
    cluster = api(reviewer).get(f"/api/projects/{project.pk}/label-issues/").json()["clusters"][0]
    assert (cluster["label"], cluster["suggested_label"]) == ("a", b_is)
    assert len(set(cluster["items"]) & planted) >= 0.9 * len(planted)


@pytest.mark.parametrize(
    ("labels", "reason"),
    [
        ("", "none of its 120 items has a label yet"),
        ("a", "every labeled item is labeled a"),
        ("few", "only 6 of its 120 items have a label"),
    ],
)
def test_a_map_that_could_not_check_labels_says_why_instead_of_finding_nothing(
    client, api, manager, reviewer, blobs, labels, reason
):
    """A map of unlabeled items, or of one class, scores no labels; its page said "No suspicious cluster
    found" and the label-issue API answered empty lists with label_issues true, as if the labels had
    been checked and found right."""
    project, ids, vectors, _ = blobs
    given = {"": "", "a": "a"}.get(labels)
    for k, item in enumerate(Item.objects.filter(project=project).order_by("pk")):
        item.label = given if given is not None else ("ab"[k % 2] if k < 6 else "")
        item.save(update_fields=["label"])
    push_all(api, manager, project, ids, vectors)
    body = api(manager).post(f"/api/projects/{project.pk}/maps/", {"embedder": "team-net"}, format="json").json()
    map_job_run(job_id=body["job"])
    issues = api(reviewer).get(f"/api/projects/{project.pk}/label-issues/").json()
    assert issues["label_issues"] is False and reason in issues["reason"]
    assert issues["items"] == [] and issues["clusters"] == []
    client.force_login(reviewer)
    page = client.get(f"/projects/{project.pk}/map/{body['map']}/").content.decode()
    assert reason in page and 'id="clusters"' not in page
    # the page is still the classification map: coloured by label, not by transcript WER
    assert '<option value="label">given label</option>' in page
    detail = api(reviewer).get(f"/api/projects/{project.pk}/maps/{body['map']}/").json()
    assert detail["label_issues"] is False and reason in detail["label_issues_reason"]
    assert {p["score"] for p in detail["points"]} == {None} and len(detail["points"]) == 120
