from django.urls import path

from siyu.console import views_catalog, views_communities, views_moderation

from . import views

app_name = "console"
urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("login/", views.login_view, name="login"),
    path("logout/", views.logout_view, name="logout"),
    path("stores/", views.stores, name="stores"),
    path("members/", views.members, name="members"),
    path("members/export/", views.members_export, name="members_export"),
    path("members/new/", views.member_new, name="member_new"),
    path("members/<int:member_id>/", views.member_detail, name="member_detail"),
    path("members/<int:member_id>/edit/", views.member_edit, name="member_edit"),
    path("members/<int:member_id>/tags/", views.member_tag_add, name="member_tag_add"),
    path(
        "members/<int:member_id>/tags/<int:tag_id>/remove/",
        views.member_tag_remove,
        name="member_tag_remove",
    ),
    path("members/<int:member_id>/consent/", views.member_consent, name="member_consent"),
    path("members/<int:member_id>/notes/", views.member_note_add, name="member_note_add"),
    path("members/<int:member_id>/reveal/", views.member_reveal, name="member_reveal"),
    path("members/<int:member_id>/export/", views.member_export_json, name="member_export_json"),
    path("members/<int:member_id>/erase/", views.member_erase, name="member_erase"),
    path("imports/", views.imports, name="imports"),
    path("imports/<int:import_id>/", views.import_detail, name="import_detail"),
    path("imports/template.<str:fmt>", views.import_template_download, name="import_template"),
    path("tokens/", views.tokens, name="tokens"),
    path("tokens/<int:token_id>/revoke/", views.token_revoke, name="token_revoke"),
    path("audit/", views.audit, name="audit"),
    # communities
    path("groups/", views_communities.groups, name="groups"),
    path("groups/plan/", views_communities.group_plan, name="group_plan"),
    path("groups/plan/accept/", views_communities.group_plan_accept, name="group_plan_accept"),
    path("groups/<int:community_id>/", views_communities.group_detail, name="group_detail"),
    path("groups/<int:community_id>/post/", views_communities.group_post, name="group_post"),
    path("groups/<int:community_id>/schedule/", views_communities.group_schedule, name="group_schedule"),
    path("groups/<int:community_id>/hygiene/", views_communities.group_hygiene, name="group_hygiene"),
    path(
        "groups/<int:community_id>/hygiene/act/",
        views_communities.group_hygiene_action,
        name="group_hygiene_action",
    ),
    path(
        "moderation/<int:action_id>/override/",
        views_communities.moderation_override,
        name="moderation_override",
    ),
    path(
        "join-requests/<int:request_id>/review/",
        views_communities.join_request_review,
        name="join_request_review",
    ),
    path("moderation/appeals/", views_moderation.appeals, name="moderation_appeals"),
    path(
        "moderation/appeals/<int:appeal_id>/review/",
        views_moderation.appeal_review,
        name="moderation_appeal_review",
    ),
    path("moderation/policy/", views_moderation.default_policy, name="moderation_policy"),
    path("groups/<int:community_id>/policy/", views_moderation.group_policy, name="group_policy"),
    path("moderation/blocklist/", views_moderation.blocklist, name="moderation_blocklist"),
    path(
        "moderation/blocklist/<int:entry_id>/remove/",
        views_moderation.blocklist_remove,
        name="moderation_blocklist_remove",
    ),
    path("live-codes/", views_communities.live_codes, name="live_codes"),
    path("live-codes/<int:live_code_id>/qr.png", views_communities.live_code_qr, name="live_code_qr"),
    path(
        "live-codes/<int:live_code_id>/poster.png",
        views_communities.live_code_poster,
        name="live_code_poster",
    ),
    path("group-templates/", views_communities.group_templates, name="group_templates"),
    path("tasks/", views_communities.staff_tasks, name="staff_tasks"),
    path("tasks/<int:task_id>/done/", views_communities.task_done, name="task_done"),
    path("outbox/", views_communities.failed_outbox, name="failed_outbox"),
    path("outbox/<int:message_id>/retry/", views_communities.outbox_retry, name="outbox_retry"),
    # catalog
    path("products/", views_catalog.products, name="products"),
    path("products/new/", views_catalog.product_new, name="product_new"),
    path("products/<int:product_id>/", views_catalog.product_detail, name="product_detail"),
    path("products/<int:product_id>/skus/", views_catalog.sku_add, name="sku_add"),
    path("products/<int:product_id>/publish/", views_catalog.product_publish, name="product_publish"),
    path("skus/<int:sku_id>/", views_catalog.sku_edit, name="sku_edit"),
    path(
        "publications/<int:publication_id>/withdraw/",
        views_catalog.publication_withdraw,
        name="publication_withdraw",
    ),
    path("listings/", views_catalog.listings, name="listings"),
    path("listings/<int:listing_id>/listed/", views_catalog.listing_listed, name="listing_listed"),
    path("listings/<int:listing_id>/stock/", views_catalog.listing_stock, name="listing_stock"),
]
