"""Does a mark's text name the claimed identity? Normalized fuzzy matching of names and identifiers.

Normalization: Unicode compatibility form, accents dropped, case folded, every run of characters that
are not letters or digits turned into one space ("Müller-Lüdenscheidt GmbH" -> "muller ludenscheidt gmbh").
Identifiers (an expected text holding digits) are also compared with spaces removed, because OCR and
layouts split numbers ("HRB 12 345" vs "HRB12345").

Score: ``1 - d / len(expected)`` where ``d`` is the edit distance from the normalized expected text to the
closest stretch of the normalized found text (a semi-global alignment: the found text may hold more
words around it). 1 means it is there verbatim; 0.85 means about one character in seven had to change.
Names are also scored word by word, in any order and with words between them ("Berrington, Anna K."
for "Anna Berrington"): each expected word against its closest found word, weighted by length.
"""

from __future__ import annotations

import re
import unicodedata

from stampauth.text.types import TextMatch, TextSpan

MATCH_THRESHOLD = 0.85  # ~1 OCR slip per 7 characters; "Joan Smithers" (0.83) is not "John Smith"


def normalize_text(text: str) -> str:
    """Accents dropped, case folded, runs of non-alphanumerics -> one space, trimmed."""
    decomposed = unicodedata.normalize("NFKD", text)
    bare = "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()
    return re.sub(r"[\W_]+", " ", bare).strip()


def best_substring_distance(needle: str, haystack: str) -> int:
    """Edit distance from ``needle`` to the closest substring of ``haystack`` (Sellers' algorithm)."""
    if not needle:
        return 0
    previous = [0] * (len(haystack) + 1)  # a match may start anywhere: free leading characters
    for i, a in enumerate(needle, start=1):
        current = [i] + [0] * len(haystack)
        for j, b in enumerate(haystack, start=1):
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a != b))
        previous = current
    return min(previous)  # ... and end anywhere


def edit_distance(a: str, b: str) -> int:
    """Levenshtein distance (unit-cost insertions, deletions, substitutions)."""
    previous = list(range(len(b) + 1))
    for i, x in enumerate(a, start=1):
        current = [i] + [0] * len(b)
        for j, y in enumerate(b, start=1):
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (x != y))
        previous = current
    return previous[-1]


def _word_score(want: str, have: str) -> float:
    """Each expected word against its closest found word, in any order; weighted by word length."""
    found = have.split()
    if not found:
        return 0.0
    words = want.split()
    errors = sum(min(edit_distance(w, f) for f in found) for w in words)
    return 1.0 - errors / sum(len(w) for w in words)


def match_score(expected: str, found: str) -> float:
    """How well ``expected`` occurs in ``found``, in [0, 1] (module docstring)."""
    want, have = normalize_text(expected), normalize_text(found)
    if not want:
        return 0.0
    # padded with spaces so a stretch starts and ends at word boundaries ("smith" is not in "smithers")
    scores = [1.0 - best_substring_distance(f" {want} ", f" {have} ") / (len(want) + 2), _word_score(want, have)]
    if any(c.isdigit() for c in want):
        tight_want, tight_have = want.replace(" ", ""), have.replace(" ", "")
        scores.append(1.0 - best_substring_distance(tight_want, tight_have) / len(tight_want))
    return max(0.0, max(scores))


def match_expected(expected: str, spans: tuple[TextSpan, ...] | list[TextSpan],
                   threshold: float = MATCH_THRESHOLD) -> TextMatch:
    """The best occurrence of ``expected`` in a mark's text: in any one span, or in the spans of one
    position read together (a name may wrap onto two lines)."""
    candidates: list[tuple[str, str]] = [(s.text, s.position) for s in spans]
    for position in dict.fromkeys(s.position for s in spans):
        joined = " ".join(s.text for s in spans if s.position == position)
        candidates.append((joined, position))
    best = TextMatch(expected, "", 0.0, threshold)
    for text, position in candidates:
        score = match_score(expected, text)
        if score > best.score:
            best = TextMatch(expected, text, score, threshold, position)
    return best


def best_match(expected_texts: list[str] | tuple[str, ...], spans, threshold: float = MATCH_THRESHOLD) -> TextMatch | None:
    """The best-matching of several expected texts (a claim's names and identifiers); None when none is given."""
    matches = [match_expected(e, spans, threshold) for e in expected_texts if normalize_text(e)]
    return max(matches, key=lambda m: m.score) if matches else None
