import codecs
import zipfile
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from labelhub.deadlocks import BatchNotSaved
from labeling.inputs import InputRejected
from labeling.management.words import counted
from labeling.models import Project
from labeling.services import imports


def _utf8_problem(path: Path) -> str:
    """Why the file at ``path`` cannot be a manifest (text in UTF-8), or "" when it can. Read in blocks
    before anything is imported: a manifest found unreadable halfway would leave half of it imported."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    offset = 0
    with path.open("rb") as handle:
        while block := handle.read(1 << 20):
            try:
                decoder.decode(block)
            except UnicodeDecodeError as exc:
                return f"byte {offset + exc.start} (0x{block[exc.start]:02x}) is not UTF-8"
            offset += len(block)
    try:
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return "it ends inside a UTF-8 character"
    return ""


class Command(BaseCommand):
    help = (
        "Import items into a project from a folder, a zip archive or a manifest (JSONL/CSV whose paths are "
        "relative to the manifest's folder). Prints the per-file report; exits 1 when any entry was refused."
    )

    def add_arguments(self, parser):
        parser.add_argument("project", help="project id or exact name")
        parser.add_argument("path", help="a folder, a zip archive or a manifest (JSON Lines or CSV in UTF-8)")
        parser.add_argument("--tags", default="", help="comma-separated tags for every item")
        parser.add_argument("--source", default="", help="source id or name")
        parser.add_argument("--label-from-folder", action="store_true", help="use each file's folder as its label")
        parser.add_argument("--json", action="store_true", help="print the full report as JSON")

    def handle(self, *args, **options):
        self._progress_open = False
        try:
            self._import(**options)
        except BatchNotSaved as exc:
            # Another import of the same files stopped a batch twice: the sentence says which entries are
            # not stored and that those before are, as the job's error and the upload's 503 say it; a
            # traceback said it in its last line only.
            raise CommandError(str(exc)) from None
        finally:
            self._end_progress()

    def _import(self, *, project, path, tags, source, label_from_folder, json: bool, **options):
        query = Project.objects.filter(pk=int(project)) if project.isdigit() else Project.objects.filter(name=project)
        target = query.first()
        if target is None:
            raise CommandError(f"no project '{project}'")
        if not path:
            # Path("") is the current folder: an unset shell variable would import whatever is there.
            raise CommandError("the path is empty: give a folder, a zip archive or a manifest")
        path = Path(path)
        if not path.exists():
            raise CommandError(f"{path} does not exist")
        try:
            src = imports._resolve_source(target, source, {}) if source else None
            tag_list = imports._split_tags(tags)
        except InputRejected as exc:
            raise CommandError(str(exc)) from None
        common = {"project": target, "tags": tag_list, "source": src}
        if path.is_dir():
            entries = imports.folder_entries(root=path, label_from_folder=label_from_folder, **common)
            report = imports.items_import(project=target, entries=entries, on_progress=self._progress)
        elif zipfile.is_zipfile(path):
            try:
                with zipfile.ZipFile(path) as archive:
                    entries = imports.zip_entries(archive=archive, label_from_folder=label_from_folder, **common)
                    report = imports.items_import(project=target, entries=entries, on_progress=self._progress)
            except zipfile.BadZipFile as exc:
                # Found while reading an entry: entries before it may be in; a second run counts them as duplicates.
                raise CommandError(
                    f"{path} is a damaged zip archive ({exc}); entries before the damaged one may have been imported"
                ) from None
            except InputRejected as exc:  # the archive as a whole (an encrypted manifest), found before any entry
                raise CommandError(f"{path}: {exc}") from None
        else:
            if problem := _utf8_problem(path):
                raise CommandError(
                    f"{path} is not a folder, a zip archive or a manifest (JSON Lines or CSV in UTF-8): {problem}. "
                    "To import media files, give their folder."
                )
            with path.open("rb") as handle:
                fmt = imports.manifest_format(path.name, handle.read(64))
            try:
                with path.open(encoding="utf-8-sig", newline="") as stream:
                    entries = imports.manifest_entries(
                        stream=stream, fmt=fmt, open_path=imports.folder_opener(path.parent), **common
                    )
                    report = imports.items_import(project=target, entries=entries, on_progress=self._progress)
            except InputRejected as exc:  # the manifest as a whole (its header), found before any line
                raise CommandError(f"{path} is not a manifest: {exc}") from None
        self._end_progress()  # the summary, the JSON report and the refusals start on their own line
        if json:
            self.stdout.write(__import__("json").dumps(report.as_dict(), indent=2))
        for row in report.rejected:
            self.stderr.write(f"rejected {row['name']}: {row['reason']}")
        summary = (
            f"{len(report.imported)} imported, {counted(len(report.duplicates), 'duplicate')}, "
            f"{len(report.rejected)} rejected"
        )
        stored = len(report.imported) + len(report.duplicates)
        if report.rejected and not stored:
            # A script must see that nothing came in: the command exited 0 with every entry refused.
            raise CommandError(f"{summary}: every entry was refused (the reasons are above)")
        if report.rejected:
            # Nor may it take a partial import for a whole one: the good entries stay in, the exit status is 1.
            refused = "1 entry was" if len(report.rejected) == 1 else f"{len(report.rejected)} entries were"
            others = "the other one is" if stored == 1 else f"the other {stored} are"
            raise CommandError(f"{summary}: {refused} refused (named above); {others} stored")
        self.stdout.write(self.style.SUCCESS(summary))

    def _progress(self, done):
        """A terminal shows one progress line, rewritten in place (``\\r``); piped or logged output gets a
        line per chunk, which a log keeps apart from what follows."""
        if self.stdout.isatty():
            self.stdout.write(f"  {done} processed", ending="\r")
            self._progress_open = True
        else:
            self.stdout.write(f"  {done} processed")

    def _end_progress(self):
        """End a terminal's progress line, so that what comes next does not overwrite it."""
        if getattr(self, "_progress_open", False):
            self.stdout.write("")
            self._progress_open = False
