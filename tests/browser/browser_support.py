"""Helpers of the browser tests (a module with a unique name: importing from
``conftest`` breaks when several conftest folders are collected together)."""

from __future__ import annotations

PASSWORDS = {"clerk": "clerk password 1234", "admin": "admin password 1234",
             "records-manager": "records password 1234", "auditor": "auditor password 1234"}


def sign_in(page, base: str, name: str) -> None:  # noqa: ANN001
    page.goto(f"{base}/login")
    page.get_by_label("User name").fill(name)
    page.get_by_label("Password").fill(PASSWORDS[name])
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(lambda url: "/login" not in url)
