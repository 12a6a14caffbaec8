from django.urls import path

from liangyi.obligations import views

app_name = "obligations"

urlpatterns = [
    path("", views.worklist_page, name="worklist"),
    path("calendar/", views.calendar_page, name="calendar"),
    path("calendar/<str:key>.ics", views.calendar_feed, name="calendar_feed"),
]
