from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_not_required
from django.urls import path

from accounts import views

# Django's own password views under /account/, with their default URL names (they link to each other
# by those names) and the templates in templates/registration/. The pages a signed-out visitor posts to
# are login_not_required: a signed-out POST to any other page is sent to sign in, its body unread.
urlpatterns = [
    path("login/", views.SignInView.as_view(), name="login"),
    path("logout/", login_not_required(auth_views.LogoutView.as_view()), name="logout"),
    path("setup/<str:token>/", views.first_account, name="first-account"),
    path("account/tokens/", views.tokens, name="account-tokens"),
    path("account/tokens/<int:token_id>/revoke/", views.token_revoke_page, name="account-token-revoke"),
    path("account/password/", auth_views.PasswordChangeView.as_view(), name="password_change"),
    path("account/password/done/", auth_views.PasswordChangeDoneView.as_view(), name="password_change_done"),
    path(
        "account/password/reset/",
        views.PasswordResetView.as_view(),
        name="password_reset",
    ),
    path("account/password/reset/sent/", auth_views.PasswordResetDoneView.as_view(), name="password_reset_done"),
    path(
        "account/password/reset/<uidb64>/<token>/",
        views.PasswordResetConfirmView.as_view(),
        name="password_reset_confirm",
    ),
    path(
        "account/password/reset/complete/",
        auth_views.PasswordResetCompleteView.as_view(),
        name="password_reset_complete",
    ),
]
