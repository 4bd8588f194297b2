from django.apps import AppConfig


class MembersConfig(AppConfig):
    name = "siyu.members"
    label = "members"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Answer channels' "who is this channel user?" (siyu.channels.hooks).
        from siyu.channels import hooks as channel_hooks
        from siyu.members.services.identities import on_identity_seen

        channel_hooks.identity_seen.register(on_identity_seen)
