"""Forms of the administration pages: jurisdictions, users, and the audit-log search.

Forms parse and check input; the services in ``views_admin`` write and audit. Every choice a
form offers (parent jurisdiction, a user's jurisdiction) is limited to the actor's subtree, so
an administrator cannot reach outside it even by editing the page.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from django import forms
from django.contrib.auth import password_validation
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from liangyi.core import access
from liangyi.core.models import CODE_LENGTH, Jurisdiction, Level, Outcome, Role, User


def _indented(j: Jurisdiction) -> str:
    """The name, indented one wide space per level below province, then the code."""
    depth = sorted(CODE_LENGTH.values()).index(len(j.code)) if len(j.code) in CODE_LENGTH.values() else 0
    return f"{'　' * depth}{j.name} {j.code}"


class ScopedJurisdictionField(forms.ModelChoiceField):
    """A jurisdiction chosen among those in the actor's subtree, shown indented by level."""

    def label_from_instance(self, obj: Jurisdiction) -> str:
        return _indented(obj)


class JurisdictionForm(forms.ModelForm):
    """Add a jurisdiction under one in the actor's subtree; ``Jurisdiction.clean`` checks the code."""

    parent = ScopedJurisdictionField(queryset=Jurisdiction.objects.none(), required=False, label=_("Parent"),
                                     help_text=_("Leave empty only for a province."))

    class Meta:
        model = Jurisdiction
        fields = ["code", "name", "level", "parent"]
        help_texts = {
            "code": _("The national statistical division code: 2 digits for a province, 4 for a city, 6 for a "
                      "county, 9 for a township, 12 for a village."),
        }

    def __init__(self, *args: Any, actor: User, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.actor = actor
        self.fields["parent"].queryset = access.visible(actor, Jurisdiction).exclude(
            level=Level.VILLAGE).order_by("code")
        self.fields["code"].widget.attrs.update({"inputmode": "numeric", "autocomplete": "off"})

    def clean_code(self) -> str:
        code = self.cleaned_data["code"].strip()
        scope = self.actor.scope_code
        if scope and (not code.startswith(scope) or code == scope):
            raise ValidationError(_("You can add jurisdictions only under %(scope)s; the code must start with "
                                    "%(code)s.") % {"scope": self.actor.jurisdiction, "code": scope})
        return code

    def _post_clean(self) -> None:
        # Jurisdiction.clean() needs a valid level; when the level itself is wrong the field's
        # own error says so, and the model's checks would only repeat (or trip over) it.
        if self.has_error("level"):
            return
        super()._post_clean()


class UserCreateForm(forms.ModelForm):
    """A new account in the actor's subtree; the password must pass Django's validators."""

    jurisdiction = ScopedJurisdictionField(
        queryset=Jurisdiction.objects.none(), required=False, label=_("Jurisdiction"),
        help_text=_("The user sees only this jurisdiction and what lies under it."),
    )
    password1 = forms.CharField(label=_("Password"), strip=False,
                                widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
                                help_text=password_validation.password_validators_help_text_html)
    password2 = forms.CharField(label=_("Password again"), strip=False,
                                widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
                                help_text=_("Type the same password again, to catch typing mistakes."))

    class Meta:
        model = User
        fields = ["username", "full_name", "role", "jurisdiction"]

    def __init__(self, *args: Any, actor: User, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.actor = actor
        self.fields["jurisdiction"].queryset = access.visible(actor, Jurisdiction).order_by("code")
        self.fields["full_name"].required = True
        self.fields["username"].widget.attrs["autocomplete"] = "off"
        if actor.scope_code:
            self.fields["jurisdiction"].required = True
            self.fields["jurisdiction"].empty_label = None
        else:
            self.fields["jurisdiction"].empty_label = _("— every jurisdiction (administrators only) —")

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        role, where = data.get("role"), data.get("jurisdiction")
        if role and where is None and "jurisdiction" not in self.errors and role != Role.ADMIN:
            self.add_error("jurisdiction", _("Choose the jurisdiction this user works in; only an administrator "
                                             "may have every jurisdiction."))
        p1, p2 = data.get("password1"), data.get("password2")
        if p1 and p2 and p1 != p2:
            self.add_error("password2", _("The two passwords differ: type the same password twice."))
        return data

    def _post_clean(self) -> None:
        super()._post_clean()
        password = self.cleaned_data.get("password1")
        if password and not self.has_error("password2"):
            # The similarity validator compares with the username and name typed on this form.
            try:
                password_validation.validate_password(password, self.instance)
            except ValidationError as error:
                self.add_error("password1", error)


class UserActionForm(forms.Form):
    """A button on the users page: deactivate, reactivate, unlock, reset the second factor, end sessions."""

    ACTIONS = [("deactivate", _("Deactivate")), ("activate", _("Reactivate")), ("unlock", _("Unlock")),
               ("reset_2fa", _("Reset second factor")), ("end_sessions", _("End sessions"))]

    action = forms.ChoiceField(choices=ACTIONS)
    user = forms.IntegerField(min_value=1)


class AuditFilterForm(forms.Form):
    """Search the audit log: every field is optional; dates are days in Asia/Shanghai."""

    username = forms.CharField(label=_("User"), required=False, max_length=150)
    action = forms.CharField(label=_("Action"), required=False, max_length=60,
                             help_text=_("Such as person.viewed or login.failed; a prefix such as login. finds all."))
    person = forms.UUIDField(label=_("Person ID"), required=False)
    date_from = forms.DateField(label=_("From"), required=False, widget=forms.DateInput(attrs={"type": "date"}))
    date_to = forms.DateField(label=_("Until"), required=False, widget=forms.DateInput(attrs={"type": "date"}))
    outcome = forms.ChoiceField(label=_("Outcome"), required=False, choices=[("", _("any")), *Outcome.choices])

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        start: date | None = data.get("date_from")
        end: date | None = data.get("date_to")
        if start and end and end < start:
            self.add_error("date_to", _("The end date is before the start date."))
        return data

    def filters(self) -> dict[str, Any]:
        """The valid, non-empty filters (an invalid field is reported and ignored)."""
        data = getattr(self, "cleaned_data", {})
        return {k: v for k, v in data.items() if v not in (None, "")}


class ReauthForm(forms.Form):
    """The password again, and a code when the account has a second factor (core/reauth.py)."""

    password = forms.CharField(label=_("Password"), strip=False, max_length=4096, widget=forms.PasswordInput(
        attrs={"autocomplete": "current-password", "autofocus": True}))
    code = forms.CharField(label=_("Code from your authenticator app, or a recovery code"), max_length=32,
                           widget=forms.TextInput(attrs={"inputmode": "numeric", "autocomplete": "one-time-code"}))
    next = forms.CharField(required=False, widget=forms.HiddenInput)

    def __init__(self, *args: Any, with_code: bool, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if not with_code:
            del self.fields["code"]


class SessionEndForm(forms.Form):
    session = forms.UUIDField()


class PasswordChangeForm(forms.Form):
    """The current password and the new one twice; the new one must pass the password policy
    (``AUTH_PASSWORD_VALIDATORS``, the profile of ``LIANGYI_PASSWORD_PROFILE``) and differ from
    the current one. The current password is checked by the service, not here: a wrong one
    counts towards the lockout and is audited."""

    current_password = forms.CharField(label=_("Current password"), strip=False, max_length=4096,
                                       widget=forms.PasswordInput(attrs={"autocomplete": "current-password",
                                                                         "autofocus": True}))
    new_password1 = forms.CharField(label=_("New password"), strip=False, max_length=4096,
                                    widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
                                    help_text=password_validation.password_validators_help_text_html)
    new_password2 = forms.CharField(label=_("New password again"), strip=False, max_length=4096,
                                    widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
                                    help_text=_("Type the same password again, to catch typing mistakes."))

    def __init__(self, *args: Any, user: User, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.user = user

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        current, new, again = data.get("current_password"), data.get("new_password1"), data.get("new_password2")
        if new and again and new != again:
            self.add_error("new_password2", _("The two new passwords differ: type the same password twice."))
        elif new and current and new == current:
            # Compared with what was typed, not with the stored hash: checking the stored password here
            # would be a guess that neither counts towards the lockout nor is audited.
            self.add_error("new_password1", _("The new password is the same as the current one: choose another."))
        elif new:
            try:
                password_validation.validate_password(new, self.user)
            except ValidationError as error:
                self.add_error("new_password1", error)
        return data
