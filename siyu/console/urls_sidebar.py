"""URLs of the WeCom chat-toolbar sidebar (/console/sidebar/, docs/channels.md "Sidebar (聊天工具栏)")."""

from django.urls import path

from siyu.console import views_sidebar

urlpatterns = [
    path("sidebar/", views_sidebar.sidebar_page, name="sidebar"),
    path("sidebar/oauth/", views_sidebar.sidebar_oauth, name="sidebar_oauth"),
    path("sidebar/signature/", views_sidebar.sidebar_signature, name="sidebar_signature"),
    path("sidebar/chat/", views_sidebar.sidebar_chat, name="sidebar_chat"),
    path("sidebar/groups/<int:community_id>/", views_sidebar.sidebar_group, name="sidebar_group"),
    path("sidebar/groups/<int:community_id>/done/", views_sidebar.sidebar_done, name="sidebar_done"),
]
