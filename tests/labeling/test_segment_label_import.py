"""Importing time segments: a version's ``segments.csv`` and ``rttm`` (and the RTTM diarization tools such as
pyannote write) become the named labeler's answers on the clips they name; a bad line is refused with a 400
naming the line and its problem, and nothing is stored."""

import json

import pytest
from django.core.exceptions import ValidationError
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile

from labeling.choices import JobStatus
from labeling.models import Annotation, Item, Job
from labeling.services.annotations import annotation_save
from labeling.services.import_jobs import import_job_create, import_job_run
from tests.conftest import make_project, wav_bytes
from tests.labeling.test_label_import import answers, run_import, zip_bytes
from tests.labeling.version_helpers import answer, build, labelers

pytestmark = pytest.mark.django_db

CLASSES = [{"key": "speech", "name": "Speech"}, {"key": "music", "name": "Music"}]
# original name: (seconds, the segments every labeler draws)
CLIPS = {
    "a/q.wav": (2.0, [(0.0, 0.7504, "speech"), (0.7504, 1.25, "music"), (1.5, 2.0, "speech")]),
    "b/q.wav": (1.5, [(0.1234, 0.5678, "music"), (0.5678, 1.2, "music")]),  # two touching: stay two
    "c/q.flac": (3.0, [(0.2, 2.9, "speech"), (1.0, 2.0, "music")]),
    "q 1.wav": (1.0, [(0.25, 0.75, "speech")]),
    "my clips/q 1.wav": (1.2, [(0.5, 1.0, "music")]),  # RTTM's my_clips/q_1
    "-take.wav": (1.0, [(0.1, 0.9, "speech")]),  # segments.csv writes '-take.wav (a spreadsheet's formula)
}


def segments_project(manager, name="Speech"):
    return make_project(manager, name=name, modality="audio", task_type="segments", classes=CLASSES)


def clips_zip(clips=CLIPS):
    return zip_bytes(
        [
            (name, wav_bytes(seconds=seconds, freq=200 + 50 * n, fmt="FLAC" if name.endswith(".flac") else "WAV"))
            for n, (name, (seconds, _)) in enumerate(clips.items())
        ]
    )


def import_clips(project, manager, clips=CLIPS):
    job = run_import(project, manager, "clips.zip", clips_zip(clips))
    assert job.status == JobStatus.SUCCEEDED and job.result["imported"] == len(clips), job.errors
    return {i.original_name: i for i in Item.objects.filter(project=project)}


def segments_value(drawn):
    return {"segments": [{"start": s, "end": e, "label": c} for s, e, c in drawn]}


def by_start(value):
    return sorted(value["segments"], key=lambda s: (s["start"], s["label"]))


def version_artifacts(project, manager, items, clips=CLIPS):
    for user in labelers(project, 2, prefix="ear"):
        for name, (_, drawn) in clips.items():
            answer(items[name], user, json.dumps(segments_value(drawn)))
    version = build(project, manager)
    artifacts = {}
    for artifact in version.artifacts.filter(format__in=["segments_csv", "rttm"]):
        with default_storage.open(artifact.name, "rb") as handle:
            artifacts[artifact.format] = handle.read()
    return artifacts


