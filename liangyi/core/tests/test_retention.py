"""Log retention: the period is the rule (网络安全法 第二十一条), and no purge drops a day inside the window."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import time
from datetime import date, timedelta
from pathlib import Path

import pytest
from django.conf import settings

from liangyi.core import retention, rules

TODAY = date(2026, 11, 29)


def record(message: str) -> logging.LogRecord:
    return logging.LogRecord("liangyi.test", logging.WARNING, __file__, 1, message, None, None)


class TestTheRule:
    def test_it_is_six_months_by_law_with_its_source(self):
        rule = rules.load("national").rule(retention.RULE)
        assert rule.value == 6 and rule.unit == "months" and rule.grade == "law"
        assert "网络安全法" in rule.source and "第二十一条" in rule.source
        assert retention.months(rules.load("national")) == 6

    def test_a_province_may_keep_longer(self, tmp_path):
        path = tmp_path / "longer.toml"
        path.write_text('[rules.log_retention_months]\nvalue = 12\nwhy = "provincial rule: one year"\n')
        assert retention.months(rules.load("national", str(path))) == 12


class TestTheGuard:
    def test_a_day_inside_the_window_is_refused(self):
        assert retention.window_start(TODAY, 6) == date(2026, 5, 29)
        retention.assert_purgeable(date(2026, 5, 28), today=TODAY, period_months=6)
        for day in (date(2026, 5, 29), date(2026, 8, 1), TODAY - timedelta(days=1), TODAY):
            with pytest.raises(retention.RetentionError):
                retention.assert_purgeable(day, today=TODAY, period_months=6)

    def test_month_ends_follow_the_civil_code(self):
        assert retention.window_start(date(2026, 8, 31), 6) == date(2026, 2, 28)

    def test_less_than_a_month_is_refused(self, tmp_path):
        with pytest.raises(retention.RetentionError):
            retention.RetainingFileHandler(str(tmp_path / "x.log"), retention_months=0)


class TestRotation:
    def test_only_files_whose_day_lies_before_the_window_expire(self, tmp_path):
        handler = retention.RetainingFileHandler(str(tmp_path / "liangyi.log"), retention_months=6)
        inside = [date(2026, 5, 29) + timedelta(days=i) for i in range(185)]  # more files than days in the window
        for day in [date(2025, 1, 1), date(2026, 5, 28), *inside]:
            (tmp_path / f"liangyi.log.{day:%Y-%m-%d}").write_text("x")
        for other in ("liangyi.log", "liangyi.log.bak", "other.log.2020-01-01", "liangyi.log.2026-13-01"):
            (tmp_path / other).write_text("x")
        expired = [Path(p).name for p in handler.expired(today=TODAY)]
        assert expired == ["liangyi.log.2025-01-01", "liangyi.log.2026-05-28"]

    def test_two_processes_rotating_the_same_file_lose_no_line(self, tmp_path):
        base = tmp_path / "liangyi.log"
        old = date.today() - timedelta(days=400)
        kept = date.today() - timedelta(days=20)
        (tmp_path / f"liangyi.log.{old:%Y-%m-%d}").write_text("old\n")
        (tmp_path / f"liangyi.log.{kept:%Y-%m-%d}").write_text("kept\n")
        a = retention.RetainingFileHandler(str(base), retention_months=6)
        b = retention.RetainingFileHandler(str(base), retention_months=6)
        try:
            a.emit(record("a1"))
            b.emit(record("b1"))
            a.rolloverAt = b.rolloverAt = int(time.time()) - 1  # midnight has passed for both
            a.emit(record("a2"))  # a rotates first
            b.emit(record("b2"))  # b finds the day rotated already and follows
            b.emit(record("b3"))
        finally:
            a.close()
            b.close()
        day = date.fromtimestamp(time.time() - 1 - 86400)
        rotated = tmp_path / f"liangyi.log.{day:%Y-%m-%d}"
        assert rotated.read_text().split() == ["a1", "b1"]
        assert base.read_text().split() == ["a2", "b2", "b3"]
        assert not (tmp_path / f"liangyi.log.{old:%Y-%m-%d}").exists()  # before the window: gone
        assert (tmp_path / f"liangyi.log.{kept:%Y-%m-%d}").read_text() == "kept\n"


class TestSettings:
    def test_without_a_log_dir_there_is_no_file(self):
        assert "file" not in settings.LOGGING["handlers"]

    def test_the_config_takes_the_period_from_the_rule_set(self, tmp_path):
        base = {"version": 1, "handlers": {"console": {"class": "logging.StreamHandler"}},
                "root": {"handlers": ["console"]}}
        config = retention.logging_config(base, log_dir=str(tmp_path), ruleset="national")
        assert config["handlers"]["file"]["retention_months"] == 6
        assert config["root"]["handlers"] == ["console", "file"] and base["root"]["handlers"] == ["console"]
        override = tmp_path / "longer.toml"
        override.write_text('[rules.log_retention_months]\nvalue = 9\nwhy = "provincial rule"\n')
        config = retention.logging_config(base, log_dir=str(tmp_path), ruleset="national", override=str(override))
        assert config["handlers"]["file"]["retention_months"] == 9
        assert retention.logging_config(base, log_dir="", ruleset="national") is base

    def test_liangyi_log_dir_turns_the_daily_file_on(self, tmp_path):
        script = ("import django, json, logging; django.setup(); "
                  "h = [h for h in logging.getLogger().handlers if hasattr(h, 'retention_months')][0]; "
                  "logging.getLogger('liangyi').warning('hello from the test'); "
                  "print(json.dumps([h.retention_months, h.when, h.baseFilename]))")
        env = {**os.environ, "LIANGYI_LOG_DIR": str(tmp_path / "log"), "DJANGO_SETTINGS_MODULE": "liangyi.settings"}
        out = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True,  # noqa: S603
                             cwd=settings.BASE_DIR, timeout=120)
        months, when, filename = json.loads(out.stdout.strip().splitlines()[-1])
        assert (months, when, filename) == (6, "MIDNIGHT", str(tmp_path / "log" / "liangyi.log"))
        assert "hello from the test" in (tmp_path / "log" / "liangyi.log").read_text()
