"""Forms of the person pages: they parse and render; the services decide (and say what is wrong).

A form shows only the fields of the field groups the user sees, so a hidden field is absent from
the page, not merely hidden. Masked fields (ID number, phone, addresses) are never filled in on
the edit form: leaving them blank keeps the stored value, so editing a record reveals nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from liangyi.core import access
from liangyi.core.errors import DomainError
from liangyi.core.models import Jurisdiction, Level, Role, User
from liangyi.people.fieldgroups import FIELD_GROUP, REVEALABLE
from liangyi.people.models import Education, Employment, MannerOfUse, Marital, Person, Status, mask_address

BLANK = [("", "—")]
DATE_HINT = _("Write dates as 2026-11-28.")


def _text(label: Any, *, required: bool = False, max_length: int | None = None, help_text: Any = "",
          placeholder: Any = "", required_attr: bool = False, **attrs: Any) -> forms.CharField:
    if placeholder:
        attrs["placeholder"] = placeholder
    if required_attr:
        attrs["required"] = True
    return forms.CharField(label=label, required=required, max_length=max_length, help_text=help_text,
                           widget=forms.TextInput(attrs=attrs))


def _area(label: Any, rows: int = 3) -> forms.CharField:
    return forms.CharField(label=label, required=False, widget=forms.Textarea(attrs={"rows": rows}))


def _select(label: Any, choices: Any, *, help_text: Any = "", required_attr: bool = False) -> forms.ChoiceField:
    attrs = {"required": True} if required_attr else {}
    return forms.ChoiceField(label=label, choices=choices, required=False, help_text=help_text,
                             widget=forms.Select(attrs=attrs))


def jurisdiction_choices(user: User, *, keep: Sequence[Jurisdiction | None] = ()) -> list[tuple[str, str]]:
    """Townships and villages in the user's reach (plus the record's current places, if elsewhere)."""
    places = list(access.visible(user, Jurisdiction).filter(level__in=[Level.TOWNSHIP, Level.VILLAGE])
                  .order_by("code"))
    codes = {j.code for j in places}
    places += [j for j in keep if j is not None and j.code not in codes]
    # A village is indented under its township; the code keeps the choice unambiguous.
    return [(j.code, f"{'　' if j.level == Level.VILLAGE else ''}{j.name} {j.code}") for j in places]


def worker_choices(user: User, *, keep: User | None = None) -> list[tuple[str, str]]:
    """Workers who can be responsible for a person in the user's reach."""
    qs = User.objects.filter(is_active=True, role__in=[Role.COMMUNITY_WORKER, Role.SOCIAL_WORKER])
    if user.scope_code:
        qs = qs.filter(jurisdiction__code__startswith=user.scope_code)
    workers = list(qs.select_related("jurisdiction").order_by("jurisdiction_id", "full_name", "username"))
    if keep is not None and keep not in workers:
        workers.append(keep)
    return [(w.username, f"{w.display_name} · {w.jurisdiction.name if w.jurisdiction else ''}") for w in workers]


class RecordForm(forms.Form):
    """Labels without a colon (Chinese forms put none); a service's DomainError beside its fields."""

    def __init__(self, *args: Any, **kwargs: Any):
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)

    def add_service_errors(self, error: DomainError) -> None:
        for field, messages in error.errors.items():
            target = field if field in self.fields else None  # '' and fields not on the form: on top
            for message in messages:
                self.add_error(target, str(message))


