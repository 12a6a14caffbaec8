"""Chinese first, English complete: every message of the code is translated to zh-Hans."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from django.conf import settings
from django.test import Client

PO = Path(settings.BASE_DIR) / "liangyi" / "locale" / "zh_Hans" / "LC_MESSAGES" / "django.po"


def entries(path: Path) -> list[tuple[str, str, bool]]:
    """(msgid, msgstr, fuzzy) for each entry of a .po file (plural forms joined)."""
    out: list[tuple[str, str, bool]] = []
    msgid = msgstr = None
    fuzzy = False
    current = None
    for line in path.read_text(encoding="utf-8").splitlines() + [""]:
        if line.startswith("#,") and "fuzzy" in line:
            fuzzy = True
        elif line.startswith("msgid "):
            if msgid is not None:
                out.append((msgid, msgstr or "", fuzzy))
                fuzzy = False if not line.startswith("#") else fuzzy
            msgid, msgstr, current = _unquote(line[6:]), None, "id"
        elif line.startswith("msgid_plural "):
            current = "plural"
        elif line.startswith("msgstr"):
            text = _unquote(line.split(" ", 1)[1])
            msgstr = (msgstr or "") + text
            current = "str"
        elif line.startswith('"'):
            if current == "id":
                msgid = (msgid or "") + _unquote(line)
            elif current == "str":
                msgstr = (msgstr or "") + _unquote(line)
        elif not line.strip() and msgid is not None:
            out.append((msgid, msgstr or "", fuzzy))
            msgid = msgstr = None
            fuzzy = False
            current = None
    return [e for e in out if e[0]]  # drop the header entry


def _unquote(text: str) -> str:
    return text.strip()[1:-1]


def test_every_message_has_a_chinese_translation():
    untranslated = [msgid for msgid, msgstr, fuzzy in entries(PO) if not msgstr or fuzzy]
    assert untranslated == []


def test_the_catalogue_holds_every_message_in_the_code(tmp_path):
    """Extract the messages afresh from a copy of the code and compare with the catalogue."""
    copy = tmp_path / "liangyi"
    shutil.copytree(Path(settings.BASE_DIR) / "liangyi", copy,
                    ignore=shutil.ignore_patterns("__pycache__", "*.mo", "tests"))
    shutil.copy(Path(settings.BASE_DIR) / "manage.py", tmp_path / "manage.py")
    (copy / "locale" / "zh_Hans" / "LC_MESSAGES" / "django.po").unlink()
    subprocess.run(  # noqa: S603 (our own interpreter and manage.py)
        [sys.executable, str(tmp_path / "manage.py"), "makemessages", "-l", "zh_Hans", "--no-location", "-v", "0"],
        cwd=tmp_path / "liangyi", check=True, env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(tmp_path)},
    )
    fresh = {m for m, _, _ in entries(copy / "locale" / "zh_Hans" / "LC_MESSAGES" / "django.po")}
    ours = {m for m, _, _ in entries(PO)}
    assert sorted(fresh - ours) == []


def test_pages_are_in_chinese_by_default(db, project_language):
    assert project_language == "zh-hans"
    response = Client().get("/login/")
    assert response.status_code == 200
    html = response.content.decode()
    assert 'lang="zh-hans"' in html
    assert "登录" in html


def test_a_browser_asking_for_english_still_gets_chinese_until_the_user_chooses(db, project_language):
    response = Client(headers={"accept-language": "en-US,en;q=0.9"}).get("/login/")
    assert "登录" in response.content.decode()


def test_english_is_one_click_away(db, project_language):
    client = Client()
    response = client.post("/i18n/setlang/", {"language": "en", "next": "/login/"}, follow=True)
    html = response.content.decode()
    assert 'lang="en"' in html
    assert "Log in" in html