def test_a_versions_segments_csv_and_rttm_give_a_new_project_the_same_segments(manager):
    """The round trip: a version's segments.csv and RTTM imported into a NEW project holding the same clips
    (same names in other folders, a name with a space) give back every segment, class and time within the
    milliseconds the files keep."""
    project = segments_project(manager)
    items = import_clips(project, manager)
    artifacts = version_artifacts(project, manager, items)
    assert artifacts["segments_csv"].decode().splitlines()[0] == "item,start,end,label,support,file"
    assert "SPEAKER q_1 1 0.250 0.500" in artifacts["rttm"].decode()
    assert ",'-take.wav\r\n" in artifacts["segments_csv"].decode()  # quoted against formulas, read back unquoted

    fresh = segments_project(manager, name="Speech again")
    import_clips(fresh, manager)
    for fmt, name, who in (("segments_csv", "segments.csv", "cora"), ("rttm", "segments.rttm", "rita")):
        job = run_import(fresh, manager, name, artifacts[fmt], fmt=fmt, labeler=who)
        assert job.status == JobStatus.SUCCEEDED and job.errors == [], (fmt, job.errors)
        assert job.result["answers"] == {"created": len(CLIPS), "revised": 0, "unchanged": 0}, fmt
        got = {item: value for (item, user), value in answers(fresh).items() if user == who}
        assert sorted(got) == sorted(CLIPS), fmt
        for item, (_, drawn) in CLIPS.items():
            expected = by_start(segments_value(drawn))
            assert by_start(got[item]) == [
                {**s, "start": pytest.approx(s["start"], abs=5e-4), "end": pytest.approx(s["end"], abs=5e-4)}
                for s in expected
            ], (fmt, item)
        again = run_import(fresh, manager, name, artifacts[fmt], fmt=fmt, labeler=who)
        assert again.result["answers"] == {"created": 0, "revised": 0, "unchanged": len(CLIPS)}, fmt


def test_a_segments_zip_with_its_clips_makes_the_items_and_a_clip_no_line_names_is_nothing_here(manager):
    project = segments_project(manager)
    csv = "file,start,end,label\nfolder/one.wav,0.5,1.0,Speech\n"
    content = zip_bytes(
        [
            ("labels/segments.csv", csv),
            ("folder/one.wav", wav_bytes(seconds=2.0)),
            ("folder/two.wav", wav_bytes(seconds=2.0, freq=220)),
        ]
    )
    job = run_import(project, manager, "clips.zip", content, fmt="segments_csv", labeler="ana")
    assert job.status == JobStatus.SUCCEEDED and job.errors == [], job.errors
    assert job.result["imported"] == 2
    assert answers(project) == {
        ("folder/one.wav", "ana"): {"segments": [{"start": 0.5, "end": 1.0, "label": "speech"}]},
        ("folder/two.wav", "ana"): {"segments": []},
    }


MAC_LINES = {
    "segments_csv": "file,start,end,label\n{composed}.wav,0.5,1.0,speech\n{decomposed}.wav,1.0,1.5,music\n",
    "rttm": "SPEAKER {composed} 1 0.5 0.5 <NA> <NA> speech <NA> <NA>\n"
    "SPEAKER {decomposed} 1 1.0 0.5 <NA> <NA> music <NA> <NA>\n",
}


@pytest.mark.parametrize(("fmt", "name"), [("segments_csv", "segments.csv"), ("rttm", "speakers.rttm")])
def test_a_macos_zips_clip_takes_the_lines_naming_it_composed_or_decomposed(manager, fmt, name):
    """A zip made on macOS stores "canción" decomposed (n, a combining accent); a segments file written
    elsewhere names it composed, or, written on the Mac, decomposed: both are the one clip, its segments one
    answer, not a clip "no file names" or a second name of it refused."""
    import unicodedata

    composed = "música/canción"
    decomposed = unicodedata.normalize("NFD", composed)
    assert composed != decomposed
    project = segments_project(manager)
    text = MAC_LINES[fmt].format(composed=composed, decomposed=decomposed)
    content = zip_bytes([(f"labels/{name}", text), (f"{decomposed}.wav", wav_bytes(seconds=2.0))])
    job = run_import(project, manager, "clips.zip", content, fmt=fmt, labeler="ana")
    assert job.status == JobStatus.SUCCEEDED and job.errors == [], job.errors
    [(clip, value)] = [(item, value) for (item, _), value in answers(project).items()]
    assert unicodedata.normalize("NFC", clip) == f"{composed}.wav"
    assert by_start(value) == [
        {"start": 0.5, "end": 1.0, "label": "speech"},
        {"start": 1.0, "end": 1.5, "label": "music"},
    ]


