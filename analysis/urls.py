from django.urls import path

from analysis import views

urlpatterns = [
    path("projects/<int:project_id>/agreement/", views.agreement_page, name="agreement"),
    path("projects/<int:project_id>/agreement.csv", views.agreement_download, {"fmt": "csv"}, name="agreement-csv"),
    path("projects/<int:project_id>/agreement.json", views.agreement_download, {"fmt": "json"}, name="agreement-json"),
]
