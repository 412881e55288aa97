"""The dashboard: aggregate figures only (no patient data), drawn as SVG bar charts."""

from __future__ import annotations

from datetime import date, timedelta

from flask import Blueprint, redirect, render_template, url_for
from sqlalchemy import case, extract, func, select

from chartvault.db import session_scope
from chartvault.models import Document, Page, QuarantineEntry, utcnow
from web.common import settings
from web.permissions import requires

bp = Blueprint("dashboard", __name__)

DAYS = 30


def figures(db) -> dict:  # noqa: ANN001
    """Pages per day (last 30 days), confidence histogram, types, retention due by year."""
    since = utcnow() - timedelta(days=DAYS - 1)
    per_day: dict[date, int] = {}
    for created, pages in db.execute(select(Document.created_at, Document.page_count).where(
            Document.created_at >= since.replace(hour=0, minute=0, second=0, microsecond=0))):
        per_day[created.date()] = per_day.get(created.date(), 0) + (pages or 0)
    today = utcnow().date()
    days = [today - timedelta(days=n) for n in range(DAYS - 1, -1, -1)]
    bucket = case(*[(Page.confidence < (n + 1) * 10, n) for n in range(9)], else_=9)
    histogram = dict(db.execute(select(bucket, func.count()).where(
        Page.confidence.is_not(None)).group_by(bucket)).all())
    live = Document.destroyed_at.is_(None)
    types = db.execute(select(Document.doc_type, func.count()).where(live)
                       .group_by(Document.doc_type).order_by(func.count().desc())).all()
    year = extract("year", Document.retain_until)
    due = db.execute(select(year, func.count()).where(live, Document.retain_until.is_not(None))
                     .group_by(year).order_by(year)).all()
    status = dict(db.execute(select(Document.status, func.count()).group_by(Document.status))
                  .all())
    return {
        "pages_per_day": [(d.strftime("%m-%d"), per_day.get(d, 0)) for d in days],
        "confidence": [(f"{n * 10}-{n * 10 + 9 if n < 9 else 100}", histogram.get(n, 0))
                       for n in range(10)],
        "types": [(t, n) for t, n in types],
        "retention_due": [(str(int(y)), n) for y, n in due],
        "status": status,
        "quarantine_open": db.scalar(select(func.count()).select_from(QuarantineEntry).where(
            QuarantineEntry.resolved_at.is_(None))) or 0,
        "review": db.scalar(select(func.count()).select_from(Document).where(
            Document.needs_review.is_(True), live)) or 0,
    }


def bars(series: list[tuple[str, int]], width: int = 600, height: int = 180) -> dict:
    """Geometry of a bar chart for the SVG template (no client-side drawing)."""
    peak = max((v for _, v in series), default=0) or 1
    pad = 24  # room for the first and last labels
    slot = (width - 2 * pad) / max(1, len(series))
    bar = min(slot * 0.8, 90)
    out = []
    for i, (label, value) in enumerate(series):
        centre = pad + i * slot + slot / 2
        tall = value / peak * (height - 20)
        out.append({"label": label, "value": value, "x": round(centre - bar / 2, 1),
                    "w": round(bar, 1), "h": round(tall, 1), "y": round(height - tall, 1),
                    "cx": round(centre, 1)})
    return {"width": width, "height": height, "label_every": max(1, len(series) // 8),
            "bars": out}


@bp.get("/")
@requires("dashboard")
def home():  # noqa: ANN201
    return redirect(url_for("dashboard.index"))


@bp.get("/dashboard")
@requires("dashboard")
def index():  # noqa: ANN201
    with session_scope(settings()) as db:
        data = figures(db)
    charts = [
        ("pages-per-day", "Pages ingested per day (last 30 days)", data["pages_per_day"]),
        ("confidence", "OCR confidence of pages (%)", data["confidence"]),
        ("types", "Documents by type", data["types"]),
        ("retention-due", "Documents whose retention ends, by year", data["retention_due"]),
    ]
    return render_template("dashboard.html", data=data,
                           charts=[(cid, title, series, bars(series))
                                   for cid, title, series in charts])
