"""Console forms. They only parse what the browser sent; the services decide what is allowed."""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from siyu.common.errors import ValidationFailed
from siyu.common.validators import fen_to_yuan, yuan_to_fen
from siyu.members.models import AgeBand, Gender, Tag
from siyu.members.services.profiles import MemberFilter
from siyu.org.models import Staff
from siyu.org.services.access import is_chain_wide, visible_stores

MAX_UPLOAD_BYTES = 20 * 1024 * 1024


def _store_choices(staff: Staff, *, blank: str | None) -> list[tuple[str, str]]:
    choices = [(str(s.pk), f"{s.code} {s.name}") for s in visible_stores(staff)]
    return [("", blank), *choices] if blank is not None else choices


class YuanField(forms.Field):
    """An amount typed in yuan (``9.9``, ``¥9.90``, full-width digits' separators) cleaned to integer fen by
    ``siyu.common.validators.yuan_to_fen``; None when left blank and not required."""

    widget = forms.TextInput

    def __init__(self, *, minimum: int = 0, maximum: int = 999_999_999, **kwargs: Any) -> None:
        self.minimum, self.maximum = minimum, maximum
        super().__init__(**kwargs)

    def widget_attrs(self, widget: forms.Widget) -> dict[str, Any]:
        return {**super().widget_attrs(widget), "inputmode": "decimal"}

    def prepare_value(self, value: Any) -> Any:
        # An initial value is fen; what the user typed (a bound form shown again) stays as typed.
        return fen_to_yuan(value) if isinstance(value, int) and not isinstance(value, bool) else value

    def to_python(self, value: Any) -> int | None:
        if value in self.empty_values or (isinstance(value, str) and not value.strip()):
            return None
        try:
            return yuan_to_fen(value, "yuan", minimum=self.minimum, maximum=self.maximum)
        except ValidationFailed as exc:
            raise forms.ValidationError(exc.message) from None


class LoginForm(forms.Form):
    username = forms.CharField(label=_("Username"), max_length=150)
    password = forms.CharField(label=_("Password"), max_length=256, widget=forms.PasswordInput)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["username"].widget.attrs.update({"autocomplete": "username", "autofocus": True})
        self.fields["password"].widget.attrs.update({"autocomplete": "current-password"})


class MemberFilterForm(forms.Form):
    q = forms.CharField(label=_("Name or mobile"), required=False, max_length=50)
    store = forms.TypedChoiceField(label=_("Store"), required=False, coerce=int, empty_value=None)
    tag = forms.TypedChoiceField(label=_("Tag"), required=False, coerce=int, empty_value=None)
    age_band = forms.ChoiceField(label=_("Age band"), required=False)
    gender = forms.ChoiceField(label=_("Gender"), required=False)
    joined_from = forms.DateField(
        label=_("Joined from"), required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    joined_to = forms.DateField(
        label=_("Joined to"), required=False, widget=forms.DateInput(attrs={"type": "date"})
    )

    def __init__(self, *args: Any, staff: Staff, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        fields: Any = self.fields
        fields["store"].choices = _store_choices(staff, blank=str(_("All stores")))
        tags = Tag.objects.select_related("group").order_by("group__name", "name")
        fields["tag"].choices = [("", _("All tags"))] + [
            (str(t.pk), f"{t.group.name} / {t.name}") for t in tags
        ]
        bands = [(v, label) for v, label in AgeBand.choices if v]
        fields["age_band"].choices = [("", _("All ages")), *bands]
        fields["gender"].choices = [("", _("All")), *Gender.choices]
        self.fields["q"].widget.attrs.update({"type": "search", "placeholder": _("Name or last 4+ digits")})

    def to_filter(self) -> MemberFilter:
        """The filter for the valid fields; an invalid field is simply not applied (and shown as an error)."""
        self.is_valid()
        data = getattr(self, "cleaned_data", {})
        return MemberFilter(
            store_id=data.get("store"),
            tag_id=data.get("tag"),
            age_band=data.get("age_band") or None,
            gender=data.get("gender") or None,
            joined_from=data.get("joined_from"),
            joined_to=data.get("joined_to"),
            q=(data.get("q") or "").strip() or None,
        )


class MemberForm(forms.Form):
    """Profile fields; ``with_mobile`` adds the mobile number for creation."""

    mobile = forms.CharField(label=_("Mobile"), max_length=20)
    name = forms.CharField(label=pgettext_lazy("person", "Name"), max_length=50, required=False)
    gender = forms.ChoiceField(label=_("Gender"), choices=Gender.choices, initial=Gender.UNKNOWN)
    birthday = forms.DateField(
        label=_("Birthday"), required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    occupation = forms.CharField(label=_("Occupation"), max_length=50, required=False)
    district = forms.CharField(label=_("District"), max_length=50, required=False)
    home_store = forms.ChoiceField(label=_("Home store"), required=False)

    def __init__(self, *args: Any, staff: Staff, with_mobile: bool = True, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        store_role = not is_chain_wide(staff)
        fields: Any = self.fields
        fields["home_store"].choices = _store_choices(staff, blank=None if store_role else "—")
        # Store roles may only file members under their own stores, so one must be chosen.
        fields["home_store"].required = store_role
        if with_mobile:
            fields["mobile"].widget.attrs.update({"inputmode": "tel", "autocomplete": "off"})
        else:
            del self.fields["mobile"]

    def profile_data(self) -> dict[str, Any]:
        data = dict(self.cleaned_data)
        data.pop("mobile", None)
        return data


class NoteForm(forms.Form):
    text = forms.CharField(
        label=_("Note"), max_length=2000, widget=forms.Textarea(attrs={"rows": 3, "maxlength": 2000})
    )


class TokenForm(forms.Form):
    name = forms.CharField(label=_("Token name"), max_length=100)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        label = _("Token name, e.g. the POS system it is for")
        self.fields["name"].widget.attrs.update({"placeholder": label, "aria-label": label})


class ImportForm(forms.Form):
    file = forms.FileField(label=_("CSV or XLSX file"))

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["file"].widget.attrs["accept"] = (
            ".csv,.xlsx,text/csv,application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
        )

    def clean_file(self) -> Any:
        upload = self.cleaned_data["file"]
        if upload.size > MAX_UPLOAD_BYTES:
            raise forms.ValidationError(_("The file is too large (20 MB at most)."))
        name = (upload.name or "").lower()
        if not name.endswith((".csv", ".xlsx")):
            raise forms.ValidationError(_("Upload a .csv or .xlsx file."))
        return upload


class AuditFilterForm(forms.Form):
    action = forms.ChoiceField(label=_("Action"), required=False)
    actor = forms.TypedChoiceField(label=_("Actor"), required=False, coerce=int, empty_value=None)

    def __init__(self, *args: Any, actions: list[str], actors: list[Staff], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        fields: Any = self.fields
        fields["action"].choices = [("", _("All actions"))] + [(a, a) for a in actions]
        fields["actor"].choices = [("", _("All staff"))] + [
            (str(s.pk), f"{s} ({s.username})") for s in actors
        ]
