"""``manage.py audit_verify``: check the audit log's hash chain (exit 0 intact, 1 broken)."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from liangyi.core import audit
from liangyi.core.models import AuditEntry, AuditHead


class Command(BaseCommand):
    help = "Check the audit log's hash chain. Exit 0 when intact; exit 1 naming the first broken entry."

    def handle(self, *args, **options):
        intact, broken, checked = audit.verify()
        if intact:
            self.stdout.write(f"Audit log intact: {checked} entries checked.")
            return
        if broken is not None:
            raise CommandError(
                f"Audit log broken at entry {broken.pk} ({broken.at:%Y-%m-%d %H:%M:%S} UTC, {broken.action}): "
                f"its content or its link to the entry before it was changed, or an entry before it was removed. "
                f"Entries before it that verify: {checked}.",
                returncode=1,
            )
        # Every entry links up, but the head remembers more: the newest entries were removed.
        last = AuditEntry.objects.order_by("-id").first()
        head = AuditHead.objects.filter(pk=1).first()
        raise CommandError(
            f"Audit log broken after entry {last.pk if last else 'none'}: the newest entries were removed "
            f"({checked} entries found, the chain head records {head.count if head else '?'}).",
            returncode=1,
        )
