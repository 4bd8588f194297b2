"""Console: staff incentives — my rewards, leaderboards, HQ review of monthly statements, reward rules."""

from django.urls import path

from siyu.console import views_incentives as v

urlpatterns: list = [
    path("rewards/", v.my_rewards, name="incentives"),
    path("rewards/board/", v.leaderboard, name="incentive_board"),
    path("rewards/review/", v.review, name="incentive_review"),
    path("rewards/review/stores/<int:store_id>/", v.review_store, name="incentive_review_store"),
    path("rewards/review/stores/<int:store_id>/approve/", v.store_approve, name="incentive_store_approve"),
    path("rewards/generate/", v.generate, name="incentive_generate"),
    path("rewards/statements/<int:statement_id>/", v.statement_detail, name="incentive_statement"),
    path(
        "rewards/statements/<int:statement_id>/approve/",
        v.statement_approve,
        name="incentive_statement_approve",
    ),
    path("rewards/rules/", v.rule_list, name="incentive_rules"),
]
