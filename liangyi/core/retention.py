"""How long logs are kept, and the one guard every purge of logs goes through.

The period is the rule ``log_retention_months`` (网络安全法 第二十一条: network logs are kept no
less than six months). The audit log in the database is never purged by the application at all
(``AuditEntry`` refuses updates and deletes); the application's log files rotate daily and a
rotated file is deleted only when its whole day lies before the window (``RetainingFileHandler``).
Anything that ever removes log data asks ``assert_purgeable`` first. See docs/security.md.

Imported by the settings (``logging_config``): nothing here may touch models or configured settings.
"""

from __future__ import annotations

import logging.handlers
import os
import re
import time
from datetime import date, datetime
from typing import Any

RULE = "log_retention_months"
_DAY_SUFFIX = re.compile(r"^(\d{4})-(\d{2})-(\d{2})$")


class RetentionError(Exception):
    """Removing this would drop log entries inside the legal retention window."""


def months(ruleset: Any = None) -> int:
    """The retention period in months, from the active rule set (or the one given)."""
    if ruleset is None:
        from liangyi.core import rules

        ruleset = rules.current()
    value = int(ruleset.value(RULE))
    if value < 1:
        raise RetentionError(f"{RULE} must be at least one month, not {value}")
    return value


def window_start(today: date, period_months: int) -> date:
    """The first day that must still be kept: ``today`` moved back by the period (Civil Code months)."""
    from liangyi.core.periods import add_months

    return add_months(today, -period_months)


def assert_purgeable(last_day: date, *, today: date, period_months: int) -> None:
    """Raise unless every entry dated ``last_day`` or earlier lies before the retention window."""
    start = window_start(today, period_months)
    if last_day >= start:
        raise RetentionError(f"entries of {last_day} are inside the retention window (kept from {start} on)")


class RetainingFileHandler(logging.handlers.TimedRotatingFileHandler):
    """A log file rotated at midnight into ``<file>.YYYY-MM-DD``; a rotated file is deleted only when
    its day lies before the retention window, by date, never by count (a quiet day leaves no file,
    so counting files could drop days inside the window).

    Several processes (gunicorn workers, the worker, the scheduler) may share the file: the first
    past midnight renames it with a hard link (atomic: a second process finds the day's name taken
    and leaves it alone), and every process notices by the inode that its open file is no longer
    the current one and reopens, so no line is lost or overwritten.
    """

    def __init__(self, filename: str, *, retention_months: int, encoding: str = "utf-8") -> None:
        if retention_months < 1:
            raise RetentionError(f"retention must be at least one month, not {retention_months}")
        self.retention_months = retention_months
        os.makedirs(os.path.dirname(os.path.abspath(filename)), mode=0o750, exist_ok=True)
        super().__init__(filename, when="midnight", backupCount=0, encoding=encoding, delay=True)
        self._inode: tuple[int, int] | None = None

    def _open(self):
        stream = super()._open()
        st = os.fstat(stream.fileno())
        self._inode = (st.st_dev, st.st_ino)
        return stream

    def emit(self, record: logging.LogRecord) -> None:
        if self.stream is not None and self._moved():
            self.stream.close()
            self.stream = None  # reopened by the base class on this emit
        super().emit(record)

    def _moved(self) -> bool:
        try:
            st = os.stat(self.baseFilename)
        except FileNotFoundError:
            return True
        return (st.st_dev, st.st_ino) != self._inode

    def doRollover(self) -> None:
        day = datetime.fromtimestamp(self.rolloverAt - self.interval).date()
        target = f"{self.baseFilename}.{day:%Y-%m-%d}"
        if self.stream is not None:
            self.stream.close()
            self.stream = None
        try:
            os.link(self.baseFilename, target)
        except (FileExistsError, FileNotFoundError):
            pass  # another process rotated this day already, or nothing was written that day
        except OSError:
            if not os.path.exists(target):  # a file system without hard links: rename, almost as safe
                os.replace(self.baseFilename, target)
        else:
            os.unlink(self.baseFilename)
        for path in self.expired(today=date.today()):
            os.remove(path)
        self.rolloverAt = self.computeRollover(int(time.time()))

    def expired(self, *, today: date) -> list[str]:
        """Rotated files whose whole day lies before the retention window (the only ones deleted)."""
        folder, base = os.path.split(self.baseFilename)
        found = []
        for name in os.listdir(folder):
            if not name.startswith(base + "."):
                continue
            m = _DAY_SUFFIX.match(name[len(base) + 1:])
            if not m:
                continue
            try:
                day = date(int(m[1]), int(m[2]), int(m[3]))
                assert_purgeable(day, today=today, period_months=self.retention_months)
            except (ValueError, RetentionError):
                continue
            found.append(os.path.join(folder, name))
        return sorted(found)


def logging_config(base: dict[str, Any], *, log_dir: str, ruleset: str, override: str = "") -> dict[str, Any]:
    """``base`` plus, when ``log_dir`` is set, a daily-rotated ``liangyi.log`` kept for the period of the
    rule set named (the settings cannot ask ``rules.current()``: it reads the settings)."""
    if not log_dir:
        return base
    from liangyi.core import rules

    config = {**base, "handlers": dict(base.get("handlers", {})), "root": dict(base.get("root", {}))}
    config["handlers"]["file"] = {
        "()": RetainingFileHandler,
        "filename": os.path.join(log_dir, "liangyi.log"),
        "retention_months": months(rules.load(ruleset, override)),
        "formatter": "stamped",
    }
    config["formatters"] = {**base.get("formatters", {}),
                            "stamped": {"format": "%(asctime)s %(levelname)s %(process)d %(name)s %(message)s"}}
    config["root"]["handlers"] = [*config["root"].get("handlers", []), "file"]
    return config
