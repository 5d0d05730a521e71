from django.core.management.base import BaseCommand

from labeling.demo import DEMO_PASSWORD, DEMO_USERS, seed_demo


class Command(BaseCommand):
    help = (
        "Create the demo users and five projects (handwritten digits, spoken queries, touching digits, speech in "
        "silence, sentiment of words). A project that exists is skipped: safe to run again."
    )

    def handle(self, *args, **options):
        seed_demo(log=lambda line: self.stdout.write(line))
        self.stdout.write(self.style.SUCCESS(f"Demo logins (password for all: {DEMO_PASSWORD}):"))
        for username, role, what in DEMO_USERS:
            self.stdout.write(f"  {username:<8} {role:<9} {what}")
