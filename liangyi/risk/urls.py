from django.urls import path

from liangyi.risk import views

app_name = "risk"

urlpatterns = [
    path("evidence/", views.evidence_page, name="evidence"),
    path("persons/<uuid:person_id>/assess/<slug:instrument>/", views.assessment_form, name="assess"),
    path("persons/<uuid:person_id>/grade/", views.grade_now, name="grade"),
    path("persons/<uuid:person_id>/override/", views.override, name="override"),
]
