from django.core.management.base import BaseCommand, CommandError

from labeling.management.words import counted
from labeling.models import Project
from labeling.services.imports import image_sizes_upright


class Command(BaseCommand):
    help = (
        "Store the upright width and height (EXIF orientation applied) of image items imported before "
        "imports measured them so: a photo with EXIF orientation 5-8 had them swapped, and COCO exports "
        "turned its boxes into wrong pixels. Reads every image file of the project (or of all image "
        "projects) through the storage; safe to run again. Versions built before keep their files: build "
        "a new version for a corrected COCO export."
    )

    def add_arguments(self, parser):
        parser.add_argument("--project", default="", help="project id or exact name (default: every image project)")
        parser.add_argument("--dry-run", action="store_true", help="count the items that would change, write nothing")

    def handle(self, *args, project, dry_run, **options):
        target = None
        if project:
            key = {"pk": int(project)} if project.isdigit() else {"name": project}
            target = Project.objects.filter(**key).first()
            if target is None:
                raise CommandError(f"no project '{project}'")
        counts = image_sizes_upright(project=target, dry_run=dry_run)
        verb = "would change" if dry_run else "changed"
        for problem in counts["problems"]:
            self.stdout.write(problem)
        self.stdout.write(
            f"checked {counted(counts['checked'], 'image item')}: {verb} {counts['changed']}, "
            f"{counts['unreadable']} unreadable (left as they were)"
        )
