from django.apps import AppConfig


class CommunitiesConfig(AppConfig):
    name = "siyu.communities"
    label = "communities"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Listen to what channels hears (siyu.channels.hooks) and to members' erasures (siyu.members.hooks).
        from siyu.channels import hooks as channel_hooks
        from siyu.communities.services import (
            channel_events,
            dispatch,
            joinways,
            mass,
            messages,
            wecom_welcome,
        )
        from siyu.members import hooks as member_hooks

        channel_hooks.group_seen.register(channel_events.on_group_seen)
        channel_hooks.group_renamed.register(channel_events.on_group_renamed)
        channel_hooks.group_dismissed.register(channel_events.on_group_dismissed)
        channel_hooks.member_joined.register(channel_events.on_member_joined)
        channel_hooks.member_left.register(channel_events.on_member_left)
        channel_hooks.roster_seen.register(channel_events.on_roster_seen)
        channel_hooks.message_received.register(channel_events.on_message_received)
        channel_hooks.communities_in_stores.register(channel_events.communities_in_stores)
        channel_hooks.join_way_spec.register(joinways.join_way_spec)
        channel_hooks.delivery_confirmed.register(dispatch.on_outbox_confirmed)
        channel_hooks.delivery_failed.register(dispatch.on_outbox_failed)
        channel_hooks.welcome_template_spec.register(wecom_welcome.welcome_spec)
        channel_hooks.mass_results.register(mass.on_mass_results)
        member_hooks.member_erased.register(messages.erase_member_messages)
