"""H5 pages for the built-in web group chat: my groups, the chat page, posting, live events, pictures."""

from django.urls import path

from siyu.h5 import views_chat

urlpatterns = [
    path("groups/", views_chat.my_groups, name="my_groups"),
    path("c/<int:community_id>/", views_chat.room, name="chat"),
    path("c/<int:community_id>/rules/", views_chat.rules, name="chat_rules"),
    path("c/<int:community_id>/messages/", views_chat.messages, name="chat_messages"),
    path("c/<int:community_id>/events/", views_chat.events, name="chat_events"),
    path("c/<int:community_id>/images/<int:message_id>/", views_chat.image, name="chat_image"),
]
