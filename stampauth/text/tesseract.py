"""Tesseract through pytesseract: availability, languages, and tile mosaics.

Starting Tesseract costs about 90 ms on these machines (process start, language model load) whatever
the image, so text is read in as few calls as possible: :func:`read_tiles` packs several small images
(a mark's neighbourhood, ring strips, a stamp's centre at two orientations) into one mosaic, reads it in
one call, and hands each tile its own words back in the tile's own pixels.

Tesseract's OpenMP threads make a call about twice as slow on 2 cores (measured by
``benchmarks/tesseract_threads.py``), so every call runs with ``OMP_THREAD_LIMIT=1``.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import subprocess
import threading
from dataclasses import dataclass

import numpy as np

from stampauth.detection.types import Box
from stampauth.errors import FailedPrecondition, InvalidInput
from stampauth.text.types import OcrWord

log = logging.getLogger(__name__)

INSTALL_HINT = ("install Tesseract on the server (Debian/Ubuntu: apt-get install tesseract-ocr; other language packs: "
                "tesseract-ocr-<lang>, e.g. tesseract-ocr-deu) or point stampauth serve --tesseract at the binary, "
                "or send the request without OCR")
LANGUAGE_PATTERN = re.compile(r"^[a-z]{3}(_[a-z]+)*$|^[A-Za-z_]+$")
TILE_GAP = 48  # white pixels between tiles: wide enough that Tesseract never joins two tiles' lines


class OcrTimeout(Exception):
    """Tesseract ran past the time it was given."""


@dataclass(frozen=True)
class Tile:
    """An image to read: ``image (h, w) uint8``, dark text on white. ``tag`` names it for the caller."""

    tag: str
    image: np.ndarray


class Tesseract:
    """One Tesseract binary. ``command`` None finds ``tesseract`` on PATH."""

    _lock = threading.Lock()

    def __init__(self, command: str | None = None):
        self.command = command or shutil.which("tesseract") or "tesseract"
        self._languages: tuple[str, ...] | None = None
        # pytesseract runs Tesseract with this process's environment: one OpenMP thread per call (module docstring)
        os.environ["OMP_THREAD_LIMIT"] = "1"

    @property
    def available(self) -> bool:
        return self.installed_languages() != ()

    def installed_languages(self) -> tuple[str, ...]:
        """Language packs the binary can use (``()`` when it cannot run); cached."""
        if self._languages is None:
            try:
                listed = subprocess.run([self.command, "--list-langs"], capture_output=True, text=True, timeout=10,
                                        env=self.environment())
                lines = (listed.stdout + listed.stderr).splitlines()
                self._languages = tuple(sorted(l.strip() for l in lines[1:] if l.strip() and " " not in l.strip()))
            except (OSError, subprocess.SubprocessError):
                self._languages = ()
        return self._languages

    @staticmethod
    def environment() -> dict[str, str]:
        env = dict(os.environ)
        env["OMP_THREAD_LIMIT"] = "1"  # see the module docstring
        return env

    def check(self, languages: tuple[str, ...], field: str = "options.ocr") -> str:
        """``languages`` -> Tesseract's ``-l`` argument, or an error saying what to do."""
        for language in languages:
            if not LANGUAGE_PATTERN.match(language):
                raise InvalidInput(f"{language[:40]!r} is not a Tesseract language code (such as 'eng', 'deu', "
                                   "'chi_sim')", field=f"{field}_languages")
        installed = self.installed_languages()
        if not installed:
            raise FailedPrecondition(f"OCR was requested but Tesseract cannot run on this server "
                                     f"({self.command!r} was not found or does not start): {INSTALL_HINT}", field=field)
        missing = [language for language in languages if language not in installed]
        if missing:
            raise FailedPrecondition(
                f"Tesseract on this server has no language pack for {', '.join(missing)}; installed: "
                f"{', '.join(l for l in installed if l != 'osd')}. Install tesseract-ocr-{missing[0]} on the server, "
                "or ask for an installed language", field=f"{field}_languages")
        return "+".join(languages)

    def read(self, image: np.ndarray, language: str = "eng", psm: int = 11, timeout_s: float = 0.0) -> list[OcrWord]:
        """Words in ``image (H, W) uint8`` (dark text on white) with boxes in its pixels.

        ``psm``: Tesseract's page segmentation mode (11: sparse text, any layout; 6: one block; 7: one line).
        ``timeout_s`` > 0 stops Tesseract after that long and raises :class:`OcrTimeout`.
        """
        import pytesseract

        with self._lock:  # pytesseract reads the binary's path from a module global
            pytesseract.pytesseract.tesseract_cmd = self.command
        from PIL import Image

        picture = Image.fromarray(image)
        picture.format = "BMP"  # pytesseract hands Tesseract a temporary file: BMP writes ~10x faster than PNG
        try:
            data = pytesseract.image_to_data(picture, lang=language, config=f"--psm {psm}",
                                             output_type=pytesseract.Output.DICT, timeout=timeout_s or 0)
        except RuntimeError as error:
            if "timeout" in str(error).lower():
                raise OcrTimeout(str(error)) from None
            raise
        except pytesseract.TesseractNotFoundError:
            raise FailedPrecondition(f"Tesseract is not installed at {self.command!r}: {INSTALL_HINT}",
                                     field="options.ocr") from None
        words = []
        for i, text in enumerate(data["text"]):
            text = text.strip()
            confidence = float(data["conf"][i])
            if not text or confidence < 0:
                continue
            x, y, w, h = (int(data[k][i]) for k in ("left", "top", "width", "height"))
            words.append(OcrWord(text, Box(x, y, x + w, y + h), confidence / 100.0,
                                 (int(data["block_num"][i]), int(data["par_num"][i]), int(data["line_num"][i]))))
        return words


