"""H5 referral pages: invite links, 我的邀请, share posters."""

from django.urls import path

from siyu.h5 import views_invites

urlpatterns = [
    path("r/<str:token>/", views_invites.invite_link, name="invite-link"),
    path("invites/", views_invites.my_invites, name="invites"),
    path("invites/<int:campaign_id>/poster.png", views_invites.poster, name="invite-poster"),
]