def test_a_versions_rttm_in_a_zip_with_its_clips_makes_a_new_project_with_the_same_segments(manager):
    """A new project from a zip of the clips and the version's RTTM: each file id finds its clip in the zip
    (``a/q`` beside ``b/q``, ``q_1`` for ``q 1.wav``), which becomes an item with the labeler's segments."""
    project = segments_project(manager)
    artifacts = version_artifacts(project, manager, import_clips(project, manager))
    fresh = segments_project(manager, name="From the zip")
    entries = [(n, data) for n, data in _zip_entries(clips_zip())] + [("labels/segments.rttm", artifacts["rttm"])]
    job = run_import(fresh, manager, "clips.zip", zip_bytes(entries), fmt="rttm", labeler="rita")
    assert job.status == JobStatus.SUCCEEDED and job.errors == [], job.errors
    assert job.result["imported"] == len(CLIPS)
    got = {item: value for (item, _), value in answers(fresh).items()}
    for item, (_, drawn) in CLIPS.items():
        assert by_start(got[item]) == [
            {**s, "start": pytest.approx(s["start"], abs=5e-4), "end": pytest.approx(s["end"], abs=5e-4)}
            for s in by_start(segments_value(drawn))
        ], item


def _zip_entries(content):
    import io
    import zipfile

    with zipfile.ZipFile(io.BytesIO(content)) as archive:
        return [(name, archive.read(name)) for name in archive.namelist()]


def test_a_segments_csv_of_the_same_project_goes_back_by_item_id(manager):
    """A segments.csv written before it named files (``item,start,end,label,support``) names this project's
    items by id, and goes back onto them."""
    project = segments_project(manager)
    items = import_clips(project, manager)
    clip = items["b/q.wav"]
    content = f"item,start,end,label,support\n{clip.pk},0.100,0.500,speech,2\n".encode()
    job = run_import(project, manager, "segments.csv", content, fmt="segments_csv", labeler="old")
    assert job.status == JobStatus.SUCCEEDED and job.errors == [], job.errors
    assert answers(project) == {("b/q.wav", "old"): {"segments": [{"start": 0.1, "end": 0.5, "label": "speech"}]}}

    # Another project's ids name none of these clips: refused saying so.
    fresh = segments_project(manager, name="Elsewhere")
    import_clips(fresh, manager)
    with pytest.raises(ValidationError) as refused:
        import_job_create(
            project=fresh, user=manager, upload=SimpleUploadedFile("segments.csv", content), fmt="segments_csv",
            labeler="old",
        )  # fmt: skip
    assert refused.value.message_dict["file"] == [
        f"segments.csv {clip.pk}: line 2: no file '{clip.pk}' among the project's items, and no item of this "
        f"project has the id {clip.pk}",
        "nothing was imported",
    ]


def test_a_pyannote_rttm_becomes_the_labelers_speaker_turns(manager):
    """What pyannote's ``Annotation.write_rttm`` writes: the file id is the clip's name without its extension,
    channel 1, speakers as labels; a comment and a SPKR-INFO record are skipped."""
    project = make_project(
        manager,
        name="Who spoke",
        modality="audio",
        task_type="segments",
        classes=[{"key": "SPEAKER_00"}, {"key": "SPEAKER_01"}],
    )
    import_clips(project, manager, {"meeting/call.wav": (3.0, [])})
    rttm = (
        ";; made by pyannote.audio\n"
        "SPKR-INFO call 1 <NA> <NA> <NA> unknown SPEAKER_00 <NA> <NA>\n"
        "SPEAKER call 1 0.031 1.215 <NA> <NA> SPEAKER_00 <NA> <NA>\n"
        "SPEAKER call 1 1.246 1.500 <NA> <NA> SPEAKER_01 <NA> <NA>\n"
        "SPEAKER call 2 2.746 0.254 <NA> <NA> speaker_00 <NA> <NA>\n"
    )
    job = run_import(project, manager, "call.rttm", rttm.encode(), fmt="rttm", labeler="pyannote")
    assert job.status == JobStatus.SUCCEEDED and job.errors == [], job.errors
    (value,) = answers(project).values()
    assert by_start(value) == [
        {"start": 0.031, "end": pytest.approx(1.246), "label": "SPEAKER_00"},
        {"start": 1.246, "end": pytest.approx(2.746), "label": "SPEAKER_01"},
        {"start": 2.746, "end": pytest.approx(3.0), "label": "SPEAKER_00"},
    ]


