from django.urls import path

from liangyi.people import views, views_export, views_import

app_name = "people"

urlpatterns = [
    path("", views.person_list, name="list"),
    path("new/", views.person_create, name="create"),
    path("import/", views_import.import_upload, name="import"),
    path("import/template.<str:fmt>", views_import.import_template, name="import_template"),
    path("import/<uuid:run_id>/", views_import.import_run, name="import_run"),
    path("glass/", views.glass_open, name="glass"),
    path("glass/grants/", views.glass_grants, name="glass_grants"),
    path("glass/grants/<uuid:grant_id>/revoke/", views.glass_revoke, name="glass_revoke"),
    path("<uuid:person_id>/", views.person_detail, name="detail"),
    path("<uuid:person_id>/sealed/", views.sealed_records, name="sealed"),
    path("<uuid:person_id>/edit/", views.person_edit, name="edit"),
    path("<uuid:person_id>/reveal/<str:field>/", views.person_reveal, name="reveal"),
    path("<uuid:person_id>/family/new/", views.family_add, name="family_add"),
    path("<uuid:person_id>/plan/new/", views.plan_add, name="plan_add"),
    path("<uuid:person_id>/file.pdf", views_export.person_pdf, name="pdf"),
]
