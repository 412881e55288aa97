"""Application factory (Flask tutorial style): ``create_app(test_config=None)``."""

from __future__ import annotations

from typing import Any

from flask import Flask, jsonify, render_template, request

from chartvault.errors import ChartvaultError
from chartvault.settings import Settings, get_settings


def create_app(test_config: dict[str, Any] | None = None,
               settings: Settings | None = None) -> Flask:
    settings = settings or get_settings()
    app = Flask(__name__)
    app.config.update(SECRET_KEY=settings.secret_key, CHARTVAULT_SETTINGS=settings,
                      SESSION_COOKIE_HTTPONLY=True, SESSION_COOKIE_SAMESITE="Lax")
    if test_config:
        app.config.update(test_config)

    from web import search_views

    app.register_blueprint(search_views.bp)

    @app.errorhandler(ChartvaultError)
    def _chartvault_error(exc: ChartvaultError):  # noqa: ANN202
        if request.path.startswith("/api/"):
            return jsonify(error=exc.as_dict()), exc.http_status
        return render_template("error.html", error=exc), exc.http_status

    @app.after_request
    def _security_headers(response):  # noqa: ANN001, ANN202
        response.headers.setdefault(
            "Content-Security-Policy",
            "default-src 'self'; img-src 'self' data:; object-src 'none'; "
            "base-uri 'none'; frame-ancestors 'none'; form-action 'self'")
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "no-referrer")
        response.headers.setdefault("Cache-Control", "no-store")
        return response

    @app.get("/healthz")
    def healthz():  # noqa: ANN202
        return {"status": "ok"}

    return app
