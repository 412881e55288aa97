"""The role × route matrix, generated from the permission table and app.url_map.

Every rule of the app, for every role and for an anonymous visitor, is either
allowed (anything but 401/403/a redirect to sign-in) or refused, exactly as
``web.permissions.PERMISSIONS`` says. A route that declared no permission
fails the first test, so no route escapes.
"""

from __future__ import annotations

import pytest

from web.permissions import PERMISSIONS, PUBLIC, ROLES, permission_of

DUMMY = {"document_id": "0" * 32, "batch_id": "0" * 32, "entry_id": "0" * 32,
         "destruction_id": "0" * 32, "hold_id": "0" * 32, "fmt": "pdf", "mrn": "TST000000",
         "number": 1, "filename": "app.css", "seq": 1, "name": "nobody-here"}


def _rules(app):  # noqa: ANN001, ANN202
    for rule in app.url_map.iter_rules():
        methods = sorted(rule.methods - {"HEAD", "OPTIONS"})
        for method in methods:
            path = rule.rule
            for arg in rule.arguments:
                path = path.replace(f"<int:{arg}>", str(DUMMY[arg])).replace(
                    f"<path:{arg}>", str(DUMMY[arg])).replace(f"<{arg}>", str(DUMMY[arg]))
            yield rule, method, path


def _permission(app, rule) -> str:  # noqa: ANN001
    if rule.endpoint == "static":
        return PUBLIC
    return permission_of(app.view_functions[rule.endpoint])


def _refused(response, api: bool) -> bool:
    if api:
        return response.status_code in (401, 403)
    if response.status_code == 403:
        return True
    return response.status_code == 302 and "/login" in response.headers["Location"]


def test_every_route_declares_a_known_permission(app) -> None:  # noqa: ANN001
    missing = [rule.rule for rule, _, _ in _rules(app) if _permission(app, rule) is None]
    assert not missing, f"routes without a permission: {missing}"
    used = {_permission(app, rule) for rule, _, _ in _rules(app)}
    assert used - {PUBLIC} <= set(PERMISSIONS)
    assert len(list(_rules(app))) >= 30  # the whole UI and API, not a stub


@pytest.mark.parametrize("role", [None, *ROLES])
def test_role_route_matrix(app, as_role, role: str | None) -> None:  # noqa: ANN001
    client = as_role(role)
    wrong = []
    for rule, method, path in _rules(app):
        if rule.endpoint == "auth.logout":
            continue  # would end the session of the rest of the loop; PUBLIC anyway
        permission = _permission(app, rule)
        expected = permission == PUBLIC or (role is not None and role in PERMISSIONS[permission])
        response = client.open(path, method=method)
        refused = _refused(response, path.startswith("/api/"))
        response.close()
        if expected == refused or response.status_code >= 500:
            wrong.append(f"{method} {path}: {response.status_code} (expected "
                         f"{'allowed' if expected else 'refused'})")
    assert not wrong, "\n".join(wrong)


def test_undeclared_route_is_refused(app, as_role) -> None:  # noqa: ANN001
    app.add_url_rule("/undeclared", "undeclared", lambda: "secret")
    client = as_role("admin")
    with client.get("/undeclared") as response:
        assert response.status_code == 500 and b"secret" not in response.data