def post_labels(api, user, project, name, content, fmt, labeler="cora"):
    return api(user).post(
        f"/api/projects/{project.pk}/imports/",
        {"file": SimpleUploadedFile(name, content), "format": fmt, "labeler": labeler},
        format="multipart",
    )


@pytest.fixture
def clips_with_an_answer(manager, labeler):
    """The clips, and an answer of cora's that a refused import must leave as it is."""
    project = segments_project(manager)
    items = import_clips(project, manager)
    cora = labelers(project, 1, prefix="cora")[0]
    annotation_save(item=items["a/q.wav"], labeler=cora, value={"segments": []})
    return project, items


def assert_nothing_stored(project, before):
    assert list(Annotation.objects.filter(item__project=project).values_list("labeler__username", "value")) == before
    assert not Job.objects.filter(project=project, params__has_key="format").exists()


def test_bad_segments_csv_lines_are_refused_with_a_400_naming_each_line_and_nothing_is_stored(
    api, manager, clips_with_an_answer
):
    project, _ = clips_with_an_answer
    before = list(Annotation.objects.filter(item__project=project).values_list("labeler__username", "value"))
    content = (
        b"file,start,end,label\n"
        b"a/q.wav,0.1,0.5,speech\n"  # fine, but the file has bad lines: nothing goes in
        b"b/q.wav,0.1,0.5,laughter\n"  # line 3: unknown class
        b"c/q.flac,3.5,3.9,speech\n"  # line 4: onset past the 3 s clip
        b"q 1.wav,0.8,0.2,speech\n"  # line 5: negative duration
        b"a/q.wav,zero,0.5,speech\n"  # line 6: malformed
        b"nowhere.wav,0.1,0.2,speech\n"  # line 7: unknown file
    )
    response = post_labels(api, manager, project, "segments.csv", content, "segments_csv")
    assert response.status_code == 400
    assert response.json()["file"] == [
        "segments.csv a/q.wav: line 6: start 'zero' is not a number of seconds",
        'segments.csv b/q.wav: line 3: unknown class "laughter" (the project\'s classes: music, speech)',
        "segments.csv c/q.flac: line 4: the onset 3.5 s is past the end of c/q.flac (3 s)",
        "segments.csv q 1.wav: line 5: it ends at 0.2 s, before it starts at 0.8 s (a negative duration)",
        "segments.csv nowhere.wav: line 7: no file 'nowhere.wav' among the project's items",
        "nothing was imported",
    ]
    assert_nothing_stored(project, before)


def test_bad_rttm_lines_are_refused_with_a_400_naming_each_line_and_nothing_is_stored(
    api, manager, clips_with_an_answer
):
    project, _ = clips_with_an_answer
    before = list(Annotation.objects.filter(item__project=project).values_list("labeler__username", "value"))
    content = (
        b"SPEAKER a/q 1 0.100 0.400 <NA> <NA> speech <NA> <NA>\n"
        b"SPEAKER b/q 1 0.100 0.400 <NA> <NA> laughter <NA> <NA>\n"  # line 2: unknown class
        b"SPEAKER c/q 1 3.500 0.100 <NA> <NA> speech <NA> <NA>\n"  # line 3: onset past the 3 s clip
        b"SPEAKER q_1 1 0.800 -0.600 <NA> <NA> speech <NA> <NA>\n"  # line 4: negative duration
        b"SPEAKER a/q 1 0.100 <NA> <NA> speech\n"  # line 5: malformed
        b"SPEAKER nowhere 1 0.100 0.100 <NA> <NA> speech <NA> <NA>\n"  # line 6: unknown file
        b"speaker-turns a/q\n"  # line 7: no RTTM record
    )
    response = post_labels(api, manager, project, "turns.rttm", content, "rttm")
    assert response.status_code == 400
    assert response.json()["file"] == [
        "turns.rttm line 7: 'speaker-turns' is no RTTM record type; a segment is "
        "'SPEAKER <file> <channel> <onset> <duration> <NA> <NA> <label> <NA> <NA>'",
        "turns.rttm a/q: line 5: a SPEAKER record is 'SPEAKER <file> <channel> <onset> <duration> <NA> <NA> "
        "<label> <NA> <NA>' (10 fields), not 7 fields",
        'turns.rttm b/q: line 2: unknown class "laughter" (the project\'s classes: music, speech)',
        "turns.rttm c/q: line 3: the onset 3.5 s is past the end of c/q.flac (3 s)",
        "turns.rttm q_1: line 4: the duration -0.6 s is negative",
        "turns.rttm nowhere: line 6: no clip 'nowhere.*' among the project's items",
        "nothing was imported",
    ]
    assert_nothing_stored(project, before)


