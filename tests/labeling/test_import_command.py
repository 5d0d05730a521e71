"""`manage.py import_items`: an operator's mistake is a one-line error naming it, never a traceback, and
nothing is imported from a file the command cannot read as a whole."""

import io
import zipfile

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from labeling.models import Item
from tests.concurrency import DeadlockCause
from tests.conftest import png_bytes


def import_items(*args):
    out, err = io.StringIO(), io.StringIO()
    call_command("import_items", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


@pytest.fixture
def folder(tmp_path):
    root = tmp_path / "scans"
    root.mkdir()
    (root / "a.png").write_bytes(png_bytes(seed=1))
    (root / "b.png").write_bytes(png_bytes(seed=2))
    return root


def test_a_folder_imports_its_images(project, folder):
    out, _ = import_items(str(project.pk), str(folder), "--tags", "batch1")
    assert "2 imported, 0 duplicates, 0 rejected" in out
    assert list(Item.objects.filter(project=project).values_list("tags__name", flat=True)) == ["batch1", "batch1"]


@pytest.mark.parametrize(
    "options, message",
    [
        (["--source", "nosuch"], r"unknown source 'nosuch' \(not a source of this project\)"),
        (["--tags", "x" * 101], "is longer than 100 characters"),
    ],
)
def test_a_bad_option_is_a_command_error_and_imports_nothing(project, folder, options, message):
    with pytest.raises(CommandError, match=message):
        import_items(str(project.pk), str(folder), *options)
    assert not Item.objects.filter(project=project).exists()


def test_a_media_file_given_as_the_path_is_refused_naming_what_the_command_takes(project, folder):
    with pytest.raises(CommandError) as raised:
        import_items(str(project.pk), str(folder / "a.png"))
    message = str(raised.value)
    assert "is not a folder, a zip archive or a manifest (JSON Lines or CSV in UTF-8)" in message
    assert "byte 0 (0x89) is not UTF-8" in message and "give their folder" in message


def test_a_manifest_not_in_utf8_is_refused_before_any_line_is_imported(project, folder):
    manifest = folder / "manifest.csv"
    # The first line is good; the second names a file in Latin-1 ("été.png").
    manifest.write_bytes(b"path,label\na.png,\n\xe9t\xe9.png,\n")
    with pytest.raises(CommandError, match=r"byte 18 \(0xe9\) is not UTF-8"):
        import_items(str(project.pk), str(manifest))
    assert not Item.objects.filter(project=project).exists()


def test_a_manifest_whose_every_line_is_refused_exits_non_zero(project, folder):
    # It printed "0 imported, 0 duplicates, 2 rejected" and exited 0: a script saw success.
    manifest = folder.parent / "manifest.jsonl"  # beside the folder, whose import is then all good
    manifest.write_text('{"path": "scans/missing.png"}\n{"path": "scans/gone.png"}\n')
    with pytest.raises(CommandError, match="0 imported, 0 duplicates, 2 rejected: every entry was refused"):
        import_items(str(project.pk), str(manifest))
    out, _ = import_items(str(project.pk), str(folder))  # every entry in: success, as before
    assert "2 imported, 0 duplicates, 0 rejected" in out


def test_some_entries_refused_imports_the_others_and_exits_non_zero(project, folder):
    # It printed "2 imported, 0 duplicates, 1 rejected" and exited 0: a script took a partial import for a
    # whole one. The good files are still stored, and the refused one is named with its reason.
    (folder / "broken.png").write_bytes(b"not a png at all")
    out, err = io.StringIO(), io.StringIO()
    with pytest.raises(CommandError) as raised:
        call_command("import_items", str(project.pk), str(folder), stdout=out, stderr=err)
    assert raised.value.returncode == 1
    assert str(raised.value) == (
        "2 imported, 0 duplicates, 1 rejected: 1 entry was refused (named above); the other 2 are stored"
    )
    assert err.getvalue().startswith("rejected broken.png: ")
    assert Item.objects.filter(project=project).count() == 2
    again = io.StringIO()  # a second run: the two are duplicates, broken.png is still refused
    with pytest.raises(CommandError, match="0 imported, 2 duplicates, 1 rejected: 1 entry was refused"):
        call_command("import_items", str(project.pk), str(folder), stdout=again, stderr=io.StringIO())


def test_a_file_that_is_no_manifest_is_a_command_error(project, folder):
    garbage = folder / "m.bin"
    garbage.write_bytes(b"\x00\x01garbage")
    with pytest.raises(CommandError, match="is not a manifest: the file holds binary data"):
        import_items(str(project.pk), str(garbage))


def test_a_utf8_manifest_still_imports(project, folder):
    (folder / "manifest.jsonl").write_text('{"path": "a.png", "tags": ["é"]}\n', encoding="utf-8")
    out, _ = import_items(str(project.pk), str(folder / "manifest.jsonl"))
    assert "1 imported" in out


def test_an_empty_path_is_refused_instead_of_importing_the_current_folder(project):
    with pytest.raises(CommandError, match="the path is empty"):
        import_items(str(project.pk), "")
    assert not Item.objects.filter(project=project).exists()


def test_a_damaged_zip_entry_is_refused_naming_it_and_the_others_are_stored(project, tmp_path):
    """A damaged entry stopped the whole command ("damaged.zip is a damaged zip archive"), the entries after it
    unread; now it is one refused entry, named, as in an import job."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
        archive.writestr("a.png", png_bytes(seed=3))
        archive.writestr("b.png", png_bytes(seed=4))
    data = bytearray(buffer.getvalue())
    data[60] ^= 0xFF  # a byte of the stored PNG: its CRC no longer matches
    damaged = tmp_path / "damaged.zip"
    damaged.write_bytes(bytes(data))
    out, err = io.StringIO(), io.StringIO()
    with pytest.raises(CommandError, match="1 imported, 0 duplicates, 1 rejected"):
        call_command("import_items", str(project.pk), str(damaged), stdout=out, stderr=err)
    assert (
        err.getvalue() == "rejected a.png: zip entry 'a.png' is damaged (Bad CRC-32 for file 'a.png'): zip it again\n"
    )
    assert list(Item.objects.filter(project=project).values_list("original_name", flat=True)) == ["b.png"]


def test_an_unknown_project_is_named(db, folder):
    with pytest.raises(CommandError, match="no project '99999999999999999999'"):
        import_items("99999999999999999999", str(folder))


def test_a_batch_stopped_twice_by_another_import_is_a_command_error_saying_what_is_stored(monkeypatch, project, folder):
    """Another import of the same files made the database stop the second batch twice (a deadlock's victim,
    run again once): the command ended with a traceback of BatchNotSaved instead of the one-line error
    and exit status 1 of its other failures."""
    from django.db import OperationalError

    from labeling.services import imports

    monkeypatch.setattr(imports, "CHUNK_SIZE", 1)
    real_tag_ids = imports._tag_ids

    def deadlocked_in_the_second_batch(**kwargs):
        if Item.objects.filter(project=project).exists():  # the first batch is stored
            raise OperationalError("deadlock detected") from DeadlockCause()
        return real_tag_ids(**kwargs)

    monkeypatch.setattr(imports, "_tag_ids", deadlocked_in_the_second_batch)
    with pytest.raises(CommandError) as raised:
        import_items(str(project.pk), str(folder))
    message = str(raised.value)
    assert message.startswith("entries 2-2: another import of the same files was being saved at the same moment")
    assert "none of them was stored (entries 1-1 are)" in message and "\n" not in message
    assert Item.objects.filter(project=project).count() == 1


def test_piped_output_has_the_progress_and_the_summary_on_lines_of_their_own(project, folder):
    # Piped or logged, the progress line ended in "\r" and the summary followed it on the same line:
    # "  2 processed\r2 imported, ..." read as "2 processed2 imported" in a log.
    out, _ = import_items(str(project.pk), str(folder))
    assert "\r" not in out
    assert out.split("\n") == ["  2 processed", "2 imported, 0 duplicates, 0 rejected", ""]


class Terminal(io.StringIO):
    def isatty(self):
        return True


def test_a_terminal_rewrites_the_progress_line_and_the_summary_starts_on_a_new_line(project, folder):
    out = Terminal()
    call_command("import_items", str(project.pk), str(folder), stdout=out, stderr=io.StringIO())
    text = out.getvalue()
    progress, summary = text.split("\n", 1)
    assert progress == "  2 processed\r"  # rewritten in place while the import runs, then left standing
    assert "2 imported, 0 duplicates, 0 rejected" in summary


def test_one_entry_stored_beside_refused_ones_is_said_in_the_singular(project, folder):
    (folder / "b.png").unlink()
    (folder / "broken.png").write_bytes(b"not a png at all")
    with pytest.raises(CommandError) as raised:
        import_items(str(project.pk), str(folder))
    assert str(raised.value).endswith("1 entry was refused (named above); the other one is stored")


def test_the_summary_counts_one_duplicate_in_the_singular(project, folder):
    (folder / "copy-of-a.png").write_bytes((folder / "a.png").read_bytes())
    out, _ = import_items(str(project.pk), str(folder))
    assert out.strip().endswith("2 imported, 1 duplicate, 0 rejected")
    again, _ = import_items(str(project.pk), str(folder))
    assert again.strip().endswith("0 imported, 3 duplicates, 0 rejected")


def test_the_other_commands_count_one_thing_in_the_singular(project, folder):
    out = io.StringIO()
    call_command("cleanup_builds", stdout=out)
    assert out.getvalue() == "cleaned the leftovers of 0 build jobs\n"
    import_items(str(project.pk), str(folder))
    Item.objects.filter(project=project).exclude(pk=Item.objects.filter(project=project).first().pk).delete()
    out = io.StringIO()
    call_command("upright_image_sizes", "--dry-run", stdout=out)
    assert out.getvalue() == "checked 1 image item: would change 0, 0 unreadable (left as they were)\n"
