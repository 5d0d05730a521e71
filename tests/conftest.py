"""Shared fixtures: persona users, a demo-like project, API clients, media in a temporary folder."""

import io
import os
import time

import numpy as np
import pytest
from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.core.management.base import CommandError
from django.test import TransactionTestCase
from PIL import Image
from rest_framework.test import APIClient

from accounts.services import token_create
from analysis.embeddings.projection import configure_numba_cache
from labelhub.deadlocks import is_deadlock
from labeling.choices import Role
from labeling.services.projects import member_add, project_create

# numba's cache folder (var/numba-cache, which `make test` warms) is set before a test module imports numba
# (ensemble-boxes imports it at import): numba imported first had no cache folder, so the suite's process
# compiled the map's kernels again (the approximate-kNN and map-count tests took 104 and 84 s in CI).
configure_numba_cache()

FLUSH_ATTEMPTS = 5
_flush = TransactionTestCase._fixture_teardown


def _flush_again_after_a_deadlock(self):
    """A transactional test's flush (one TRUNCATE of every table) can deadlock on PostgreSQL with a request
    the live server is still answering for the test's page, closed mid-request: when the flush was the
    victim its rows stayed, and the next test's set-up failed on them (CI: a browser test's rerun found
    'manager1' there already). Run again, the flush finds the request ended."""
    for attempt in range(1, FLUSH_ATTEMPTS + 1):
        try:
            return _flush(self)
        except CommandError as exc:  # flush wraps the database's error
            if attempt == FLUSH_ATTEMPTS or not is_deadlock(exc.__cause__):
                raise
            time.sleep(0.2 * attempt)


