from django.urls import path

from labeling import views, views_projects, views_versions

urlpatterns = [
    path("", views.home, name="home"),
    path("projects/new/", views_projects.project_new, name="project-new"),
    path("invite/<str:token>/", views_projects.invitation_page, name="invitation"),
    path("projects/<int:project_id>/", views.project_detail, name="project"),
    path("projects/<int:project_id>/inventory/", views.inventory, name="inventory"),
    path("projects/<int:project_id>/inventory/<int:source_id>/edit/", views.source_edit, name="source-edit"),
    path("projects/<int:project_id>/items/", views.item_browser, name="items"),
    path("projects/<int:project_id>/import/", views.import_page, name="import"),
    path("projects/<int:project_id>/label/", views.label, name="label"),
]

# Dataset versions, their changelog and diffs, webhooks (labeling/views_versions.py).
P = "projects/<int:project_id>/"
urlpatterns += [
    path(P + "versions/", views_versions.versions, name="versions"),
    path(P + "versions/changelog/", views_versions.version_changelog, name="version-changelog"),
    path(P + "versions/<int:number>/", views_versions.version_detail, name="version"),
    path(P + "versions/<int:number>/diff/", views_versions.version_diff_page, name="version-diff"),
    path(
        P + "versions/builds/<int:job_id>/retry/", views_versions.version_build_retry_view, name="version-build-retry"
    ),
    path(P + "webhooks/", views_versions.webhooks, name="webhooks"),
    path(P + "webhooks/<int:webhook_id>/<str:action>/", views_versions.webhook_action, name="webhook-action"),
]

# Starting without the admin: members and settings (archive, restore) (labeling/views_projects.py).
urlpatterns += [
    path(P + "members/", views_projects.members_page, name="members"),
    path(P + "settings/", views_projects.project_settings, name="project-settings"),
]
