from django.apps import AppConfig


class AccountsConfig(AppConfig):
    """Who may sign in and with what: API tokens, sign-in throttling, password change and reset."""

    name = "accounts"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from django.conf import settings
        from django.db.models.signals import pre_save

        from accounts.services import revoke_tokens_on_credential_change  # imports models: only once ready

        # A signal, not a call in each view: passwords change and accounts are deactivated in the
        # admin, in `manage.py changepassword` and in the reset views too, and a token must never
        # outlive the password (or the account) it was obtained with.
        pre_save.connect(
            revoke_tokens_on_credential_change, sender=settings.AUTH_USER_MODEL, dispatch_uid="accounts-revoke-tokens"
        )