TransactionTestCase._fixture_teardown = _flush_again_after_a_deadlock


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    """MD5 instead of PBKDF2 (0.44 s a hash here) for the users tests make and sign in: the suite's set-up
    was mostly hashing. Passwords are still checked (a wrong one fails); only the work factor is gone."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def _mail_at_once(settings):
    """Invitation e-mails are sent in the request's thread, so a test reads ``mail.outbox`` right after
    (the web server sends them from a background thread: tests/labeling/test_invitations.py)."""
    settings.LABELHUB_MAIL_IN_BACKGROUND = False


@pytest.fixture(autouse=True)
def _media_root(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.fixture(autouse=True)
def _no_pretrained_models(settings, tmp_path):
    """Tests see an installation without pretrained embedders (as CI is), whatever `make embedders` left
    in var/models: tests of the real models ask for ``pretrained_models_dir``."""
    settings.LABELHUB_MODELS_DIR = str(tmp_path / "models")


def _models_dir_with(names):
    """The folder `make embedders` wrote, or the test is skipped when one of ``names`` is not there (it
    fails in CI, ``CI=true``, which builds them: a real-model test must not pass there by skipping)."""
    from django.conf import settings as django_settings

    from analysis.embeddings.pretrained import pretrained_installed

    folder = os.environ.get("LABELHUB_MODELS_DIR") or str(django_settings.VAR_DIR / "models")
    missing = [name for name in names if not pretrained_installed(name, folder)]
    if missing:
        message = f"pretrained embedders not installed in {folder} ({', '.join(missing)}): run `make embedders`"
        if os.environ.get("CI", "").lower() in {"1", "true", "yes"}:
            pytest.fail(message + " (CI builds them before the tests)")
        pytest.skip(message)
    return folder


@pytest.fixture
def pretrained_models_dir():
    """The folder `make embedders` wrote; the test is skipped when the image and text models are not there."""
    from analysis.embeddings.pretrained import PRETRAINED

    return _models_dir_with([name for name, spec in PRETRAINED.items() if spec.modality in ("image", "text")])


@pytest.fixture
def voice_models_dir():
    """The folder `make embedders` wrote; the test is skipped when audio-voice's model is not there (a
    folder written before audio-voice existed still runs the image and text tests)."""
    return _models_dir_with(["audio-voice"])


@pytest.fixture(autouse=True)
def _empty_cache():
    """Throttle counters (sign-in failures, API rates) start from zero in every test."""
    cache.clear()


def make_user(username):
    return get_user_model().objects.create_user(username=username, password="pw-" + username)


@pytest.fixture
def manager(db):
    """A user given the right to create projects (LABELHUB_PROJECT_CREATORS' default allows staff and them)."""
    from django.contrib.auth.models import Permission

    user = make_user("manager1")
    user.user_permissions.add(Permission.objects.get(codename="add_project", content_type__app_label="labeling"))
    return user


@pytest.fixture(autouse=True)
def _no_dns(monkeypatch):
    """Webhook host names never reach a DNS server from the tests (network tests touch loopback only):
    ``localhost`` is 127.0.0.1 and every other name does not resolve, unless a test says otherwise."""
    from labeling.services import webhooks

    def resolve(host, port):
        if host == "localhost":
            return ["127.0.0.1"]
        raise webhooks.WebhookTargetUnresolved(f"the host name '{host}' does not resolve")

    monkeypatch.setattr(webhooks, "_resolve", resolve)


@pytest.fixture(autouse=True)
def job_messages(request, monkeypatch):
    """The Celery tasks a test sent, as [(task name, *args)], kept here instead of reaching the broker:
    tests run their jobs themselves. The integration tests' worker (tests/integration/conftest.py) keeps
    consuming the broker for the rest of the session, on the test database: a transactional test's job
    sent there was claimed by it first, the test's own run answered "already claimed or finished", and
    the test read a result that was not there yet (or one built in the worker's media folder). Tests
    marked ``integration`` that have a worker (``celery_worker``, or a module's own ``s3_worker``) send for
    real: it runs their jobs. An integration test without one runs its jobs itself, as the others do: sent
    for real, the session's worker, if started already, raced it for them (a build claimed by the worker,
    "job N is running elsewhere")."""
    sent = []
    sends = request.node.get_closest_marker("integration") is not None and bool(
        WORKER_FIXTURES & set(request.fixturenames)
    )
    if not sends:
        monkeypatch.setattr("labeling.services.jobs.task_send", lambda name, *args: sent.append((name, *args)))
    return sent


# The fixtures that start a worker for a test's jobs (tests/integration/).
WORKER_FIXTURES = {"celery_worker", "s3_worker"}


@pytest.fixture
def loopback_webhooks(settings):
    """Webhooks may reach the tests' receivers on 127.0.0.1 (refused by default: loopback is internal)."""
    settings.LABELHUB_WEBHOOK_ALLOWED_NETWORKS = ["127.0.0.0/8"]


@pytest.fixture
def reviewer(db):
    return make_user("reviewer1")


@pytest.fixture
def labeler(db):
    return make_user("labeler1")


@pytest.fixture
def labeler2(db):
    return make_user("labeler2")


@pytest.fixture
def outsider(db):
    return make_user("outsider1")


def make_project(creator, *, name="Digits", modality="image", task_type="classification", classes=None, **kwargs):
    if classes is None and task_type == "classification":
        classes = [{"key": k, "name": f"class {k}"} for k in ("cat", "dog", "other")]
    return project_create(
        name=name, modality=modality, task_type=task_type, classes=classes or [], creator=creator, **kwargs
    )


def detection_project(manager, reviewer, classes, *, name="Reptiles"):
    """An image detection project of ``classes`` (keys) with ``reviewer`` as its reviewer."""
    project = make_project(
        manager, name=name, modality="image", task_type="detection", classes=[{"key": k} for k in classes]
    )
    member_add(project=project, username=reviewer.username, role=Role.REVIEWER)
    return project


SPEECH_CLASSES = [{"key": "speech", "name": "Speech", "hotkey": "1"}, {"key": "noise", "name": "Noise", "hotkey": "2"}]


def segments_project(manager, member, role, clips, *, name, classes=SPEECH_CLASSES):
    """An audio segments project with ``member`` in ``role`` and ``clips`` imported, as [(file name, bytes)]:
    answers (project, the items in the clips' order)."""
    from labeling.models import Item
    from labeling.services.imports import ImportEntry, items_import

    project = make_project(manager, name=name, modality="audio", task_type="segments", classes=classes)
    member_add(project=project, username=member.username, role=role)
    entries = [ImportEntry(name=clip, load=lambda content=content: content) for clip, content in clips]
    ids = items_import(project=project, entries=entries).imported
    assert len(ids) == len(entries)
    return project, [Item.objects.get(pk=pk) for pk in ids]


@pytest.fixture
def project(manager, reviewer, labeler, labeler2):
    """An image classification project with a manager, a reviewer and two labelers."""
    project = make_project(manager, options={"borderline": True, "uncertain": True, "out_of_domain": True})
    member_add(project=project, username=reviewer.username, role=Role.REVIEWER)
    member_add(project=project, username=labeler.username, role=Role.LABELER)
    member_add(project=project, username=labeler2.username, role=Role.LABELER)
    return project


@pytest.fixture
def other_project(outsider):
    """A project the other personas do not belong to."""
    return make_project(outsider, name="Someone else's")


@pytest.fixture
def api():
    """``api(user)`` answers an APIClient that authenticates with the user's token, as machine clients do."""

    def client_for(user=None):
        client = APIClient()
        if user is not None:
            _, key = token_create(user=user, name="test client")
            client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
        return client

    return client_for


def png_bytes(size=(32, 32), value=None, seed=0, fmt="PNG"):
    """A small real image: random noise, or a flat grey of ``value``."""
    rng = np.random.default_rng(seed)
    if value is None:
        array = rng.integers(0, 256, size=(size[1], size[0]), dtype=np.uint8)
    else:
        array = np.full((size[1], size[0]), value, dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(array, mode="L").save(buffer, format=fmt)
    return buffer.getvalue()


def rotated_jpeg(orientation=6, size=(400, 200), patch=(300, 20, 380, 60)):
    """A JPEG stored ``size`` wide and tall (black, a white ``patch`` box left, top, right, bottom in the
    stored pixels) whose EXIF Orientation is ``orientation``: 6 is a phone held upright, shown turned a
    quarter clockwise (browsers and ``ImageOps.exif_transpose``), so 200x400 with the patch at x 140-180,
    y 300-380."""
    array = np.zeros((size[1], size[0]), dtype=np.uint8)
    left, top, right, bottom = patch
    array[top:bottom, left:right] = 255
    exif = Image.Exif()
    exif[0x0112] = orientation
    buffer = io.BytesIO()
    Image.fromarray(array, mode="L").save(buffer, "JPEG", exif=exif, quality=95)
    return buffer.getvalue()


def wav_bytes(seconds=0.5, rate=16000, freq=440.0, amplitude=0.5, fmt="WAV"):
    import soundfile

    t = np.arange(int(seconds * rate)) / rate
    signal = (amplitude * np.sin(2 * np.pi * freq * t)).astype(np.float32)
    buffer = io.BytesIO()
    soundfile.write(buffer, signal, rate, format=fmt)
    return buffer.getvalue()


def require_browser():
    """Skip a browser test when Chromium is missing, unless CI demands it (then fail loudly)."""
    if os.path.exists("/usr/bin/chromium"):
        return
    if os.environ.get("LABELHUB_REQUIRE_BROWSER"):
        pytest.fail("Chromium is not installed at /usr/bin/chromium (apt-get install chromium)")
    pytest.skip("Chromium is not installed at /usr/bin/chromium")
