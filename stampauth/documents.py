"""Whole-document results: detected marks, per-mark decisions and per-claim outcomes.

Domain records only; :class:`stampauth.service.StampAuth` fills them and the gRPC layer
translates them. How a claim is judged (:func:`judge_claim`):

* candidates are the detected marks of the claim's kind (both kinds when unset) on the claim's
  page (any page when 0) whose box overlaps the claim's region (anywhere when unset);
* each candidate is verified against the identity's references of its kind;
* when text was read (OCR) and several candidates are found, those whose text matches the
  claim's expected text (its names and identifiers, or the identity's display name) are the
  candidates, if any matches (``chosen_by_text``): the claim binds to the mark that names it;
* SATISFIED when any candidate is GENUINE; otherwise the best candidate (highest similarity)
  decides: INCONCLUSIVE or FORGED; NO_REFERENCE when the identity has no specimen of any
  candidate kind; MISSING_MARK when there is no candidate at all.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum

import numpy as np

from stampauth.detection.types import Box, Detection
from stampauth.scoring import Decision, Verdict
from stampauth.text.types import MarkText, TextMatch


class ClaimOutcome(str, Enum):
    SATISFIED = "SATISFIED"
    MISSING_MARK = "MISSING_MARK"
    FORGED = "FORGED"
    INCONCLUSIVE = "INCONCLUSIVE"
    NO_REFERENCE = "NO_REFERENCE"


@dataclass(frozen=True)
class PageSummary:
    page_number: int
    width: int
    height: int
    dpi: int = 0


@dataclass(frozen=True)
class DocumentClaim:
    """``kind`` None means either kind; ``page_number`` 0 any page; ``region`` None anywhere."""

    identity_id: str
    kind: str | None = None
    page_number: int = 0
    region: Box | None = None
    expected_text: tuple[str, ...] = ()  # names/identifiers the mark's text should hold (used with OCR)

    def admits(self, mark: Detection) -> bool:
        if self.kind is not None and mark.kind != self.kind:
            return False
        if self.page_number and mark.page_number != self.page_number:
            return False
        return self.region is None or self.region.intersection(mark.box) > 0


@dataclass(frozen=True)
class MarkVerification:
    mark_index: int
    mark: Detection
    identity_id: str
    decision: Decision
    text_match: TextMatch | None = None  # with OCR: how well the mark's text names the claimed identity


@dataclass(frozen=True)
class ClaimResult:
    claim: DocumentClaim
    outcome: ClaimOutcome
    verdict: Verdict
    mark_index: int | None
    explanation: str
    chosen_by_text: bool = False


@dataclass(frozen=True)
class DocumentDetection:
    pages: list[PageSummary]
    marks: list[Detection]  # ordered by page, then top to bottom; the list index is the mark index
    detector_version: str
    annotated_pages: list[bytes] = field(default_factory=list)
    mark_texts: list[MarkText] = field(default_factory=list)  # with OCR: one per mark, in mark order


@dataclass(frozen=True)
class DocumentVerification:
    pages: list[PageSummary]
    marks: list[Detection]
    verifications: list[MarkVerification]
    claim_results: list[ClaimResult]
    detector_version: str
    annotated_pages: list[bytes] = field(default_factory=list)
    mark_texts: list[MarkText] = field(default_factory=list)

    @property
    def all_claims_satisfied(self) -> bool:
        return bool(self.claim_results) and all(r.outcome is ClaimOutcome.SATISFIED for r in self.claim_results)

    def text_of(self, mark_index: int) -> MarkText | None:
        """The text read for the mark with ``mark_index`` (None without OCR)."""
        return self.mark_texts[mark_index] if mark_index < len(self.mark_texts) else None


def _where(claim: DocumentClaim) -> str:
    kind = f"{claim.kind}" if claim.kind else "stamp or signature"
    page = f" on page {claim.page_number}" if claim.page_number else ""
    region = " in the claimed region" if claim.region is not None else ""
    return f"{kind}{page}{region}"


def judge_claim(claim: DocumentClaim, verifications: list[MarkVerification],
                unverifiable_kinds: tuple[str, ...] = ()) -> ClaimResult:
    """The outcome of ``claim`` from the verifications of its candidate marks against its identity.

    ``unverifiable_kinds``: kinds of marks the claim admits that were found but that no loaded model can verify.
    """
    if not verifications:
        explanation = f"no {_where(claim)} was found on the document"
        if unverifiable_kinds:
            kinds = sorted(unverifiable_kinds)
            explanation += (f"; {' and '.join(kinds)} mark(s) were found, but this server has no "
                            f"{' or '.join(kinds)} model to verify them")
        return ClaimResult(claim, ClaimOutcome.MISSING_MARK, Verdict.FORGED, None, explanation)
    chosen_by_text = False
    named = [v for v in verifications if v.text_match is not None and v.text_match.matched]
    if named and len(verifications) > 1:
        verifications, chosen_by_text = named, True
    result = _judge(claim, verifications)
    if not chosen_by_text:
        return result
    m = max((v.text_match for v in named), key=lambda t: t.score)
    return ClaimResult(result.claim, result.outcome, result.verdict, result.mark_index,
                       f"{result.explanation}; judged on the {len(named)} candidate(s) whose text names the identity "
                       f"({m.found!r} matches {m.expected!r}, score {m.score:.2f})", chosen_by_text=True)


def _judge(claim: DocumentClaim, verifications: list[MarkVerification]) -> ClaimResult:
    compared = [v for v in verifications if v.decision.verdict is not Verdict.NO_REFERENCE]
    if not compared:
        kinds = sorted({v.mark.kind for v in verifications})
        return ClaimResult(claim, ClaimOutcome.NO_REFERENCE, Verdict.NO_REFERENCE, verifications[0].mark_index,
                           f"identity {claim.identity_id!r} has no enrolled {' or '.join(kinds)} specimen to compare with; "
                           "enroll reference specimens first")
    best = max(compared, key=lambda v: (v.decision.verdict is Verdict.GENUINE, v.decision.score))
    d = best.decision
    described = (f"mark {best.mark_index} ({best.mark.kind}, page {best.mark.page_number}): similarity {d.score:.3f} "
                 f"vs threshold {d.threshold:.3f} (review band +/-{d.review_band:.3f}) over {d.references_used} reference(s)")
    if d.verdict is Verdict.GENUINE:
        return ClaimResult(claim, ClaimOutcome.SATISFIED, Verdict.GENUINE, best.mark_index, f"genuine: {described}")
    if d.verdict is Verdict.INCONCLUSIVE:
        return ClaimResult(claim, ClaimOutcome.INCONCLUSIVE, Verdict.INCONCLUSIVE, best.mark_index,
                           f"inconclusive, a person should look: {described}")
    return ClaimResult(claim, ClaimOutcome.FORGED, Verdict.FORGED, best.mark_index,
                       f"no genuine match among {len(compared)} candidate mark(s); best is {described}")


CROP_MARGIN = 0.06  # share of a detected box added on each side before verification


def crop_mark(page_image: np.ndarray, mark: Detection, margin: float = CROP_MARGIN) -> np.ndarray:
    """The mark's box plus ``margin`` of its size on each side, clipped to the page: ``(h, w, 3) uint8``."""
    box = mark.box
    pad_x, pad_y = box.width * margin, box.height * margin
    height, width = page_image.shape[:2]
    x0, y0 = max(0, int(box.x0 - pad_x)), max(0, int(box.y0 - pad_y))
    x1, y1 = min(width, int(np.ceil(box.x1 + pad_x))), min(height, int(np.ceil(box.y1 + pad_y)))
    return page_image[y0:y1, x0:x1]
