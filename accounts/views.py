"""Account pages: sign-in (throttled), API tokens, password change and reset (Django's own views)."""

import math

from django import forms
from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from accounts.selectors import tokens_for
from accounts.services import token_create, token_revoke
from accounts.signin import signin_forget_user


class SignInView(auth_views.LoginView):
    """Django's login page; a throttled attempt (see ``accounts.signin``) answers 429 with ``Retry-After``
    and says how long to wait."""

    def form_invalid(self, form):
        wait = getattr(self.request, "signin_retry_after", None)
        text = wait and (f"{wait} seconds" if wait < 60 else f"{math.ceil(wait / 60)} minutes")
        response = self.render_to_response(self.get_context_data(form=form, retry_after=wait, retry_after_text=text))
        if wait:
            response.status_code = 429
            response["Retry-After"] = str(wait)
        return response


class PasswordResetConfirmView(auth_views.PasswordResetConfirmView):
    """Django's view. Setting a new password through the e-mailed link also lifts the username-wide
    sign-in lock, since the link proves control of the account's mailbox."""

    def form_valid(self, form):
        signin_forget_user(username=self.user.get_username())
        return super().form_valid(form)


class TokenForm(forms.Form):
    name = forms.CharField(max_length=100, help_text="What it is for, e.g. the machine that will use it.")


@never_cache
@login_required
def tokens(request):
    """The user's API tokens; a POST makes a new one and shows its key, this once."""
    form = TokenForm(request.POST or None)
    created = None
    if request.method == "POST" and form.is_valid():
        token, key = token_create(user=request.user, name=form.cleaned_data["name"])
        created = {"token": token, "key": key}
        form = TokenForm()
    return render(
        request, "accounts/tokens.html", {"tokens": tokens_for(user=request.user), "form": form, "created": created}
    )


@require_POST
@login_required
def token_revoke_page(request, token_id):
    if token_revoke(user=request.user, token_id=token_id):
        messages.success(request, "Token revoked: clients using it are signed out.")
    else:
        messages.error(request, "No such token (already revoked?).")
    return redirect("account-tokens")
