from django.urls import path

from accounts.api import TokenApi
from labeling.api import items, jobs, labeling, projects, sources, versions, webhooks

# Included by labelhub/urls.py in the `api` namespace, together with analysis/api/urls.py's
# `api_namespace_routes` (review and training).

urlpatterns = [
    # The labeling loop first (a request per answer; the resolver tries the patterns in order).
    path("items/<int:item_id>/annotations/", labeling.AnnotationSubmitApi.as_view(), name="annotation-submit"),
    path("projects/<int:project_id>/next/", labeling.QueueNextApi.as_view(), name="queue-next"),
    path("auth/token/", TokenApi.as_view(), name="auth-token"),
    path("projects/", projects.ProjectListApi.as_view(), name="project-list"),
    path("projects/<int:project_id>/", projects.ProjectDetailApi.as_view(), name="project-detail"),
    path("projects/<int:project_id>/archive/", projects.ProjectArchiveApi.as_view(), name="project-archive"),
    path("projects/<int:project_id>/members/", projects.MemberListApi.as_view(), name="member-list"),
    path("projects/<int:project_id>/members/<str:username>/", projects.MemberDetailApi.as_view(), name="member-detail"),
    path("projects/<int:project_id>/invitations/", projects.InvitationListApi.as_view(), name="invitation-list"),
    path(
        "projects/<int:project_id>/invitations/<int:invitation_id>/",
        projects.InvitationDetailApi.as_view(),
        name="invitation-detail",
    ),
    path("projects/<int:project_id>/sources/", sources.SourceListApi.as_view(), name="source-list"),
    path("projects/<int:project_id>/sources/<int:source_id>/", sources.SourceDetailApi.as_view(), name="source-detail"),
    path("projects/<int:project_id>/items/", items.ItemListApi.as_view(), name="item-list"),
    path("projects/<int:project_id>/imports/", items.ImportCreateApi.as_view(), name="import-create"),
    path("projects/<int:project_id>/imports/<int:job_id>/retry/", items.ImportRetryApi.as_view(), name="import-retry"),
    path("projects/<int:project_id>/items/delete/", items.ItemDeleteApi.as_view(), name="item-delete"),
    path("items/<int:item_id>/", items.ItemDetailApi.as_view(), name="item-detail"),
    path("items/<int:item_id>/file", items.ItemFileApi.as_view(), name="item-file"),
    path("jobs/<int:job_id>/", jobs.JobDetailApi.as_view(), name="job-detail"),
    path("projects/<int:project_id>/annotations/", labeling.AnnotationListApi.as_view(), name="annotation-list"),
    path(
        "projects/<int:project_id>/annotations/export",
        labeling.AnnotationExportApi.as_view(),
        name="annotation-export",
    ),
    path("projects/<int:project_id>/progress/", labeling.ProgressApi.as_view(), name="progress"),
    path("items/<int:item_id>/skip/", labeling.ItemSkipApi.as_view(), name="item-skip"),
]

# Dataset versions and webhooks.
P = "projects/<int:project_id>/"
urlpatterns += [
    path(P + "versions/", versions.VersionListApi.as_view(), name="version-list"),
    path(P + "versions/<str:ref>/", versions.VersionDetailApi.as_view(), name="version-detail"),
    path(P + "versions/<str:ref>/manifest", versions.VersionManifestApi.as_view(), name="version-manifest"),
    path(P + "versions/<str:ref>/download", versions.VersionDownloadApi.as_view(), name="version-download"),
    path(P + "versions/<str:ref>/diff", versions.VersionDiffApi.as_view(), name="version-diff"),
    path(P + "version-builds/", versions.VersionBuildListApi.as_view(), name="version-build-list"),
    path(P + "version-builds/<int:job_id>/retry/", versions.VersionBuildRetryApi.as_view(), name="version-build-retry"),
    path(P + "webhooks/", webhooks.WebhookListApi.as_view(), name="webhook-list"),
    path(P + "webhooks/<int:webhook_id>/", webhooks.WebhookDetailApi.as_view(), name="webhook-detail"),
    path(
        P + "webhooks/<int:webhook_id>/deliveries/",
        webhooks.WebhookDeliveryListApi.as_view(),
        name="webhook-deliveries",
    ),
]
