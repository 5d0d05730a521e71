from django.urls import path
from rest_framework.authtoken.views import obtain_auth_token

from labeling.api import items, jobs, projects, sources

app_name = "api"

urlpatterns = [
    path("auth/token/", obtain_auth_token, name="auth-token"),
    path("projects/", projects.ProjectListApi.as_view(), name="project-list"),
    path("projects/<int:project_id>/", projects.ProjectDetailApi.as_view(), name="project-detail"),
    path("projects/<int:project_id>/members/", projects.MemberListApi.as_view(), name="member-list"),
    path("projects/<int:project_id>/sources/", sources.SourceListApi.as_view(), name="source-list"),
    path("projects/<int:project_id>/sources/<int:source_id>/", sources.SourceDetailApi.as_view(), name="source-detail"),
    path("projects/<int:project_id>/items/", items.ItemListApi.as_view(), name="item-list"),
    path("projects/<int:project_id>/imports/", items.ImportCreateApi.as_view(), name="import-create"),
    path("items/<int:item_id>/", items.ItemDetailApi.as_view(), name="item-detail"),
    path("items/<int:item_id>/file", items.ItemFileApi.as_view(), name="item-file"),
    path("jobs/<int:job_id>/", jobs.JobDetailApi.as_view(), name="job-detail"),
]
