"""Pages to start without the admin or the API: a new project, its members, its settings (archive, restore).

Thin, like the other views: check the role, validate a form, call the service the API calls too.
"""

from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth.decorators import login_not_required, login_required
from django.core.exceptions import ValidationError
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods

from accounts.signin import TooManyMails
from labelhub.params import is_row_id
from labeling.choices import Role, role_words
from labeling.models import Invitation
from labeling.project_forms import MemberAddForm, ProjectCreateForm, ProjectSettingsForm
from labeling.selectors import invitations_pending, member_for, project_create_allowed, project_creators_rule
from labeling.services.invitations import (
    INVITATION_DAYS,
    invitation_accept,
    invitation_create,
    invitation_for_token,
    invitation_revoke,
)
from labeling.services.projects import (
    member_add,
    member_remove,
    member_role_change,
    project_archive,
    project_create,
    project_restore,
    project_update,
)
from labeling.views import _project


@login_required
@require_http_methods(["GET", "POST"])
def project_new(request):
    """The "New project" form. A user who may not create projects is told why and what to do, with 403."""
    if not project_create_allowed(user=request.user):
        return render(
            request, "labeling/project_new.html", {"allowed": False, "rule": project_creators_rule()}, status=403
        )
    form = ProjectCreateForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        try:
            project = project_create(creator=request.user, **form.service_kwargs())
        except ValidationError as exc:
            form.add_service_errors(exc)
        else:
            messages.success(request, f"Project “{project.name}” created. Next: import the data to label.")
            return redirect("project", project_id=project.pk)
    status = 400 if request.method == "POST" else 200
    return render(
        request,
        "labeling/project_new.html",
        {"allowed": True, "form": form, "tasks_by_modality": form.tasks_by_modality()},
        status=status,
    )


@login_required
@require_http_methods(["GET", "POST"])
def members_page(request, project_id):
    """Managers list the members, add an existing user with a role (or invite an e-mail address that has no
    account yet), change roles, remove members and withdraw invitations."""
    project, membership = _project(request, project_id, role=Role.MANAGER)
    form = MemberAddForm(request.POST if request.POST.get("action") == "add" else None)
    retry_after = 0
    if request.method == "POST":
        action = request.POST.get("action")
        try:
            if action == "add":
                if form.is_valid() and form.user is not None:
                    added = member_add(project=project, username=form.user.username, role=form.cleaned_data["role"])
                    messages.success(request, f"{added.user.username} is now {role_words(added.role)}.")
                    return redirect("members", project_id=project.pk)
                if form.is_valid():
                    invitation, link = invitation_create(
                        project=project,
                        email=form.invite_email,
                        role=form.cleaned_data["role"],
                        invited_by=request.user,
                        link_for=lambda token: request.build_absolute_uri(reverse("invitation", args=[token])),
                    )
                    messages.success(
                        request,
                        f"{invitation.email} has no account here yet: an invitation to join as "
                        f"{role_words(invitation.role)} was e-mailed. The link works once, for "
                        f"{INVITATION_DAYS} days; you can also pass it on yourself: {link}",
                    )
                    return redirect("members", project_id=project.pk)
            elif action == "withdraw":
                invitation_id = request.POST.get("invitation", "")
                invitations = Invitation.objects.filter(project=project)
                # an invitation that is no id ("abc") was a 500 from the lookup
                invitation = invitations.filter(pk=invitation_id).first() if is_row_id(invitation_id) else None
                if invitation is None:
                    messages.error(request, "No such invitation in this project.")
                else:
                    invitation_revoke(invitation=invitation)
                    messages.success(request, f"The invitation of {invitation.email} was withdrawn.")
                return redirect("members", project_id=project.pk)
            elif action in ("role", "remove"):
                target = member_for(project=project, username=request.POST.get("username", ""))
                if action == "role":
                    member_role_change(membership=target, role=request.POST.get("role", ""))
                    messages.success(request, f"{target.user.username} is now {role_words(target.role)}.")
                else:
                    member_remove(membership=target)
                    messages.success(request, f"{target.user.username} was removed from the project.")
                if target.user_id == request.user.pk and not request.user.is_superuser:
                    # A manager who stepped down (or out) can no longer open this page.
                    return redirect("project", project_id=project.pk) if action == "role" else redirect("home")
                return redirect("members", project_id=project.pk)
            else:
                messages.error(request, "Unknown action.")
        except ValidationError as exc:
            if action == "add":  # shown beside the form, which keeps what was typed
                form.add_error(None, exc.messages)
            else:
                for message in exc.messages:
                    messages.error(request, message)
                return redirect("members", project_id=project.pk)
        except TooManyMails as exc:  # an invitation past its limit: 429 as a throttled sign-in
            form.add_error(None, exc.message)
            retry_after = exc.wait
    members = project.memberships.select_related("user").order_by("user__username")
    response = render(
        request,
        "labeling/members.html",
        {
            "project": project,
            "membership": membership,
            "members": members,
            "invitations": invitations_pending(project=project),
            "form": form,
            "roles": Role.choices,
            "n_managers": sum(1 for m in members if m.role == Role.MANAGER),
        },
        status=400 if request.method == "POST" else 200,
    )
    if retry_after:
        response.status_code = 429
        response["Retry-After"] = str(retry_after)
    return response


