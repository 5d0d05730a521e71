"""Pages to start without the admin or the API: a new project, its members, its settings (archive, restore).

Thin, like the other views: check the role, validate a form, call the service the API calls too.
"""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from labeling.choices import Role
from labeling.project_forms import MemberAddForm, ProjectCreateForm, ProjectSettingsForm
from labeling.selectors import member_for, project_create_allowed, project_creators_rule
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
    """Managers list the members, add an existing user with a role, change roles and remove members."""
    project, membership = _project(request, project_id, role=Role.MANAGER)
    form = MemberAddForm(request.POST if request.POST.get("action") == "add" else None)
    if request.method == "POST":
        action = request.POST.get("action")
        try:
            if action == "add":
                if form.is_valid():
                    added = member_add(project=project, username=form.user.username, role=form.cleaned_data["role"])
                    messages.success(request, f"{added.user.username} is now {added.get_role_display()}.")
                    return redirect("members", project_id=project.pk)
            elif action in ("role", "remove"):
                target = member_for(project=project, username=request.POST.get("username", ""))
                if action == "role":
                    member_role_change(membership=target, role=request.POST.get("role", ""))
                    messages.success(request, f"{target.user.username} is now {target.get_role_display()}.")
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
            for message in exc.messages:
                messages.error(request, message)
            if action != "add":
                return redirect("members", project_id=project.pk)
            form.add_error(None, exc.messages)
    members = project.memberships.select_related("user").order_by("user__username")
    return render(
        request,
        "labeling/members.html",
        {
            "project": project,
            "membership": membership,
            "members": members,
            "form": form,
            "roles": Role.choices,
            "n_managers": sum(1 for m in members if m.role == Role.MANAGER),
        },
        status=400 if request.method == "POST" else 200,
    )


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
