"""Console: in-store events (内购会) — setup, sessions, publish, report, and the door."""

from django.urls import path

from siyu.console import views_events

urlpatterns = [
    path("events/", views_events.events_page, name="events"),
    path("events/new/", views_events.event_new, name="event_new"),
    path("events/door/", views_events.door, name="event_door"),
    path("events/door/check/", views_events.door_check, name="event_door_check"),
    path("events/<int:event_id>/", views_events.event_detail, name="event_detail"),
    path("events/<int:event_id>/edit/", views_events.event_edit, name="event_edit"),
    path("events/<int:event_id>/publish/", views_events.event_publish, name="event_publish"),
    path("events/<int:event_id>/report/", views_events.event_report, name="event_report"),
]
