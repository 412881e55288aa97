"""Application factory (Flask tutorial style): ``create_app(test_config=None)``.

Security lives here, in one place: every request is authorised in
``_authorize`` against the permission its view declared (deny by default),
sessions end after inactivity, every form carries a CSRF token, cookies are
HttpOnly/SameSite (and Secure in production), and a strict CSP forbids inline
scripts and styles.
"""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import urlsplit

from flask import (
    Flask,
    abort,
    g,
    jsonify,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_wtf.csrf import CSRFError, CSRFProtect
from werkzeug.middleware.proxy_fix import ProxyFix

from chartvault import logs
from chartvault.errors import ChartvaultError
from chartvault.settings import Settings, get_settings
from web.permissions import PUBLIC, allowed, permission_of

CSP = ("default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
       "object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'")

csrf = CSRFProtect()


def create_app(test_config: dict[str, Any] | None = None,
               settings: Settings | None = None) -> Flask:
    settings = settings or get_settings()
    app = Flask(__name__)
    production = settings.environment == "production"
    app.config.update(
        SECRET_KEY=settings.secret_key, CHARTVAULT_SETTINGS=settings,
        SESSION_COOKIE_NAME="__Host-chartvault" if production else "chartvault",
        SESSION_COOKIE_HTTPONLY=True, SESSION_COOKIE_SAMESITE="Strict",
        SESSION_COOKIE_SECURE=production,
        SESSION_TIMEOUT_SECONDS=settings.session_timeout_minutes * 60,
        MAX_CONTENT_LENGTH=settings.max_file_mb * 1024 * 1024 * 4,
        WTF_CSRF_TIME_LIMIT=None,  # the session's inactivity limit bounds it instead
    )
    if test_config:
        app.config.update(test_config)
    if settings.trusted_proxies:  # the client's address, scheme and host as the proxy saw them
        hops = settings.trusted_proxies
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops)
    csrf.init_app(app)
    logs.init_flask(app)  # a request id in every log line, one access line per request
    _register_blueprints(app)
    _register_handlers(app)

    @app.get("/healthz")
    def healthz():  # noqa: ANN202
        return {"status": "ok"}

    healthz.chartvault_permission = PUBLIC
    return app


def _register_blueprints(app: Flask) -> None:
    from web import (
        api,
        audit_views,
        auth,
        batches,
        dashboard,
        documents,
        patients,
        queues,
        retention_views,
        search_views,
    )

    for module in (auth, dashboard, batches, search_views, documents, patients, queues,
                   retention_views, audit_views):
        app.register_blueprint(module.bp)
    csrf.exempt(api.bp)  # token clients; cookie clients are checked in api._csrf
    app.register_blueprint(api.bp)


def _wants_json() -> bool:
    return request.path.startswith("/api/")


def _error(code: str, message: str, status: int):  # noqa: ANN202
    if _wants_json():
        return jsonify(error={"code": code, "message": message, "retryable": False}), status
    return render_template("error.html", code=code, message=message), status


def _load_user() -> None:
    from chartvault.db import session_scope
    from web import accounts
    from web.common import settings

    g.user, g.via, g.timed_out = None, "web", False
    header = request.headers.get("Authorization", "")
    if _wants_json() and header.lower().startswith("bearer "):
        with session_scope(settings()) as db:
            g.user = accounts.by_token(db, header[7:].strip())
        g.via = "api"
        return
    user_id = session.get("uid")
    if user_id is None:
        return
    now = time.time()
    if now - session.get("seen", 0) > g.timeout_seconds:
        session.clear()
        g.timed_out = True
        return
    with session_scope(settings()) as db:
        g.user = accounts.by_id(db, user_id)
    if g.user is None:
        session.clear()
        return
    g.via = "session"
    if not _wants_json():  # background polling is not activity
        session["seen"] = now


def _authorize():  # noqa: ANN202
    from flask import current_app

    g.timeout_seconds = current_app.config["SESSION_TIMEOUT_SECONDS"]
    if request.endpoint is None:
        return None  # 404 / 405 follow
    if request.endpoint == "static":
        g.user = None
        return None
    permission = permission_of(current_app.view_functions.get(request.endpoint))
    if permission is None:  # deny by default: a route that declared nothing is a bug
        abort(500)
    _load_user()
    if permission == PUBLIC:
        return None
    if g.user is None:
        if _wants_json():
            return _error("unauthenticated", "send Authorization: Bearer TOKEN", 401)
        reason = "timeout" if g.timed_out else None
        return redirect(url_for("auth.login", next=_local(request.full_path), reason=reason))
    if not allowed(g.user.role, permission):
        return _error("forbidden", f"the {g.user.role} role may not do this", 403)
    return None


def _local(path: str) -> str:
    parts = urlsplit(path)
    if parts.scheme or parts.netloc or not path.startswith("/") or path.startswith("//"):
        return "/"
    return path.rstrip("?")


def _register_handlers(app: Flask) -> None:
    app.before_request(_authorize)

    @app.errorhandler(ChartvaultError)
    def _chartvault_error(exc: ChartvaultError):  # noqa: ANN202
        if _wants_json():
            return jsonify(error=exc.as_dict()), exc.http_status
        return render_template("error.html", code=exc.code, message=exc.message
                               ), exc.http_status

    @app.errorhandler(CSRFError)
    def _csrf_error(exc: CSRFError):  # noqa: ANN202
        return _error("csrf", "the form expired or was not sent by this site: reload the page",
                      400)

    for status, code in ((400, "bad_request"), (404, "not_found"), (405, "method_not_allowed"),
                         (413, "too_large"), (500, "internal_error")):
        app.register_error_handler(status, _http_error(code, status))

    @app.after_request
    def _security_headers(response):  # noqa: ANN001, ANN202
        response.headers.setdefault("Content-Security-Policy", CSP)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        # same-origin, not no-referrer: over HTTPS Flask-WTF refuses a form without a
        # same-site Referer; no other site ever gets one (URLs carry names and MRNs)
        response.headers.setdefault("Referrer-Policy", "same-origin")
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("Cache-Control", "no-store")
        if app.config["SESSION_COOKIE_SECURE"]:
            response.headers.setdefault("Strict-Transport-Security", "max-age=31536000")
        return response

    @app.context_processor
    def _globals():  # noqa: ANN202
        user = g.get("user")
        return {"user": user,
                "can": lambda permission: user is not None and allowed(user.role, permission),
                "timeout_seconds": int(app.config["SESSION_TIMEOUT_SECONDS"])}


def _http_error(code: str, status: int):  # noqa: ANN202
    def handler(exc):  # noqa: ANN001, ANN202
        message = getattr(exc, "description", None) or code.replace("_", " ")
        if status == 500:
            message = "internal error"
        return _error(code, message, status)

    return handler
