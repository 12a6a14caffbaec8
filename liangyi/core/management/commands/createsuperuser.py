"""``manage.py createsuperuser``: Django's own, making an ``admin`` over every jurisdiction.

The user model's default role is ``community_worker``; a superuser made by this command gets
role ``admin`` and no jurisdiction (= every jurisdiction), and its creation is audited.
"""

from __future__ import annotations

from django.contrib.auth.management.commands import createsuperuser
from django.db import transaction

from liangyi.core import audit
from liangyi.core.models import Role, User


class Command(createsuperuser.Command):
    help = "Create an administrator (role admin) over every jurisdiction."

    def handle(self, *args, **options):
        database = options["database"]
        # Django builds the user deep inside its handle (interactively or not); the new account
        # is the superuser with a primary key above every one that existed before.
        last = User.objects.using(database).order_by("-pk").values_list("pk", flat=True).first() or 0
        super().handle(*args, **options)
        with transaction.atomic(using=database):
            for user in User.objects.using(database).filter(pk__gt=last, is_superuser=True):
                user.role = Role.ADMIN
                user.jurisdiction = None
                user.save(update_fields=["role", "jurisdiction"])
                audit.record(None, "user.created", user, username=user.username, role=Role.ADMIN,
                             jurisdiction=None, via="createsuperuser")
