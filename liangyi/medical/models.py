"""Medical insurance, year by year.

Basic medical insurance in China is paid per calendar year. Urban and rural residents
(城乡居民基本医疗保险) pay the next year's contribution in a collection period their province sets
each year; employees (职工基本医疗保险) are paid for through their employer every month. Families of
persons in rehab often pay late or skip it (DOMAIN.md, medical chain), so the office records each
year's status and helps with the renewal (an obligation, ``plans.py``).
"""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _

from liangyi.core.models import User
from liangyi.people.models import Person


class Scheme(models.TextChoices):
    RESIDENT = "resident", _("Urban and rural residents' medical insurance")
    EMPLOYEE = "employee", _("Employees' medical insurance")
    NONE = "none", _("Not insured")


class InsuranceYear(models.Model):
    """The person's medical insurance for one calendar year: the scheme, and when it was paid."""

    person = models.ForeignKey(Person, on_delete=models.CASCADE, related_name="insurance_years")
    year = models.PositiveSmallIntegerField(_("year covered"))
    scheme = models.CharField(_("scheme"), max_length=10, choices=Scheme.choices)
    paid_on = models.DateField(_("paid on"), null=True, blank=True)
    # Paid in whole or part by medical assistance (医疗救助资助参保), e.g. for minimum-living households.
    subsidised = models.BooleanField(_("contribution subsidised"), default=False)
    notes = models.CharField(_("notes"), max_length=200, blank=True)
    recorded_by = models.ForeignKey(User, null=True, on_delete=models.SET_NULL, related_name="+")
    recorded_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-year"]
        constraints = [models.UniqueConstraint(fields=["person", "year"], name="insurance_one_per_year")]
        verbose_name = _("insurance year")
        verbose_name_plural = _("insurance years")

    def __str__(self) -> str:
        return f"{self.year} {self.get_scheme_display()}"

    @property
    def insured(self) -> bool:
        return self.scheme != Scheme.NONE
