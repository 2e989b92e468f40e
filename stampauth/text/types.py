"""Domain records for text; protos appear only at the gRPC edge."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from stampauth.detection.types import Box

#: Where a span lies relative to its mark. "ring": the text along a round stamp's border;
#: "inside": text within the mark's box (a stamp's centre text, print a signature crosses).
POSITIONS: tuple[str, ...] = ("below", "above", "left", "right", "inside", "ring")
SOURCES: tuple[str, ...] = ("pdf_text_layer", "tesseract")


@dataclass(frozen=True)
class OcrWord:
    """One word as Tesseract or a PDF text layer gives it: ``box`` in the pixels of the image read,
    ``confidence`` in [0, 1]; ``line`` identifies the text line the word belongs to within its image."""

    text: str
    box: Box
    confidence: float
    line: tuple[int, ...] = ()


@dataclass(frozen=True)
class TextSpan:
    """A line of text read near or inside a mark, in page pixels."""

    text: str
    box: Box
    confidence: float
    position: str  # one of POSITIONS
    source: str  # one of SOURCES


class TextStatus(str, Enum):
    NOT_REQUESTED = "NOT_REQUESTED"
    READ = "READ"  # every neighbourhood of the mark was read (possibly finding no text)
    BUDGET_EXCEEDED = "BUDGET_EXCEEDED"  # the page's OCR time budget ran out before (or while) reading it


@dataclass(frozen=True)
class MarkText:
    """What was read for one mark."""

    spans: tuple[TextSpan, ...] = ()
    status: TextStatus = TextStatus.NOT_REQUESTED
    milliseconds: float = 0.0

    def text(self, positions: tuple[str, ...] | None = None) -> str:
        """The spans' text joined by newlines, optionally only those at ``positions``."""
        return "\n".join(s.text for s in self.spans if positions is None or s.position in positions)


@dataclass(frozen=True)
class TextMatch:
    """How well ``expected`` (a name or identifier the claim gives) is found in a mark's text.

    ``score`` in [0, 1]: 1 - (edit distance of the normalized ``expected`` to the closest stretch of the
    normalized text) / (its length); ``matched`` when ``score >= threshold``.
    """

    expected: str
    found: str
    score: float
    threshold: float
    position: str = ""

    @property
    def matched(self) -> bool:
        return self.score >= self.threshold


@dataclass(frozen=True)
class NearbyConfig:
    """The neighbourhood of a mark that is read, as multiples of the mark's size.

    ``below``/``above``: how far beyond the box's bottom/top edge, in box heights; ``left``/``right``: beyond
    its sides, in box widths; ``spread``: how far the below/above bands reach past the box's sides, in box
    widths; 0 for a side leaves it out. ``inside`` reads the box itself. ``min_extent_px``: each band reaches
    at least this far (a flat signature is only a text line high), ``max_extent_px`` at most (a large stamp
    must not pull in half the page).
    """

    below: float = 0.8
    above: float = 0.4
    left: float = 0.6
    right: float = 0.6
    spread: float = 0.25
    inside: bool = True
    min_extent_px: int = 60
    max_extent_px: int = 600


@dataclass(frozen=True)
class OcrOptions:
    """What a caller asked of OCR for one document: languages, the time budget per page, the neighbourhood."""

    languages: tuple[str, ...] = ("eng",)
    budget_ms: int = 0  # 0: the service's default
    nearby: NearbyConfig = NearbyConfig()