class PersonForm(RecordForm):
    """Register or edit a person: only the fields of the groups the user sees."""

    # (legend, fields) in the order of the page; a field missing from the form is skipped.
    FIELDSETS = (
        (_("Person"), ("name", "status", "responsible_worker")),
        (_("Identity"), ("id_number", "gender", "birth_date", "ethnicity", "aliases", "education",
                         "marital_status", "employment", "has_skill")),
        (_("Where the person lives"), ("household_jurisdiction", "household_address", "residence_jurisdiction",
                                       "residence_address", "phone")),
        (_("Drug history"), ("substances", "first_use_year", "manner_of_use")),
        (_("Health"), ("health_notes", "infectious_disease")),
        (_("Police"), ("police_notes",)),
    )

    version = forms.IntegerField(widget=forms.HiddenInput, required=False)
    # Required fields are checked by the service (its messages say what to write); the browser
    # is told too, through the widget's `required` attribute.
    name = _text(_("Name"), max_length=60, autocomplete="off", required_attr=True)
    status = _select(_("Status"), BLANK + Status.choices, required_attr=True)
    responsible_worker = _select(_("Responsible worker"), BLANK,
                                 help_text=_("The worker who looks after this person day to day."))
    id_number = _text(_("ID number"), max_length=30, autocomplete="off", spellcheck="false",
                      help_text=_("18 characters; a 15-digit legacy number is converted."))
    gender = _select(_("Gender"), BLANK + [("M", _("Male")), ("F", _("Female"))],
                     help_text=_("Leave empty to take it from the ID number."))
    birth_date = _text(_("Birth date"), max_length=10, placeholder="1980-05-17",
                       help_text=_("Leave empty to take it from the ID number."))
    ethnicity = _text(_("Ethnicity"), max_length=20)
    aliases = _text(_("Aliases"), max_length=200, help_text=_("Separate several with 、 or a comma."))
    education = _select(_("Education"), BLANK + Education.choices)
    marital_status = _select(_("Marital status"), BLANK + Marital.choices)
    employment = _select(_("Employment"), BLANK + Employment.choices)
    has_skill = _select(_("Has a skill or trade"), [("", _("unknown")), ("yes", _("yes")), ("no", _("no"))])
    household_jurisdiction = _select(_("Household registration"), BLANK, required_attr=True)
    household_address = _text(_("Household address"), max_length=200)
    residence_jurisdiction = _select(_("Residence"), BLANK,
                                     help_text=_("Leave empty when the person lives where registered."))
    residence_address = _text(_("Residence address"), max_length=200)
    phone = _text(_("Phone"), max_length=20, inputmode="tel", autocomplete="off")
    substances = _text(_("Substances"), max_length=200, help_text=_("Separate several with 、 or a comma."))
    first_use_year = _text(_("First-use year"), max_length=4, inputmode="numeric", placeholder="2015")
    manner_of_use = _select(_("Manner of use"), BLANK + MannerOfUse.choices)
    health_notes = _area(_("Health notes"))
    infectious_disease = _area(_("Infectious-disease status"), rows=2)
    police_notes = _area(_("Police notes"))

    def __init__(self, data: Any = None, *, user: User, person: Person | None = None, **kwargs: Any):
        self.user = user
        self.person = person
        if person is not None and data is None:
            kwargs.setdefault("initial", self.initial_for(person))
        elif person is None and data is None and user.role in (Role.COMMUNITY_WORKER, Role.SOCIAL_WORKER):
            kwargs.setdefault("initial", {"responsible_worker": user.username})  # who registers usually looks after
        super().__init__(data, **kwargs)
        for field, group in FIELD_GROUP.items():
            if not access.sees(user, group):
                del self.fields[field]
        keep = [person.household_jurisdiction, person.residence_jurisdiction] if person else []
        places = jurisdiction_choices(user, keep=keep)
        self.fields["household_jurisdiction"].choices = BLANK + places
        self.fields["residence_jurisdiction"].choices = BLANK + places
        self.fields["responsible_worker"].choices = BLANK + worker_choices(
            user, keep=person.responsible_worker if person else None)
        if person is None and "id_number" in self.fields:
            self.fields["id_number"].widget.attrs["required"] = True
        if person is not None:
            # The stored value stays unless something is typed; its masked form is the placeholder.
            for field in ("id_number", *REVEALABLE):
                if field in self.fields:
                    self.fields[field].widget.attrs["placeholder"] = self._masked(person, field)
                    self.fields[field].help_text = _("Leave empty to keep the current value.")

    @staticmethod
    def _masked(person: Person, field: str) -> str:
        if field == "id_number":
            return person.id_number_masked
        if field == "phone":
            return person.masked_phone
        if field == "birth_date":
            return person.masked_birth_date
        return mask_address(getattr(person, field))

    @staticmethod
    def initial_for(person: Person) -> dict[str, Any]:
        initial: dict[str, Any] = {
            "version": person.version,
            "name": person.name,
            "status": person.status,
            "responsible_worker": person.responsible_worker.username if person.responsible_worker else "",
            "gender": person.gender,
            "ethnicity": person.ethnicity,
            "aliases": "、".join(person.aliases or []),
            "education": person.education,
            "marital_status": person.marital_status,
            "employment": person.employment,
            "has_skill": {True: "yes", False: "no"}.get(person.has_skill, ""),
            "household_jurisdiction": person.household_jurisdiction_id,
            "residence_jurisdiction": person.residence_jurisdiction_id or "",
            "substances": "、".join(person.substances or []),
            "first_use_year": person.first_use_year or "",
            "manner_of_use": person.manner_of_use,
            "health_notes": person.health_notes,
            "infectious_disease": person.infectious_disease,
            "police_notes": person.police_notes,
        }
        return initial

    def fieldsets(self) -> list[tuple[Any, list[forms.BoundField]]]:
        out = []
        for legend, names in self.FIELDSETS:
            bound = [self[name] for name in names if name in self.fields]
            if bound:
                out.append((legend, bound))
        return out

    def service_data(self) -> dict[str, Any]:
        """What to hand the service: every shown field, except masked ones left empty on an edit."""
        data = {}
        for name, value in self.cleaned_data.items():
            if name == "version":
                continue
            if self.person is not None and name in ("id_number", *REVEALABLE) and not value:
                continue
            data[name] = value
        return data


class FamilyMemberForm(RecordForm):
    relation = _text(_("Relation"), required=True, max_length=20, placeholder=_("e.g. mother"))
    name = _text(_("Name"), required=True, max_length=60, autocomplete="off")
    phone = _text(_("Phone"), max_length=20, inputmode="tel", autocomplete="off")
    is_emergency_contact = forms.BooleanField(label=_("Emergency contact"), required=False)

    def clean_phone(self) -> str:
        phone = self.cleaned_data["phone"].replace(" ", "").replace("-", "")
        if phone and not (phone.lstrip("+").isdigit() and 7 <= len(phone.lstrip("+")) <= 15):
            raise forms.ValidationError(_("The phone number may contain only digits (7 to 15 of them)."))
        return phone


class PlanForm(RecordForm):
    summary = forms.CharField(
        label=_("Plan"), widget=forms.Textarea(attrs={"rows": 8}),
        help_text=_("Goals, support measures (job, insurance, housing, treatment) and who does what."),
    )
    review_on = forms.DateField(label=_("Review on"), required=False, input_formats=["%Y-%m-%d"],
                                widget=forms.DateInput(format="%Y-%m-%d", attrs={"placeholder": "2026-11-28"}),
                                help_text=DATE_HINT)