def test_a_segment_ending_past_the_clip_is_refused_but_one_within_the_slack_ends_at_the_clip(
    api, manager, clips_with_an_answer
):
    project, _ = clips_with_an_answer
    past = b"file,start,end,label\nq 1.wav,0.5,1.5,speech\n"
    response = post_labels(api, manager, project, "segments.csv", past, "segments_csv")
    assert response.status_code == 400
    assert response.json()["file"] == [
        "segments.csv q 1.wav: line 2: the segment ends at 1.5 s, past the end of q 1.wav (1 s)",
        "nothing was imported",
    ]
    rounded = b"file,start,end,label\nq 1.wav,0.5,1.0004,speech\n"
    response = post_labels(api, manager, project, "segments.csv", rounded, "segments_csv")
    assert response.status_code == 202, response.json()


def test_a_segments_file_sent_again_while_its_import_is_queued_answers_that_job(api, manager, clips_with_an_answer):
    """A retry of a segments upload (its answer lost to a timeout) answers the job the first one queued, and
    that job imports the whole file the check in the request had read; a file with a bad line is a 400 each
    time, never a job."""
    project, _ = clips_with_an_answer
    content = b"file,start,end,label\nb/q.wav,0.1,0.5,speech\nc/q.flac,0.2,0.4,music\n"
    first = post_labels(api, manager, project, "segments.csv", content, "segments_csv")
    assert first.status_code == 202, first.json()
    again = post_labels(api, manager, project, "segments.csv", content, "segments_csv")
    assert again.status_code == 200 and again.json() == first.json()
    bad = content + b"a/q.wav,0.1,0.5,laughter\n"
    for _ in range(2):
        response = post_labels(api, manager, project, "segments.csv", bad, "segments_csv")
        assert response.status_code == 400 and "line 4: unknown class" in response.json()["file"][0]
    assert Job.objects.filter(project=project, params__has_key="format").count() == 1
    import_job_run(job_id=first.json()["job"])
    got = {item: value for (item, user), value in answers(project).items() if user == "cora"}
    assert got == {
        "b/q.wav": {"segments": [{"start": 0.1, "end": 0.5, "label": "speech"}]},
        "c/q.flac": {"segments": [{"start": 0.2, "end": 0.4, "label": "music"}]},
    }


def test_two_names_of_one_clip_are_refused_naming_the_line(api, manager, clips_with_an_answer):
    """``c/q.flac`` and ``q.flac`` are one clip: its second name would make one answer overwrite the other."""
    project, _ = clips_with_an_answer
    content = b"file,start,end,label\nc/q.flac,0.1,0.5,speech\nq.flac,1.0,1.5,music\n"
    response = post_labels(api, manager, project, "segments.csv", content, "segments_csv")
    assert response.status_code == 400
    assert response.json()["file"][0] == "segments.csv q.flac: line 3: this is c/q.flac again, which line 2 names"


