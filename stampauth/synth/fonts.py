"""Font discovery for the synthetic generators.

The generators use whatever TrueType/OpenType fonts the machine has (``server/bootstrap.sh`` installs
Debian's fonts-dejavu, -liberation, -freefont, -urw-base35, -crosextra-carlito and -linuxlibertine for
print, -lobster, -lobstertwo and -dancingscript for printed script logos, and -dkg-handwriting,
-ecolier-court, -breip, -femkeklaver, -humor-sans and -comic-neue for handwriting that is not a
signature), and fall back to Pillow's built-in scalable font so that tests run on a bare machine.

Script and handwriting fonts are drawn only on request (``random_font(rng, size, "script" | "hand")``):
``font_files()`` and every print group leave them out, so they are never body text and every page a seed
made before they were installed stays as it was.
"""

from __future__ import annotations

import functools
import glob
import os

import numpy as np
from PIL import ImageFont

SYMBOL_FONTS = ("dingbat", "symbol", "d050000l", "opensymbol", "wingding", "emoji")
# file-name starts of the fonts drawn only on request (see the module docstring)
SPECIAL_FONTS = {"script": ("lobster", "dancingscript"),
                 "hand": ("dkg", "ecolier", "breip", "femkeklaver", "humor-sans", "comicneue")}
FONT_DIRS = ("/usr/share/fonts", "/usr/local/share/fonts", os.path.expanduser("~/.fonts"))


def _special_style(path: str) -> str | None:
    name = os.path.basename(path).lower()
    return next((style for style, starts in SPECIAL_FONTS.items() if name.startswith(starts)), None)


@functools.lru_cache(maxsize=1)
def font_files() -> tuple[str, ...]:
    """Every usable print font (.ttf/.otf) on the machine, sorted (so a seed gives the same pages)."""
    return tuple(path for path in _usable_font_files() if _special_style(path) is None)


@functools.lru_cache(maxsize=4)
def special_font_files(style: str) -> tuple[str, ...]:
    """The usable fonts of ``style`` (``script`` or ``hand``), sorted; empty when none is installed. Printed
    script lettering also draws on URW's Zapf Chancery, which has always been a print font here too."""
    found = tuple(path for path in _usable_font_files() if _special_style(path) == style)
    if style == "script":
        found += tuple(path for path in _usable_font_files() if os.path.basename(path).lower().startswith("z003"))
    return found


@functools.lru_cache(maxsize=1)
def _usable_font_files() -> tuple[str, ...]:
    found: set[str] = set()
    for root in FONT_DIRS:
        for ext in ("ttf", "otf"):
            found.update(glob.glob(os.path.join(root, "**", f"*.{ext}"), recursive=True))
    usable = []
    for path in sorted(found):
        if any(word in os.path.basename(path).lower() for word in SYMBOL_FONTS):
            continue  # pictograms, not letters
        try:
            font = ImageFont.truetype(path, 24)
        except OSError:
            continue
        if _draws_letters(font):
            usable.append(path)
    return tuple(usable)


def _draws_letters(font) -> bool:
    """False for fonts that draw the same box for every Latin letter (decorative or other-script fonts)."""
    from PIL import Image, ImageDraw

    glyphs = []
    for letter in "ab":
        image = Image.new("L", (40, 40), 0)
        ImageDraw.Draw(image).text((5, 5), letter, font=font, fill=255)
        glyphs.append(image.tobytes())
    return glyphs[0] != glyphs[1]


def font_families() -> dict[str, list[str]]:
    """Fonts grouped by style: ``serif``, ``sans``, ``mono``, ``bold`` (a file may be in several)."""
    return {style: list(paths) for style, paths in _families(font_files()).items()}


@functools.lru_cache(maxsize=4)
def _families(files: tuple[str, ...]) -> dict[str, tuple[str, ...]]:
    # keyed on the file list, so it is computed once per font set, not on every random_font call
    groups: dict[str, list[str]] = {"serif": [], "sans": [], "mono": [], "bold": []}
    for path in files:
        name = os.path.basename(path).lower()
        if "mono" in name or "courier" in name or name.startswith("nimbusmono"):
            groups["mono"].append(path)
        elif "sans" in name or "carlito" in name or "nimbussans" in name or "urwgothic" in name:
            groups["sans"].append(path)
        else:
            groups["serif"].append(path)
        if "bold" in name or "black" in name or "heavy" in name:
            groups["bold"].append(path)
    return {style: tuple(paths) for style, paths in groups.items()}


@functools.lru_cache(maxsize=512)
def _load(path: str | None, size: int):
    if path is None:
        return ImageFont.load_default(size=size)
    return ImageFont.truetype(path, size)


def random_font(rng: np.random.Generator, size: int, style: str | None = None):
    """A Pillow font of ``size`` pixels, picked at random (from ``style``'s group when it has any; ``script``
    and ``hand`` fall back to italic, then any, print fonts when none is installed)."""
    size = max(6, int(size))
    if style in SPECIAL_FONTS:
        special = special_font_files(style)
        if special:
            return _load(special[int(rng.integers(len(special)))], size)
        italic = tuple(p for p in font_files() if any(w in os.path.basename(p).lower() for w in ("italic", "oblique")))
        if italic:
            return _load(italic[int(rng.integers(len(italic)))], size)
    files = font_files()
    pool = _families(files).get(style or "", ()) or files
    if not pool:
        return _load(None, size)
    return _load(pool[int(rng.integers(len(pool)))], size)
