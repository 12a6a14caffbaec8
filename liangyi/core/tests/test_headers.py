"""Content-Security-Policy: strict everywhere; only the API docs page may apply inline styles."""

from __future__ import annotations


def csp(client, url: str) -> dict[str, str]:
    header = client.get(url).headers["Content-Security-Policy"]
    return {part.split()[0]: part for part in (p.strip() for p in header.split(";")) if part}


def test_pages_allow_no_inline_script_or_style(client, db):
    policy = csp(client, "/login/")
    assert "'unsafe-inline'" not in policy["script-src"]
    assert "'unsafe-inline'" not in policy["style-src"]
    assert "'nonce-" in policy["script-src"]


def test_the_api_docs_page_may_style_inline_but_never_script_inline(client, db):
    policy = csp(client, "/api/docs/")
    assert "'unsafe-inline'" in policy["style-src"]
    assert "'unsafe-inline'" not in policy["script-src"]
    assert policy["frame-ancestors"] == "frame-ancestors 'none'"
