import re

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.urls import reverse

from accounts.selectors import accounts_exist
from accounts.services import first_account_token


class Command(BaseCommand):
    help = (
        "Print the link that makes the first account (an administrator) of an instance that has none. "
        "The link is derived from SECRET_KEY: every web process of the installation accepts it, and it "
        "stops working once any account exists."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--base-url",
            default=settings.LABELHUB_PUBLIC_URL or "http://127.0.0.1:8000",
            help="where users reach this LabelHub (default: LABELHUB_PUBLIC_URL, else http://127.0.0.1:8000)",
        )
        parser.add_argument(
            "--if-empty", action="store_true", help="print nothing (and succeed) when accounts exist already"
        )

    def handle(self, *args, base_url, if_empty, **options):
        if not re.fullmatch(r"https?://[^/?#\s]+(/[^?#\s]*)?", base_url):
            raise CommandError(
                "--base-url must be an http:// or https:// address, such as https://labels.example.org "
                f"(got {base_url!r})"
            )
        if accounts_exist():
            if if_empty:
                return
            raise CommandError("this instance has accounts already: the first-account link makes none")
        path = reverse("first-account", kwargs={"token": first_account_token()})
        self.stdout.write(f"{base_url.rstrip('/')}{path}")
        self.stderr.write("This LabelHub has no account yet: open the link above to make its first (administrator).")