@login_required
@require_http_methods(["GET", "POST"])
def project_settings(request, project_id):
    """Name, description, overlap and options; archive or restore the project."""
    project, membership = _project(request, project_id, role=Role.MANAGER)
    action = request.POST.get("action", "save")
    form = ProjectSettingsForm.for_project(
        project, request.POST if request.method == "POST" and action == "save" else None
    )
    if request.method == "POST":
        if action == "archive":
            project_archive(project=project)
            messages.success(request, "Archived: labelers and reviewers no longer see the project. Restore it here.")
            return redirect("project-settings", project_id=project.pk)
        if action == "restore":
            project_restore(project=project)
            messages.success(request, "Restored: the project is back in its members' lists and queues.")
            return redirect("project-settings", project_id=project.pk)
        if action != "save":
            messages.error(request, "Unknown action.")
            return redirect("project-settings", project_id=project.pk)
        if form.is_valid():
            try:
                project_update(project=project, **form.service_kwargs())
            except ValidationError as exc:
                form.add_error(None, exc.messages)
            else:
                messages.success(request, "Settings saved.")
                return redirect("project-settings", project_id=project.pk)
    return render(
        request,
        "labeling/project_settings.html",
        {"project": project, "membership": membership, "form": form},
        status=400 if request.method == "POST" else 200,
    )


@login_not_required  # a signed-out visitor's form (labelhub.middleware.RequestBodyMiddleware)
@never_cache
@require_http_methods(["GET", "POST"])
def invitation_page(request, token):
    """The link of an invitation: a new person chooses a username and a password and joins; someone signed
    in joins with their account. A link that does not work says why, with 410 (404 when unknown)."""
    try:
        invitation = invitation_for_token(token=token)
    except ValidationError as exc:
        status = 404 if "not valid" in exc.messages[0] else 410
        return render(request, "labeling/invitation.html", {"problem": exc.messages[0]}, status=status)
    errors = {}
    if request.method == "POST":
        user = request.user if request.user.is_authenticated else None
        try:
            membership = invitation_accept(
                token=token,
                user=user,
                username=request.POST.get("username", ""),
                password=request.POST.get("password", ""),
            )
        except ValidationError as exc:
            errors = exc.message_dict if hasattr(exc, "error_dict") else {"general": exc.messages}
        else:
            if user is None:
                login(request, membership.user)
            messages.success(request, f"Welcome to {membership.project.name}, as {role_words(membership.role)}.")
            return redirect("project", project_id=membership.project_id)
    return render(
        request,
        "labeling/invitation.html",
        {
            "invitation": invitation,
            "role": role_words(invitation.role),
            "errors": errors,
            "username": request.POST.get("username", ""),
        },
        status=400 if errors else 200,
    )