def mosaic(tiles: list[Tile], gap: int = TILE_GAP, shelves: bool = False) -> tuple[np.ndarray, list[tuple[int, int]]]:
    """Tiles on one white image, ``gap`` pixels apart -> ``(image, [(x, y) of each tile])``.

    Stacked top to bottom, or with ``shelves`` packed side by side in rows as wide as the widest tile (less blank
    area for Tesseract to scan; only for page segmentation modes that do not join lines across a gap, such as 11).
    """
    widest = max(t.image.shape[1] for t in tiles)
    offsets: list[tuple[int, int]] = []
    x, y, row_height = gap, gap, 0
    for tile in tiles:
        h, w = tile.image.shape
        if x > gap and (not shelves or x + w > widest + gap):
            x, y, row_height = gap, y + row_height + gap, 0
        offsets.append((x, y))
        x += w + gap
        row_height = max(row_height, h)
    canvas = np.full((y + row_height + gap, widest + 2 * gap), 255, np.uint8)
    for tile, (ox, oy) in zip(tiles, offsets):
        h, w = tile.image.shape
        canvas[oy:oy + h, ox:ox + w] = tile.image
    return canvas, offsets


def read_tiles(engine: Tesseract, tiles: list[Tile], language: str = "eng", psm: int = 11,
               timeout_s: float = 0.0) -> dict[str, list[OcrWord]]:
    """Read all ``tiles`` in one Tesseract call -> ``{tag: words}``, boxes in each tile's own pixels.

    A word belongs to the tile that holds its centre; words spanning a gap are dropped (cannot happen
    with the default gap, which Tesseract never bridges). With ``psm`` 11 (sparse text) tiles are packed side
    by side in rows, otherwise stacked: other modes would read side-by-side tiles as one line.
    """
    tiles = [t for t in tiles if t.image.size]
    result: dict[str, list[OcrWord]] = {t.tag: [] for t in tiles}
    if not tiles:
        return result
    image, offsets = mosaic(tiles, shelves=psm == 11)
    for word in engine.read(image, language, psm, timeout_s):
        cx, cy = (word.box.x0 + word.box.x1) / 2, (word.box.y0 + word.box.y1) / 2
        for tile, (ox, oy) in zip(tiles, offsets):
            h, w = tile.image.shape
            if ox <= cx < ox + w and oy <= cy < oy + h:
                b = word.box
                result[tile.tag].append(OcrWord(word.text, Box(b.x0 - ox, b.y0 - oy, b.x1 - ox, b.y1 - oy),
                                                word.confidence, word.line))
                break
    return result
