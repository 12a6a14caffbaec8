from django.urls import path

from liangyi.medical import views

app_name = "medical"

urlpatterns = [
    path("persons/<uuid:person_id>/insurance/", views.record, name="record"),
]
