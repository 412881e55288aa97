"""The viewer's page images: two sizes, made from the page already in memory.

The format is a setting (``CHARTVAULT_PAGE_IMAGE_FORMAT``). JPEG, the default, encodes
both sizes of a page in 1-2 ms. WebP (method 0) takes 12-26 ms for about a quarter
fewer bytes, and PNG, lossless, 10-77 ms for up to 2.5 times JPEG's bytes on real scans
(measured on the samples' pages at 1000 px).
"""

from __future__ import annotations

from pathlib import Path

from PIL import Image

THUMBNAIL_WIDTHS = {"small": 200, "large": 1000}
QUALITY = 80
# format setting -> (file suffix, Pillow format, encoder options)
FORMATS = {
    "jpeg": (".jpg", "JPEG", {"quality": QUALITY}),
    "webp": (".webp", "WEBP", {"quality": QUALITY, "method": 0}),
    "png": (".png", "PNG", {"compress_level": 6}),
}


def page_images(image: Image.Image, base: Path, image_format: str = "jpeg"
                ) -> dict[str, Path]:
    """``{"small": ..., "large": ...}`` next to ``base`` (``<base>-small.jpg``...) at 200
    and 1000 px wide, never enlarged, in ``image_format`` (a key of FORMATS). Overwrites."""
    suffix, pillow_format, options = FORMATS[image_format]
    page = image.convert("L") if image.mode not in ("L", "RGB") else image
    out: dict[str, Path] = {}
    # Largest first, each from the one before; a whole-number box reduction (reducing_gap
    # 1), then Hamming's filter over what is left (less than 2x): 13 ms a letter page at
    # 300 dpi, against 25 ms with Lanczos after the same reduction and 60 ms without it.
    for name, width in sorted(THUMBNAIL_WIDTHS.items(), key=lambda item: -item[1]):
        page = _shrink(page, width)
        target = base.with_name(f"{base.name}-{name}{suffix}")
        page.save(target, pillow_format, **options)
        out[name] = target
    return out


def _shrink(image: Image.Image, width: int) -> Image.Image:
    if image.width <= width:
        return image
    height = max(1, round(image.height * width / image.width))
    return image.resize((width, height), Image.Resampling.HAMMING, reducing_gap=1.0)
