"""Paging for the REST API (its own module: DRF imports the pagination class from settings while
its own generics are still loading, so it must not import liangyi.core.api)."""

from __future__ import annotations

from django.utils.translation import gettext_lazy
from rest_framework.exceptions import ValidationError
from rest_framework.pagination import LimitOffsetPagination
from rest_framework.request import Request


class StrictLimitOffsetPagination(LimitOffsetPagination):
    """DRF's limit/offset paging, but a malformed ``limit`` or ``offset`` is a 400, not silently 0.

    A client that sends ``offset=abc`` has a bug; answering with the first page hides it. A page
    holds at most ``max_limit`` rows (a larger ``limit`` gets that many), and an offset beyond
    ``MAX_OFFSET`` is a 400: the database's integers end there, and no registry is that long.
    """

    max_limit = 500
    MAX_OFFSET = 2**31 - 1

    def _strict(self, request: Request, name: str) -> None:
        raw = request.query_params.get(name)
        if raw is not None and not (raw.isdigit() and (name == "offset" or int(raw) > 0)):
            raise ValidationError({name: [gettext_lazy("A whole number is expected.") if name == "offset"
                                          else gettext_lazy("A whole number above 0 is expected.")]})
        if name == "offset" and raw is not None and int(raw) > self.MAX_OFFSET:
            raise ValidationError({name: [gettext_lazy("The offset lies beyond the end of any list.")]})
        if len(request.query_params.getlist(name)) > 1:
            raise ValidationError({name: [gettext_lazy("Give it once.")]})

    def paginate_queryset(self, queryset, request, view=None):
        self._strict(request, self.limit_query_param)
        self._strict(request, self.offset_query_param)
        return super().paginate_queryset(queryset, request, view)
