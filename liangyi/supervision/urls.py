from django.urls import path

from liangyi.supervision import views

app_name = "supervision"

urlpatterns = [
    path("escalations/", views.escalations_page, name="escalations"),
    path("escalations/<int:pk>/decide/", views.escalation_decide, name="decide"),
    path("worklist/<int:obligation_id>/record/", views.worklist_record, name="worklist_record"),
    path("persons/<uuid:person_id>/<slug:action>/", views.record, name="record"),
    path("persons/<uuid:person_id>/<slug:action>/<int:pk>/", views.record, name="record_pk"),
]
