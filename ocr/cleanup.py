"""Page clean-up before OCR: blank check, a cheap sideways check, deskew, rotation.

All measurements are made on a small binarised copy of the page (about 1000 px
on the long side), so they cost a few tens of milliseconds. Corrections are
applied only when the evidence is clear: a clean, straight page goes to OCR
untouched.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

PROBE_SIDE = 1000
# A page is blank when fewer than this many probe pixels are "solid" ink: dark with at
# least SOLID_NEIGHBOURS dark pixels in their 3x3 window (themselves included). Strokes of
# letters are; scanner dust, salt noise and their chance pairs are not. A count, not a
# fraction of the page: one word low on a full page ("VOID", "Refused", a signature line)
# is a fraction of a percent of it, and Tesseract reads it (measured on the page kinds
# of tests/support/page_kinds.py: the smallest word, "OK" at 8 pt and 100 dpi, has 18
# solid pixels; the noisiest blank page 4).
MIN_SOLID_INK = 12
SOLID_NEIGHBOURS = 4
MAX_SKEW = 6.0  # degrees searched either way
MIN_SKEW = 0.3  # corrections smaller than this are not worth the resampling
SKEW_GAIN = 1.15  # the best angle must sharpen the line profile by this much
SIDEWAYS_RATIO = 2.0  # column profile this much sharper than the row profile: sideways
MIN_LINES = 3  # text lines needed before the upright check says anything
UPSIDE_DOWN = -0.15  # upright_score below this: ask the engine which way is up
CLEARLY_UPRIGHT = 0.2  # above this a poor reading is not blamed on orientation
MIN_INK = 200  # dark probe pixels needed before any geometry is trusted
# ink is at least this much darker than the paper (the page's median): faint text (a light
# photocopy, a faded fax: gray 234 on white, which Tesseract still reads) counts as ink;
# scanner noise, dust and a shaded blank page (250 to 215 across) do not
MIN_CONTRAST = 16


def probe(image: Image.Image) -> np.ndarray:
    """A small boolean ink mask (True = dark) of ``image``."""
    gray = _gray(image)
    scale = PROBE_SIDE / max(gray.size)
    if scale < 1:
        # a whole-number box reduction first (reducing_gap): about half the cost; the
        # box averages differ slightly (the clean-up tests pass unchanged)
        gray = gray.resize((max(1, int(gray.width * scale)), max(1, int(gray.height * scale))),
                           Image.Resampling.BOX, reducing_gap=1.0)
    pixels = np.asarray(gray, dtype=np.uint8)
    return pixels < _threshold(pixels)


def _gray(image: Image.Image) -> Image.Image:
    """``image`` in mode L, without copying one that already is (a full page is 8 MB)."""
    return image if image.mode == "L" else image.convert("L")


def _threshold(pixels: np.ndarray) -> int:
    """The gray below which a pixel is ink: Otsu's threshold, at least MIN_CONTRAST below
    light paper, so that a white page with faint speckles stays white. (A fixed cap at
    gray 160 did that too, but it also made every page of faint text blank: it was not
    read at all.) The cap stays for dark paper, where the paper-relative bound would find
    no ink at all: a negative.

    Otsu's class of dark pixels includes its threshold level itself, hence the + 1: on a
    bi-level page (only grays 0 and 255) the threshold is 0, and black is ink."""
    hist = np.bincount(pixels.ravel(), minlength=256).astype(np.float64)
    total = hist.sum()
    levels = np.arange(256)
    weight = np.cumsum(hist)
    mean = np.cumsum(hist * levels)
    with np.errstate(divide="ignore", invalid="ignore"):
        between = (mean[-1] * weight / total - mean) ** 2 / (weight * (total - weight))
    between = np.nan_to_num(between)
    paper = int(np.searchsorted(weight, total / 2))  # the median gray, from the histogram
    return int(min(np.argmax(between) + 1, max(paper - MIN_CONTRAST, 160)))


def is_blank(mask: np.ndarray) -> bool:
    """No solid ink (see MIN_SOLID_INK) inside the page's margin: white, shaded, dusty or
    noisy paper. When in doubt the page is not blank: the engine reads it, and a page it
    reads no word from is flagged for a clerk all the same."""
    if mask.size == 0:
        return True
    return int(_strip_border(_solid(mask)).sum()) < MIN_SOLID_INK


def _solid(mask: np.ndarray) -> np.ndarray:
    """Ink pixels with at least SOLID_NEIGHBOURS ink pixels in their 3x3 window."""
    padded = np.pad(mask.view(np.uint8), 1)
    h, w = mask.shape
    window = sum(padded[dy:dy + h, dx:dx + w] for dy in range(3) for dx in range(3))
    return mask & (window >= SOLID_NEIGHBOURS)


def _strip_border(mask: np.ndarray) -> np.ndarray:
    """Drop a 3% margin, where scanner edges and punch holes live."""
    h, w = mask.shape
    dy, dx = max(1, h * 3 // 100), max(1, w * 3 // 100)
    return mask[dy:h - dy, dx:w - dx]


def _best_level(mask: np.ndarray) -> tuple[float, float, float]:
    """(angle, score at that angle, score at 0) of the sharpest row profile within MAX_SKEW."""
    ys, xs = np.nonzero(mask)
    ys, xs = ys.astype(np.float64), xs.astype(np.float64)
    base = _score_at(ys, xs, 0.0)
    coarse = np.arange(-MAX_SKEW, MAX_SKEW + 1e-9, 0.5)
    best = max(coarse, key=lambda a: _score_at(ys, xs, a))
    fine = np.arange(best - 0.5, best + 0.5 + 1e-9, 0.1)
    best = float(max(fine, key=lambda a: _score_at(ys, xs, a)))
    return best, _score_at(ys, xs, best), base


def looks_sideways(mask: np.ndarray) -> bool:
    """True when text lines seem to run vertically (page turned 90 or 270 degrees).

    ``mask`` should already be deskewed (see :func:`skew_angle`)."""
    if mask.sum() < MIN_INK:
        return False
    return _line_energy(mask.T) > SIDEWAYS_RATIO * _line_energy(mask)


def _line_energy(mask: np.ndarray) -> float:
    """Row-to-row change of the row profile: high for level lines of text, low for
    columns or pictures. Measure it on a deskewed probe."""
    rows = mask.sum(axis=1).astype(np.float64)
    rows = np.convolve(rows, np.ones(3) / 3, mode="same")
    return float(np.sum(np.diff(rows) ** 2))


def skew_angle(mask: np.ndarray) -> float:
    """How many degrees counter-clockwise the text lines are turned; 0 if unsure or tiny."""
    if mask.sum() < MIN_INK:
        return 0.0
    best, score, base = _best_level(mask)
    if abs(best) < MIN_SKEW or score < SKEW_GAIN * base:
        return 0.0
    return round(best, 1)


def _score_at(ys: np.ndarray, xs: np.ndarray, angle: float) -> float:
    """Row-profile sharpness (sum of squared row sums) of the ink turned ``angle`` degrees."""
    t = np.deg2rad(angle)
    rotated = ys * np.cos(t) + xs * np.sin(t)
    rows = np.bincount((rotated - rotated.min()).astype(np.int64))
    return float(np.sum(rows.astype(np.float64) ** 2))


def rotate_upright(image: Image.Image, clockwise: int) -> Image.Image:
    """Turn by a multiple of 90 degrees clockwise, losslessly."""
    turns = {90: Image.Transpose.ROTATE_270, 180: Image.Transpose.ROTATE_180,
             270: Image.Transpose.ROTATE_90}
    op = turns.get(clockwise % 360)
    return image.transpose(op) if op is not None else image


def deskew(image: Image.Image, skew: float) -> Image.Image:
    """Undo a skew of ``skew`` degrees (as from :func:`skew_angle`), filling corners white."""
    if not skew:
        return image
    # Bilinear: a third of bicubic's cost (measured) and reads the same at scan resolutions.
    return image.rotate(-skew, resample=Image.Resampling.BILINEAR, expand=True, fillcolor=255)


def upright_score(image: Image.Image) -> float:
    """Above 0: the (level) text looks upright; below 0: upside down; 0: cannot tell.

    Latin text has more ascenders and capitals than descenders, so each line carries
    more ink above its x-height band than below it. Turned 180 degrees, the reverse.
    Measured on full-resolution row sums, a few milliseconds a page."""
    # summed as bytes into 32-bit counts: a quarter of the cost of summing booleans
    dark = (np.asarray(_gray(image)) < 128).view(np.uint8)
    rows = dark.sum(axis=1, dtype=np.uint32).astype(np.float64)
    if not rows.any():
        return 0.0
    on = np.concatenate(([False], rows > max(2.0, rows.max() * 0.02), [False]))
    edges = np.flatnonzero(np.diff(on.astype(np.int8)))
    scores = [_line_balance(rows[start:end]) for start, end in zip(edges[::2], edges[1::2],
                                                                     strict=True)]
    scores = [s for s in scores if s is not None]
    return float(np.mean(scores)) if len(scores) >= MIN_LINES else 0.0


def _line_balance(profile: np.ndarray) -> float | None:
    """(ink above the x-height band - ink below) / both, for one text line."""
    if len(profile) < 8:
        return None
    band = np.flatnonzero(profile >= profile.max() * 0.5)
    above, below = profile[:band[0]].sum(), profile[band[-1] + 1:].sum()
    return None if above + below == 0 else float((above - below) / (above + below))
