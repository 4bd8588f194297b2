"""H5 in-store events and tickets."""

from django.urls import path

from siyu.h5 import views_events

urlpatterns = [
    path("events/", views_events.events, name="events"),
    path("events/<int:event_id>/", views_events.event, name="event"),
    path("events/sessions/<int:session_id>/ticket/", views_events.take, name="event_take"),
    path("tickets/", views_events.my_tickets, name="tickets"),
    path("tickets/<int:ticket_id>/", views_events.ticket, name="ticket"),
    path("tickets/<int:ticket_id>/qr.png", views_events.ticket_qr, name="ticket_qr"),
    path("tickets/<int:ticket_id>/cancel/", views_events.ticket_cancel, name="ticket_cancel"),
]
