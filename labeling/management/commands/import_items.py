import zipfile
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from labeling.models import Project
from labeling.services import imports


class Command(BaseCommand):
    help = (
        "Import items into a project from a folder, a zip archive or a manifest (JSONL/CSV whose paths are "
        "relative to the manifest's folder). Prints the per-file report."
    )

    def add_arguments(self, parser):
        parser.add_argument("project", help="project id or exact name")
        parser.add_argument("path", type=Path)
        parser.add_argument("--tags", default="", help="comma-separated tags for every item")
        parser.add_argument("--source", default="", help="source id or name")
        parser.add_argument("--label-from-folder", action="store_true", help="use each file's folder as its label")
        parser.add_argument("--json", action="store_true", help="print the full report as JSON")

    def handle(self, *args, project, path, tags, source, label_from_folder, json: bool, **options):
        query = Project.objects.filter(pk=int(project)) if project.isdigit() else Project.objects.filter(name=project)
        target = query.first()
        if target is None:
            raise CommandError(f"no project '{project}'")
        if not path.exists():
            raise CommandError(f"{path} does not exist")
        src = None
        if source:
            src = imports._resolve_source(target, source, {})  # raises InputRejected for an unknown name
        tag_list = imports._split_tags(tags)
        common = {"project": target, "tags": tag_list, "source": src}
        if path.is_dir():
            entries = imports.folder_entries(root=path, label_from_folder=label_from_folder, **common)
            report = imports.items_import(project=target, entries=entries, on_progress=self._progress)
        elif zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as archive:
                entries = imports.zip_entries(archive=archive, label_from_folder=label_from_folder, **common)
                report = imports.items_import(project=target, entries=entries, on_progress=self._progress)
        else:
            with path.open("rb") as handle:
                fmt = imports.manifest_format(path.name, handle.read(64))
            with path.open(encoding="utf-8-sig", newline="") as stream:
                entries = imports.manifest_entries(
                    stream=stream, fmt=fmt, open_path=imports.folder_opener(path.parent), **common
                )
                report = imports.items_import(project=target, entries=entries, on_progress=self._progress)
        if json:
            self.stdout.write(__import__("json").dumps(report.as_dict(), indent=2))
        for row in report.rejected:
            self.stderr.write(f"rejected {row['name']}: {row['reason']}")
        self.stdout.write(
            self.style.SUCCESS(
                f"{len(report.imported)} imported, {len(report.duplicates)} duplicates, {len(report.rejected)} rejected"
            )
        )

    def _progress(self, done):
        self.stdout.write(f"  {done} processed", ending="\r")
