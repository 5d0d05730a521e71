from django.core.management.base import BaseCommand

from labeling.management.words import counted
from labeling.services.versions import build_debris_cleanup


class Command(BaseCommand):
    help = (
        "Remove the files version builds left behind when their worker died: local work folders and "
        "unpublished stored files of builds that are failed, finished, deleted or silent for "
        "LABELHUB_JOB_STALE_SECONDS. Running builds are left alone. Safe to run from cron."
    )

    def handle(self, *args, **options):
        cleaned = build_debris_cleanup()
        self.stdout.write(f"cleaned the leftovers of {counted(cleaned, 'build job')}")
