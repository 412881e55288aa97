"""Small value types shared by several domains."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class WordBox:
    """A recognised word and its box in page-image pixels."""

    text: str
    left: int
    top: int
    width: int
    height: int
    confidence: float

    def as_dict(self) -> dict:
        """The box as plain JSON values. ``dataclasses.asdict`` gives the same but deep-copies
        each field: the ~2,400 boxes of 20 pages took ~80 ms that way (profiled) in the index."""
        return {"text": self.text, "left": self.left, "top": self.top, "width": self.width,
                "height": self.height, "confidence": self.confidence}
