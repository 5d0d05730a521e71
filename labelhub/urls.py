from django.contrib import admin
from django.urls import include, path

from analysis.api.urls import api_namespace_routes
from labelhub import views
from labeling.api.urls import urlpatterns as labeling_api_routes

# The API first: the resolver tries the patterns in order, and the labeling loop's requests (one per
# answer) should not be matched against every page's pattern first. No API route is schema/ or docs/.
urlpatterns = [
    path("api/", include((labeling_api_routes + api_namespace_routes, "api"))),
    path("api/schema/", views.schema, name="schema"),
    path("api/docs/", views.api_docs, name="api-docs"),
    path("admin/", admin.site.urls),
    path("", include("accounts.urls")),
    path("api/", include("analysis.api.urls")),
    path("", include("analysis.urls")),
    path("", include("labeling.urls")),
]

handler400 = "labelhub.views.bad_request"
handler403 = "labelhub.views.permission_denied"
handler404 = "labelhub.views.page_not_found"
handler500 = "labelhub.views.server_error"
