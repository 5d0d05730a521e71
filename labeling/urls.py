from django.urls import path

from labeling import views

urlpatterns = [
    path("", views.home, name="home"),
    path("projects/<int:project_id>/", views.project_detail, name="project"),
    path("projects/<int:project_id>/inventory/", views.inventory, name="inventory"),
    path("projects/<int:project_id>/inventory/<int:source_id>/edit/", views.source_edit, name="source-edit"),
    path("projects/<int:project_id>/items/", views.item_browser, name="items"),
    path("projects/<int:project_id>/import/", views.import_page, name="import"),
]
