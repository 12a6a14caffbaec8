"""Run background tasks from Redis (REDIS_URL): ``manage.py ops_worker [--burst] [--queue NAME ...]``."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError
from django.db import connections
from django.tasks import task_backends

from liangyi.ops.backends import RQBackend


class Command(BaseCommand):
    help = "Run the background tasks queued in Redis (needs REDIS_URL). Stop with SIGTERM: the task at hand finishes."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--queue", action="append", dest="queues",
                            help="a queue to take tasks from (repeatable; default: every queue, 'default' first)")
        parser.add_argument("--burst", action="store_true", help="run what is queued, then stop")
        parser.add_argument("--in-process", action="store_true",
                            help="run tasks in this process instead of a fresh child per task (for debugging)")

    def handle(self, *args, queues: list[str] | None, burst: bool, in_process: bool, **options) -> None:
        backend = task_backends["default"]
        if not isinstance(backend, RQBackend):
            raise CommandError("REDIS_URL is not set: tasks run at once in the web process and need no worker.")
        worked = work(backend, queues=queues or sorted(backend.queues, key=lambda q: q != "default"),
                      burst=burst, in_process=in_process)
        if burst:
            self.stdout.write(f"worked: {worked}")


def work(backend: RQBackend, *, queues: list[str], burst: bool = False, in_process: bool = False) -> bool:
    from rq import SimpleWorker, Worker

    if not in_process:
        # A child per task starts each task with a clean memory and its own database connection;
        # the parent must hold none to hand down.
        connections.close_all()
    worker_class = SimpleWorker if in_process else Worker
    worker = worker_class([backend.queue(name) for name in queues], connection=backend.connection,
                          serializer=backend.queue(queues[0]).serializer)
    return worker.work(burst=burst, logging_level="WARNING")
