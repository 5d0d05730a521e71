"""Account pages: sign-in (throttled), the first account of an empty instance, API tokens, password change
and reset (Django's own views)."""

from django import forms
from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_not_required, login_required
from django.core.exceptions import ValidationError
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_POST

from accounts.mail import PasswordResetForm
from accounts.selectors import accounts_exist, tokens_for
from accounts.services import AccountsExist, first_account_create, first_account_token_valid, token_create, token_revoke
from accounts.signin import TooManyMails, client_address, reset_mail_sent, signin_forget_user, wait_text


class SignInView(auth_views.LoginView):
    """Django's login page; a throttled attempt (see ``accounts.signin``) answers 429 with ``Retry-After``
    and says how long to wait."""

    def get_context_data(self, **kwargs):
        # an empty instance: say how its first account is made (the demo's `make run` never is one)
        return super().get_context_data(**kwargs, no_accounts=not accounts_exist())

    def form_invalid(self, form):
        wait = getattr(self.request, "signin_retry_after", None)
        text = wait and wait_text(wait)
        response = self.render_to_response(self.get_context_data(form=form, retry_after=wait, retry_after_text=text))
        if wait:
            response.status_code = 429
            response["Retry-After"] = str(wait)
        return response


class PasswordResetView(auth_views.PasswordResetView):
    """Django's view, its mail sent off the request (``accounts.mail``) and limited per e-mail address and per
    client address (``accounts.signin.reset_mail_sent``): past a limit it answers 429 with ``Retry-After``
    and says how long to wait, whether or not an account has the address."""

    form_class = PasswordResetForm

    def form_valid(self, form):
        try:
            reset_mail_sent(email=form.cleaned_data["email"], address=client_address(self.request))
        except TooManyMails as exc:
            form.add_error(None, exc.message)
            response = self.form_invalid(form)
            response.status_code = 429
            response["Retry-After"] = str(exc.wait)
            return response
        return super().form_valid(form)


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
    """The user's API tokens; a POST makes a new one, and the page it redirects to shows its key, this once.

    The redirect (post/redirect/get) keeps a reload from posting the form again, which made another live
    token; the key waits in the session for that one page and is gone from it once shown."""
    form = TokenForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        token, key = token_create(user=request.user, name=form.cleaned_data["name"])
        request.session["new_token"] = {"id": token.pk, "key": key}
        return redirect("account-tokens")
    mine = tokens_for(user=request.user)
    created = None
    shown = request.session.pop("new_token", None) if request.method == "GET" else None
    if shown:
        token = next((t for t in mine if t.pk == shown["id"]), None)
        created = {"token": token, "key": shown["key"]} if token is not None else None
    return render(request, "accounts/tokens.html", {"tokens": mine, "form": form, "created": created})


@require_POST
@login_required
def token_revoke_page(request, token_id):
    if token_revoke(user=request.user, token_id=token_id):
        messages.success(request, "Token revoked: clients using it are signed out.")
    else:
        messages.error(request, "No such token (already revoked?).")
    return redirect("account-tokens")


@login_not_required  # a signed-out visitor's form (labelhub.middleware.RequestBodyMiddleware)
@never_cache
@require_http_methods(["GET", "POST"])
def first_account(request, token):
    """``/setup/<token>/``: the first account of an empty instance (a superuser), from the link that
    ``manage.py first_account_link`` prints. Once any account exists the page says so (410) and makes
    none; a wrong token is a 404 that names the command."""
    if accounts_exist():
        return render(request, "registration/first_account.html", {"problem": "exists"}, status=410)
    if not first_account_token_valid(token):
        return render(request, "registration/first_account.html", {"problem": "token"}, status=404)
    errors = {}
    if request.method == "POST":
        try:
            user = first_account_create(
                token=token,
                username=request.POST.get("username", ""),
                email=request.POST.get("email", ""),
                password=request.POST.get("password", ""),
            )
        except AccountsExist:
            return render(request, "registration/first_account.html", {"problem": "exists"}, status=410)
        except ValidationError as exc:
            errors = exc.message_dict
        else:
            login(request, user)
            messages.success(request, f"Welcome, {user.get_username()}. Next: create your first project.")
            return redirect("home")
    return render(
        request,
        "registration/first_account.html",
        {"errors": errors, "username": request.POST.get("username", ""), "email": request.POST.get("email", "")},
        status=400 if errors else 200,
    )
