"""The training page: training jobs on dataset versions with their metrics; managers start new ones."""

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError
from django.shortcuts import redirect, render

from analysis.forms import TrainingForm
from analysis.selectors import training_jobs_list
from analysis.services.training import training_job_start
from analysis.views import _project
from labeling.choices import Role, Trainer
from labeling.selectors import class_names, versions_list


def _errors(exc):
    if hasattr(exc, "message_dict"):
        return [f"{k}: {'; '.join(v)}" for k, v in exc.message_dict.items()]
    return list(exc.messages)


@login_required
def training(request, project_id):
    """Training jobs with their metrics; managers start new ones."""
    project, membership = _project(request, project_id, role=Role.REVIEWER)
    all_versions = list(versions_list(project=project))
    form, errors = None, []
    if membership.has_role(Role.MANAGER) and all_versions:
        form = TrainingForm(request.POST or None, versions=all_versions)
        if request.method == "POST" and form.is_valid():
            version = next(v for v in all_versions if str(v.number) == form.cleaned_data["version"])
            try:
                training_job_start(
                    project=project,
                    version=version,
                    trainer=form.cleaned_data["trainer"],
                    params=form.cleaned_data["params"],
                    user=request.user,
                )
            except ValidationError as exc:
                errors = _errors(exc)
            else:
                return redirect("training", project_id=project.pk)
    elif request.method == "POST":
        raise DjangoPermissionDenied("Only managers start training jobs.")
    return render(
        request,
        "labeling/training.html",
        {
            "project": project,
            "membership": membership,
            "jobs": training_jobs_list(project=project)[:50],
            "form": form,
            "has_versions": bool(all_versions),
            "errors": errors,
            "external": Trainer.EXTERNAL,
            # the per-class tables read classes by name, as the error analysis and version pages do
            "class_names": class_names(project=project),
        },
    )
