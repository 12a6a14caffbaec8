from django.urls import path

from liangyi.reconcile import views

app_name = "reconcile"

urlpatterns = [
    path("", views.index, name="index"),
    path("runs/<int:pk>/", views.run_detail, name="run"),
    path("runs/<int:pk>/progress/", views.run_progress, name="progress"),
    path("runs/<int:pk>/retry/", views.run_retry, name="retry"),
    path("runs/<int:pk>/report.<str:fmt>", views.download, name="download"),
    path("findings/<int:pk>/<str:action>/", views.finding_work, name="work"),
]
