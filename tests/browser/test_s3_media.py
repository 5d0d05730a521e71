"""The labeling page with media on an S3-compatible bucket (moto's S3 server on loopback, tests/s3_server.py),
in headless Chromium: the browser follows the file view's redirect to the signed URL, shows the image,
and the waveform's fetch of the clip (another origin) loads it, without a Content-Security-Policy
violation (the policy names the endpoint, as labelhub/settings.py writes it from the AWS_* variables)."""

import os

import pytest

from labelhub.settings import content_security_policy, s3_media_storage
from labeling.services.imports import ImportEntry, items_import
from labeling.services.projects import member_add
from tests.browser.test_content_security_policy import visit, watch
from tests.conftest import make_project, png_bytes, require_browser, wav_bytes
from tests.s3_server import s3_server

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture(scope="module")
def s3(tmp_path_factory):
    with s3_server(str(tmp_path_factory.mktemp("aws-home"))) as s3:
        yield s3


@pytest.fixture(autouse=True)
def s3_media(s3, settings):
    settings.STORAGES = {**settings.STORAGES, "default": s3_media_storage(os.environ)}
    settings.CONTENT_SECURITY_POLICY = content_security_policy(os.environ)


def test_the_labeling_page_shows_an_image_and_plays_a_clip_from_the_bucket(
    live_server, page, login, manager, labeler, s3
):
    require_browser()
    pictures = make_project(manager, name="Bucket pictures")
    clips = make_project(manager, name="Bucket clips", modality="audio", classes=[{"key": "speech"}, {"key": "noise"}])
    for project, entry in [
        (pictures, ImportEntry(name="a.png", load=lambda: png_bytes(size=(64, 48), seed=1))),
        (clips, ImportEntry(name="a.wav", load=lambda: wav_bytes(seconds=1.0))),
    ]:
        member_add(project=project, username=labeler.username, role="labeler")
        assert items_import(project=project, entries=[entry]).imported
    fetched = []  # (URL, status) of what the browser fetched from the bucket
    page.on("response", lambda r: fetched.append((r.url, r.status)) if r.url.startswith(s3["endpoint"]) else None)
    watch(page)
    login(page, live_server, labeler)

    violations = visit(page, f"{live_server.url}/projects/{pictures.pk}/label/", ready="#item-label:text('item #')")
    page.wait_for_function("() => document.getElementById('image').naturalWidth === 64")
    violations += visit(page, f"{live_server.url}/projects/{clips.pk}/label/", ready="#audio-viewer[data-ready]")
    # The clip is set on the player only once the waveform's fetch of it succeeded.
    page.wait_for_function("() => document.getElementById('audio').readyState >= 1")
    assert violations == [] and page.console_csp == [], (violations, page.console_csp)
    assert {url.split("?")[0].rsplit(".", 1)[1] for url, status in fetched if status == 200} == {"png", "wav"}, fetched
    assert not page.errors, page.errors
