from django.apps import AppConfig


class ReferralsConfig(AppConfig):
    """Referral fission (裂变, issue 12 §4): personal invite links and share posters, the invite tree, rewards
    paid once an invite counts (and reversed if the invitee leaves), fraud holds with a review queue, and the
    KOL reach report.

    Sits beside events above loyalty (``pyproject.toml`` layers): it reads memberships (communities) and
    orders, pays through loyalty's points ledger and coupons, and nothing below imports it.
    """

    name = "siyu.referrals"
    label = "referrals"
    default_auto_field = "django.db.models.BigAutoField"
