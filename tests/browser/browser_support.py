"""Helpers of the browser tests (a module with a unique name: importing from
``conftest`` breaks when several conftest folders are collected together)."""

from __future__ import annotations

PASSWORDS = {"clerk": "scanner meadow 4821", "admin": "keeper of keys 9173",
             "records-manager": "shelves and dates 5530", "auditor": "ledger lantern 2648"}


def sign_in(page, base: str, name: str) -> None:  # noqa: ANN001
    page.goto(f"{base}/login")
    page.get_by_label("User name").fill(name)
    page.get_by_label("Password").fill(PASSWORDS[name])
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(lambda url: "/login" not in url)
