"""Console: referral fission — campaigns, the review queue, KOLs and seed users."""

from django.urls import path

from siyu.console import views_referrals

urlpatterns: list = [
    path("referrals/", views_referrals.referral_list, name="referrals"),
    path("referrals/new/", views_referrals.referral_new, name="referral_new"),
    path("referrals/<int:campaign_id>/", views_referrals.referral_detail, name="referral_detail"),
    path("referrals/review/", views_referrals.referral_review, name="referral_review"),
    path("referrals/review/apply/", views_referrals.referral_review_apply, name="referral_review_apply"),
    path("referrals/kols/", views_referrals.referral_kols, name="referral_kols"),
    path(
        "referrals/kols/<int:community_id>/<int:member_id>/remove/",
        views_referrals.referral_kol_remove,
        name="referral_kol_remove",
    ),
]
