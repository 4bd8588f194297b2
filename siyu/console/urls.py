from django.urls import path

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
]
