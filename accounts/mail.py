"""E-mail that leaves off the request: invitation links and password-reset links.

A slow or unreachable SMTP server (up to ``EMAIL_TIMEOUT``, 20 s) must not hold the page that asked for the
mail. The message is built in the request and sent from a thread of the web process, not a worker task:
the links are credentials, and they stay out of the broker's messages. A failure is logged; the caller has
shown the link already (invitations) or says the same whether or not a mail was sent (password reset).
Where ``LABELHUB_MAIL_IN_BACKGROUND`` is off (the tests), the message is sent at once.
"""

import logging
import threading

from django.conf import settings
from django.contrib.auth import forms as auth_forms
from django.core.mail import EmailMultiAlternatives
from django.template import loader

logger = logging.getLogger(__name__)


def send_later(message: EmailMultiAlternatives, *, name: str) -> None:
    """Send ``message`` from a thread called ``name`` (or now, see the module doc)."""
    if settings.LABELHUB_MAIL_IN_BACKGROUND:
        threading.Thread(target=_send, args=(message, name), name=name, daemon=True).start()
    else:
        _send(message, name)


def _send(message, name):
    try:
        message.send()
    except Exception:  # a mail server's failure is logged; nothing else depends on the mail
        logger.warning("%s: no e-mail could be sent to %s", name, ", ".join(message.to), exc_info=True)


class PasswordResetForm(auth_forms.PasswordResetForm):
    """Django's form, its e-mail sent by ``send_later``."""

    def send_mail(
        self, subject_template_name, email_template_name, context, from_email, to_email, html_email_template_name=None
    ):
        subject = "".join(loader.render_to_string(subject_template_name, context).splitlines())
        message = EmailMultiAlternatives(
            subject, loader.render_to_string(email_template_name, context), from_email, [to_email]
        )
        if html_email_template_name is not None:
            message.attach_alternative(loader.render_to_string(html_email_template_name, context), "text/html")
        send_later(message, name=f"password-reset-mail-{context['user'].pk}")
