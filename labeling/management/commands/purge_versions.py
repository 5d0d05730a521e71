from django.core.management.base import BaseCommand, CommandError

from labeling.management.words import counted
from labeling.models import DatasetVersion
from labeling.services.item_deletion import purge_leftovers_delete, purges_apply, purges_pending
from labeling.services.version_purge import PurgeRewriteFailed


class Command(BaseCommand):
    help = (
        "Rewrite the files of dataset versions whose items were purged before purges rewrote files: their "
        "manifests, raw answers and segments CSV without the purged items' rows, their media archives, COCO, "
        "YOLO and RTTM files removed, as a purge does now; and delete the files a purge superseded that are "
        "still stored (their deletion after the purge failed). Versions with nothing pending are left alone; "
        "safe to run again."
    )

    def add_arguments(self, parser):
        parser.add_argument("--dry-run", action="store_true", help="only list the versions it would rewrite")

    def handle(self, *args, dry_run=False, **options):
        pending = purges_pending()
        failed = 0
        for version in pending:
            if dry_run:
                self.stdout.write(f"{version.project} v{version.number}: would be rewritten")
                continue
            try:
                rows = purges_apply(version=version)
            except PurgeRewriteFailed as exc:
                failed += 1
                self.stderr.write(f"{version.project} v{version.number}: {exc}")
                continue
            self.stdout.write(f"{version.project} v{version.number}: {counted(rows, 'row')} removed")
        if not dry_run:
            self.stdout.write(f"rewrote {counted(len(pending) - failed, 'version')}")
            deleted = 0
            for version in DatasetVersion.objects.filter(info__has_key="purged").order_by("project_id", "number"):
                deleted += len(purge_leftovers_delete(version=version))
            self.stdout.write(f"deleted {counted(deleted, 'superseded file')}")
        if failed:
            raise CommandError(f"{counted(failed, 'version')} could not be rewritten: run it again")
