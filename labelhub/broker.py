"""The embedded broker: kombu's filesystem transport, with messages that appear whole and are taken once.

kombu's own transport (5.7) loses messages under load. Its sender creates the message file, then
serializes the payload and writes it; a worker polling in between moves the still-empty file away, fails
to decode it and deletes it, so the job never runs (seen in CI as an import job and a webhook delivery that
never started, on a machine at load 6). Its taker also moves files to the system temp folder, which may be
another file system: the move is then a copy, and two workers taking one queue can both copy one message.

Here a message is written under a name no taker reads (``.part``) and renamed into the queue once it is
whole, and a taker claims a message by renaming it into the processed folder, in the same file system:
both renames are atomic, so a message is seen whole or not at all, and by one taker only. A sender killed
between the write and the rename leaves its ``.part`` file: a taker removes it once it is an hour old (a
message is written in well under a second).
"""

import contextlib
import os
import uuid
from queue import Empty
from time import monotonic_ns, time

from kombu.exceptions import ChannelError
from kombu.transport import filesystem
from kombu.utils.encoding import bytes_to_str, str_to_bytes
from kombu.utils.json import dumps, loads

PART_SUFFIX = ".part"
STALE_PART_SECONDS = 3600


class Channel(filesystem.Channel):
    def _put(self, queue, payload, **kwargs):
        """Write ``payload`` to ``queue``: a new file, renamed into the queue folder when complete."""
        # nanoseconds, padded: names sort in the order sent (kombu's milliseconds tie, then sort by uuid)
        name = f"{monotonic_ns():020d}_{uuid.uuid4()}.{queue}.msg"
        path = os.path.join(self.data_folder_out, name)
        part = path + PART_SUFFIX
        try:
            with open(part, "wb") as f:
                f.write(str_to_bytes(dumps(payload)))
            os.replace(part, path)
        except OSError as exc:
            with contextlib.suppress(OSError):  # never created, or already renamed
                os.unlink(part)
            raise ChannelError(f"Cannot add file {path!r} to directory") from exc

    def _get(self, queue):
        """Take the oldest message of ``queue``: the taker whose rename succeeds has it, the others go on."""
        wanted = f"{queue}.msg"
        for name in sorted(os.listdir(self.data_folder_in)):
            if name.endswith(PART_SUFFIX):
                self._forget_if_stale(os.path.join(self.data_folder_in, name))
                continue  # still being written
            if name.partition(".")[2] != wanted:
                continue  # another queue's message
            taken = os.path.join(self.processed_folder, name)
            try:
                os.rename(os.path.join(self.data_folder_in, name), taken)
            except FileNotFoundError:
                continue  # another taker renamed it first
            try:
                with open(taken, "rb") as f:
                    payload = f.read()
                if not self.store_processed:
                    os.unlink(taken)
            except OSError as exc:
                raise ChannelError(f"Cannot read file {taken!r} from queue.") from exc
            return loads(bytes_to_str(payload))
        raise Empty()

    @staticmethod
    def _forget_if_stale(part):
        """Remove a ``.part`` file its sender left (killed before the rename), once it is an hour old."""
        with contextlib.suppress(OSError):  # renamed or removed meanwhile
            if time() - os.stat(part).st_mtime > STALE_PART_SECONDS:
                os.unlink(part)


class Transport(filesystem.Transport):
    Channel = Channel
