"""The embedded broker (a folder) delivers every job once and whole, even when a worker polls mid-write."""

import threading

import pytest
from kombu import Connection

TRANSPORT = "labelhub.broker:Transport"


@pytest.fixture
def folder(tmp_path):
    for sub in ("queue", "processed", "control"):
        (tmp_path / sub).mkdir()
    return tmp_path


def connect(folder, transport=TRANSPORT):
    return Connection(
        "filesystem://",
        transport=transport,
        transport_options={
            "data_folder_in": str(folder / "queue"),
            "data_folder_out": str(folder / "queue"),
            "processed_folder": str(folder / "processed"),
            "control_folder": str(folder / "control"),
            "store_processed": False,
        },
    )


def take(channel, queue):
    from queue import Empty

    try:
        return channel._get(queue)
    except Empty:
        return None


def test_the_celery_app_uses_this_transport_for_the_folder_broker(settings):
    from labelhub.celery import app

    if not settings.CELERY_BROKER_URL.startswith("filesystem"):
        pytest.skip("the folder broker is the embedded default's")
    with app.connection_for_write() as connection:
        assert type(connection.transport).__module__ == "labelhub.broker"


def test_a_worker_polling_while_a_job_is_written_neither_loses_nor_truncates_it(folder, monkeypatch):
    """kombu's own transport creates the file before writing it: a poll in between took the empty file,
    failed to decode it and deleted it, and the job never ran."""
    import labelhub.broker as broker

    writing, go_on = threading.Event(), threading.Event()
    real_dumps = broker.dumps

    def slow_dumps(payload):
        writing.set()
        assert go_on.wait(10)
        return real_dumps(payload)

    monkeypatch.setattr(broker, "dumps", slow_dumps)
    monkeypatch.setattr("kombu.transport.filesystem.dumps", slow_dumps)  # the same moment in kombu's
    sender, taker = connect(folder).default_channel, connect(folder).default_channel
    payload = {"body": "x" * 100_000, "headers": {"task": "labeling.version_build"}}
    thread = threading.Thread(target=sender._put, args=("jobs", payload))
    thread.start()
    assert writing.wait(10)
    assert take(taker, "jobs") is None  # nothing to take yet, and no error
    go_on.set()
    thread.join(10)
    assert take(taker, "jobs") == payload
    assert take(taker, "jobs") is None
    assert not list((folder / "queue").iterdir()) and not list((folder / "processed").iterdir())


def test_two_workers_taking_one_queue_get_each_job_exactly_once(folder):
    sender = connect(folder).default_channel
    takers = [connect(folder).default_channel for _ in range(2)]
    count = 400
    taken = [[], []]
    done = threading.Event()

    def send():
        for i in range(count):
            sender._put("jobs", {"n": i})
        done.set()

    def drain(k):
        while True:
            message = take(takers[k], "jobs")
            if message is not None:
                taken[k].append(message["n"])
            elif done.is_set() and not any((folder / "queue").iterdir()):
                return

    threads = [threading.Thread(target=send)] + [threading.Thread(target=drain, args=(k,)) for k in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert sorted(taken[0] + taken[1]) == list(range(count))


def test_the_queue_keeps_its_order_and_other_queues_messages(folder):
    channel = connect(folder).default_channel
    for i in range(3):
        channel._put("jobs", {"n": i})
    channel._put("other", {"n": "theirs"})
    assert [take(channel, "jobs")["n"] for _ in range(3)] == [0, 1, 2]
    assert take(channel, "jobs") is None
    assert take(channel, "other") == {"n": "theirs"}


def test_a_part_file_left_by_a_killed_sender_is_removed_once_an_hour_old_and_a_fresh_one_kept(folder):
    """A sender killed between writing and renaming left its .part file in the queue folder for good."""
    import os
    import time

    queue = folder / "queue"
    left = queue / "00000000000000000001_left.celery.msg.part"
    writing = queue / "00000000000000000002_writing.celery.msg.part"
    left.write_bytes(b'{"half')
    writing.write_bytes(b'{"half')
    hour_and_a_bit_ago = time.time() - 3700
    os.utime(left, (hour_and_a_bit_ago, hour_and_a_bit_ago))
    with connect(folder) as connection:
        channel = connection.default_channel
        assert take(channel, "celery") is None
    assert not left.exists()
    assert writing.exists()
