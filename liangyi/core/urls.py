from django.urls import path

from liangyi.core import views, views_admin

app_name = "core"

urlpatterns = [
    path("", views.home, name="home"),
    path("login/", views.login_view, name="login"),
    path("login/code/", views.login_code, name="login_code"),
    path("logout/", views.logout_view, name="logout"),
    path("account/two-factor/", views.two_factor, name="two_factor"),
    path("manage/jurisdictions/", views_admin.jurisdiction_list, name="jurisdictions"),
    path("manage/users/", views_admin.user_list, name="users"),
    path("manage/users/new/", views_admin.user_create, name="user_create"),
    path("audit/", views_admin.audit_log, name="audit"),
]