def test_a_segments_file_too_big_to_check_in_the_request_is_checked_by_the_job(
    manager, clips_with_an_answer, monkeypatch
):
    """Over ``PRECHECK_BYTES`` the file is not read in the request (the web process's memory): the job imports
    the good recordings and reports each bad one by its line, as for COCO, keeping what was stored."""
    from labeling.services import label_imports

    monkeypatch.setattr(label_imports, "PRECHECK_BYTES", 10)
    project, items = clips_with_an_answer
    content = b"file,start,end,label\nb/q.wav,0.1,0.5,speech\na/q.wav,0.1,0.5,laughter\n"
    job = run_import(project, manager, "segments.csv", content, fmt="segments_csv", labeler="cora")
    assert job.status == JobStatus.SUCCEEDED
    assert job.errors == [
        {
            "name": "segments.csv a/q.wav",
            "reason": 'line 3: unknown class "laughter" (the project\'s classes: music, speech)',
        }
    ]
    assert answers(project) == {
        ("a/q.wav", "cora0"): {"segments": []},  # the answer stored before, kept
        ("b/q.wav", "cora"): {"segments": [{"start": 0.1, "end": 0.5, "label": "speech"}]},
    }


def test_a_new_clip_in_the_zip_is_measured_by_the_job_which_rejects_a_segment_past_its_end(manager):
    project = segments_project(manager)
    csv = "file,start,end,label\nshort.wav,0.5,3.0,speech\nlong.wav,0.5,3.0,speech\n"
    content = zip_bytes(
        [("segments.csv", csv), ("short.wav", wav_bytes(seconds=1.0)), ("long.wav", wav_bytes(seconds=4.0))]
    )
    job = run_import(project, manager, "clips.zip", content, fmt="segments_csv", labeler="ana")
    assert job.status == JobStatus.SUCCEEDED and job.result["imported"] == 2
    assert job.errors == [
        {"name": "segments.csv short.wav", "reason": "line 2: end = 3 s is after the clip's end (1 s)"}
    ]
    assert answers(project) == {("long.wav", "ana"): {"segments": [{"start": 0.5, "end": 3.0, "label": "speech"}]}}


@pytest.mark.parametrize(
    "content, words",
    [
        (b"file,start,stop,label\n", "unknown column 'stop'"),
        (b"start,end,label\n", "the header lacks file or item"),
        (b"", "the upload is empty"),
    ],
)
def test_a_segments_csv_whose_header_cannot_be_read_is_refused(api, manager, clips_with_an_answer, content, words):
    project, _ = clips_with_an_answer
    response = post_labels(api, manager, project, "segments.csv", content, "segments_csv")
    assert response.status_code == 400 and words in json.dumps(response.json()["file"])


@pytest.mark.parametrize("fmt", ["segments_csv", "rttm"])
def test_segments_files_import_into_segments_projects_only_and_name_their_labeler(api, manager, fmt):
    detection = make_project(manager, name="Boxes", modality="image", task_type="detection", classes=CLASSES)
    response = post_labels(api, manager, detection, "x", b"x", fmt)
    assert response.status_code == 400
    assert response.json()["format"] == [
        f"{fmt} files hold time segments: they import into a segments project, not a detection one"
    ]
    project = segments_project(manager)
    response = post_labels(api, manager, project, "x", b"x", fmt, labeler="")
    assert response.status_code == 400 and "names no annotator" in response.json()["labeler"][0]


def test_the_import_page_offers_segments_files_to_a_segments_project(client, manager):
    project = segments_project(manager)
    client.force_login(manager)
    page = client.get(f"/projects/{project.pk}/import/").content.decode()
    assert 'value="segments_csv"' in page and 'value="rttm"' in page and 'value="coco"' not in page


def test_a_versions_segments_files_download_under_their_own_names(api, manager):
    """A saved download is named as the version's files are (``segments.csv``, ``segments.rttm``), not after
    the format's key (``-segments_csv.csv``)."""
    project = segments_project(manager)
    items = import_clips(project, manager)
    version_artifacts(project, manager, items)
    base = f"/api/projects/{project.pk}/versions/1/download"
    names = {fmt: api(manager).get(f"{base}?format={fmt}")["Content-Disposition"] for fmt in ("segments_csv", "rttm")}
    assert names == {
        "segments_csv": 'attachment; filename="speech-v1-segments.csv"',
        "rttm": 'attachment; filename="speech-v1.rttm"',
    }
