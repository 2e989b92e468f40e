"""Domain records for detection; protos appear only at the gRPC edge."""

from __future__ import annotations

from dataclasses import dataclass

#: The mark kinds the detector knows, in the order of its output channels.
KINDS: tuple[str, ...] = ("signature", "stamp")
# The network's geometry, here (not in ``model``) so that serving needs no Keras import.
STRIDE = 4  # output map cell, in input pixels
N_KINDS = len(KINDS)
#: Output channels: ``[0, N_KINDS)`` kernel probabilities; then per kind 4 log edge distances (l, t, r, b).
N_OUTPUTS = N_KINDS * 5
DEFAULT_WIDTHS = (32, 56, 96, 160, 224)  # detector channels at strides 2, 4, 8, 16, 32 (the shipped members)
SIZE_MULTIPLE = 32  # inputs are padded to a multiple of the deepest stride


@dataclass(frozen=True)
class Box:
    """An axis-aligned box in page pixels; ``x1``/``y1`` are exclusive (``width = x1 - x0``)."""

    x0: float
    y0: float
    x1: float
    y1: float

    @property
    def width(self) -> float:
        return max(0.0, self.x1 - self.x0)

    @property
    def height(self) -> float:
        return max(0.0, self.y1 - self.y0)

    @property
    def area(self) -> float:
        return self.width * self.height

    def intersection(self, other: "Box") -> float:
        """Area shared with ``other`` (0 when they do not overlap)."""
        iw = min(self.x1, other.x1) - max(self.x0, other.x0)
        ih = min(self.y1, other.y1) - max(self.y0, other.y0)
        return float(iw * ih) if iw > 0 and ih > 0 else 0.0

    def iou(self, other: "Box") -> float:
        """Intersection over union with ``other`` (0 when either is empty)."""
        inter = self.intersection(other)
        if inter == 0:
            return 0.0
        union = self.area + other.area - inter
        return float(inter / union) if union > 0 else 0.0

    def overlap_of_smaller(self, other: "Box") -> float:
        """Share of the smaller box's area that the two boxes have in common (0 when either is empty)."""
        smaller = min(self.area, other.area)
        return self.intersection(other) / smaller if smaller > 0 else 0.0

    def clipped(self, width: int, height: int) -> "Box":
        """This box clipped to a ``width`` x ``height`` page."""
        return Box(
            min(max(self.x0, 0.0), width), min(max(self.y0, 0.0), height),
            min(max(self.x1, 0.0), width), min(max(self.y1, 0.0), height),
        )

    def scaled(self, sx: float, sy: float) -> "Box":
        return Box(self.x0 * sx, self.y0 * sy, self.x1 * sx, self.y1 * sy)


@dataclass(frozen=True)
class Detection:
    """One mark found on a page: ``kind`` is one of :data:`KINDS`, ``score`` a confidence in [0, 1]."""

    kind: str
    box: Box
    score: float
    page_number: int = 1
