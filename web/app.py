"""Application factory (Flask tutorial style): ``create_app(test_config=None)``.

Security lives here, in one place: every request is authorised in
``_authorize`` against the permission its view declared (deny by default),
sessions end after inactivity, every form carries a CSRF token, cookies are
HttpOnly/SameSite (and Secure in production), and a strict CSP forbids inline
scripts and styles.
"""

from __future__ import annotations

from typing import Any

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
from werkzeug.exceptions import HTTPException
from werkzeug.middleware.proxy_fix import ProxyFix

from chartvault import logs
from chartvault.errors import ChartvaultError
from chartvault.settings import Settings, get_settings
from web import upload_guard
from web.permissions import PUBLIC, allowed, permission_of
from web.redirects import same_origin_path

CSP = ("default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
       "object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'")

csrf = CSRFProtect()


def create_app(test_config: dict[str, Any] | None = None,
               settings: Settings | None = None) -> Flask:
    settings = settings or get_settings()
    app = Flask(__name__)
    app.request_class = upload_guard.UploadRequest  # each file held to max_file_mb
    production = settings.environment == "production"
    app.config.update(
        SECRET_KEY=settings.secret_key, CHARTVAULT_SETTINGS=settings,
        SESSION_COOKIE_NAME="__Host-chartvault" if production else "chartvault",
        SESSION_COOKIE_HTTPONLY=True, SESSION_COOKIE_SAMESITE="Strict",
        SESSION_COOKIE_SECURE=production,
        SESSION_TIMEOUT_SECONDS=settings.session_timeout_minutes * 60,
        MAX_CONTENT_LENGTH=settings.max_batch_mb * 2**20,
        WTF_CSRF_TIME_LIMIT=None,  # the session's inactivity limit bounds it instead
    )
    if test_config:
        app.config.update(test_config)
    if settings.trusted_proxies:  # the client's address, scheme and host as the proxy saw them
        hops = settings.trusted_proxies
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops)
    logs.init_flask(app)  # a request id in every log line, one access line per request
    # Authorisation before Flask-WTF's CSRF check: that check reads the form, and nothing
    # may read a body before the sender is known (an anonymous upload is refused unread).
    app.before_request(_authorize)
    app.teardown_request(lambda _exc: upload_guard.release(app))
    csrf.init_app(app)
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
        users_views,
    )

    for module in (auth, dashboard, batches, search_views, documents, patients, queues,
                   retention_views, audit_views, users_views):
        app.register_blueprint(module.bp)
    csrf.exempt(api.bp)  # token clients; cookie clients are checked in api._csrf
    app.register_blueprint(api.bp)
    for view in app.view_functions.values():
        if upload_guard.is_upload(view):
            csrf.exempt(view)  # checked on the headers by upload_guard.admit instead


def _wants_json() -> bool:
    return request.path.startswith("/api/")


def _error(code: str, message: str, status: int):  # noqa: ANN202
    if _wants_json():
        return jsonify(error={"code": code, "message": message, "retryable": False}), status
    return render_template("error.html", code=code, message=message), status


def _load_user() -> None:
    from chartvault.db import session_scope
    from web import accounts, sessions
    from web.common import settings

    g.user, g.via, g.timed_out = None, "web", False
    header = request.headers.get("Authorization", "")
    if _wants_json() and header.lower().startswith("bearer "):
        with session_scope(settings()) as db:
            g.user = accounts.by_token(db, header[7:].strip())
        g.via = "api"
        return
    key = session.get("sid")
    if not key:
        return
    with session_scope(settings()) as db:
        # background polling (the batch page's) is not activity
        found = sessions.resolve(db, key, g.timeout_seconds, activity=not _wants_json())
        g.user = accounts.account(found.user) if found.user is not None else None
    if g.user is None:
        session.clear()
        g.timed_out = found.timed_out
        return
    g.via = "session"


def _authorize():  # noqa: ANN202
    from flask import current_app

    g.timeout_seconds = current_app.config["SESSION_TIMEOUT_SECONDS"]
    if request.endpoint is None:
        return None  # 404 / 405 follow
    if request.endpoint == "static":
        g.user = None
        return None
    view = current_app.view_functions.get(request.endpoint)
    if not upload_guard.is_upload(view):  # a form, not an upload: refused unread beyond it
        request.max_content_length = FORM_BODY_LIMIT
    permission = permission_of(view)
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
    if g.user.must_change_password and g.via == "session" \
            and request.endpoint not in _ONE_TIME_PASSWORD_OPENS:
        if _wants_json():
            return _error("password_change_required",
                          "choose your own password first (/account/password)", 403)
        return redirect(url_for("auth.password", next=_local(request.full_path)))
    if not allowed(g.user.role, permission):
        return _error("forbidden", f"the {g.user.role} role may not do this", 403)
    if upload_guard.is_upload(view):
        upload_guard.admit(current_app.config["CHARTVAULT_SETTINGS"])
    return None


FORM_BODY_LIMIT = 1 << 20  # every request body but an upload's (those: web.upload_guard)

# what a signed-in user whose password someone else chose may open
_ONE_TIME_PASSWORD_OPENS = frozenset({"auth.password", "auth.logout"})


def _local(path: str) -> str:
    return (same_origin_path(path) or "/").rstrip("?")


def _register_handlers(app: Flask) -> None:
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
                         (411, "length_required"), (413, "too_large"),
                         (429, "too_many_requests"), (500, "internal_error"),
                         (501, "not_implemented"), (502, "bad_gateway"),
                         (503, "unavailable"), (504, "gateway_timeout")):
        app.register_error_handler(status, _http_error(code, status))

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception):  # noqa: ANN202
        """Any other error: logged with its traceback, answered in the app's format
        (never the server's plain-text 500)."""
        if isinstance(exc, HTTPException):
            return _error(exc.name.lower().replace(" ", "_"), exc.description or exc.name,
                          exc.code or 500)
        app.logger.exception("unhandled error in %s", request.endpoint or "-")
        return _error("internal_error", "internal error: the event is logged; try again "
                      "or tell the administrator", 500)

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
