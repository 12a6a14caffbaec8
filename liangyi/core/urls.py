from django.urls import path

from liangyi.core import views, views_account, views_admin

app_name = "core"

urlpatterns = [
    path("", views.home, name="home"),
    path("login/", views.login_view, name="login"),
    path("login/code/", views.login_code, name="login_code"),
    path("logout/", views.logout_view, name="logout"),
    path("account/two-factor/", views.two_factor, name="two_factor"),
    path("account/", views_account.account, name="account"),
    path("account/confirm/", views_account.reauth_confirm, name="reauth"),
    path("account/password/", views_account.password_change_view, name="password_change"),
    path("account/recovery-codes/", views_account.recovery_codes, name="recovery_codes"),
    path("account/sessions/end/", views_account.session_end, name="session_end"),
    path("account/sessions/end-others/", views_account.sessions_end_others, name="sessions_end_others"),
    path("manage/jurisdictions/", views_admin.jurisdiction_list, name="jurisdictions"),
    path("manage/users/", views_admin.user_list, name="users"),
    path("manage/users/new/", views_admin.user_create, name="user_create"),
    path("audit/", views_admin.audit_log, name="audit"),
]
