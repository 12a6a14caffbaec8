from django.urls import path

from liangyi.handover import views

app_name = "handover"

urlpatterns = [
    path("", views.inbox, name="inbox"),
    path("facility/", views.facility_list, name="facility"),
    path("figures/", views.figures, name="figures"),
    path("persons/<uuid:person_id>/stay/", views.stay_new, name="stay_new"),
    path("stays/<int:pk>/<slug:action>/", views.stay_record, name="stay_record"),
    path("<int:pk>/", views.packet, name="packet"),
    path("<int:pk>/acknowledge/", views.acknowledge, name="acknowledge"),
    path("<int:pk>/<slug:action>/", views.handover_record, name="record"),
    path("agreements/<int:pk>/", views.agreement_print, name="agreement"),
    path("agreements/<int:pk>/sign/", views.agreement_sign, name="agreement_sign"),
]
