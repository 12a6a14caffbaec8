from django.urls import path

from liangyi.obligations import views

app_name = "obligations"

urlpatterns = [
    path("", views.worklist_page, name="worklist"),
]
