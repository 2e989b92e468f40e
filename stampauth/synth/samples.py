"""The sample files shipped in ``clients/samples/`` for the README walkthrough and the client examples.

Everything is generated (no real person's signature, no real company's stamp): one signer ("jansen")
and one company seal ("acme-seal") with enrollment specimens, and two printed letters that carry
them: one signed by the signer, one by somebody else (a different hand, which the shipped model tells
apart; skilled imitations are harder, see ``models/MODEL_CARD.md``). ``python -m stampauth.synth.samples DIR``
rewrites the set; the files are committed so that the walkthrough needs no generator run.
"""

from __future__ import annotations

import sys
from pathlib import Path

import cv2
import numpy as np

from stampauth.synth.signatures import random_style, render_signature
from stampauth.synth.stamps import composite_ink, random_design, render_stamp

SIGNER_ID = "jansen"
SEAL_ID = "acme-seal"
INK_BGR = (130, 40, 20)  # blue ballpoint
SEED = 20261122


def signature_crop(style, sample: int) -> np.ndarray:
    """One signature as a scanned crop ``(H, W, 3) uint8`` BGR, ink on white paper."""
    coverage = render_signature(style, np.random.default_rng([SEED, 1, sample]), height_px=90)
    crop = np.full((*coverage.shape, 3), 255.0, np.float32)
    crop *= 1.0 - coverage[..., None] * (1.0 - np.asarray(INK_BGR, np.float32) / 255.0)
    return np.pad(crop.astype(np.uint8), ((12, 12), (12, 12), (0, 0)), constant_values=255)


def seal_design():
    rng = np.random.default_rng([SEED, 2])
    return next(d for d in (random_design(rng) for _ in range(500)) if d.kind == "seal")


def _stamp_crop(design, impression: int, diameter_px: int = 260) -> np.ndarray:
    coverage = render_stamp(design, np.random.default_rng([SEED, 3, impression]), diameter_px)
    crop = np.full((*coverage.shape, 3), 255, np.uint8)
    composite_ink(crop, coverage, design.color_bgr, 0, 0)
    return crop


def letter(signature: np.ndarray, design, impression: int, reference: str) -> np.ndarray:
    """A printed A4 letter at 150 dpi (1240 x 1754) with the signature on the signature line and the seal."""
    from PIL import Image, ImageDraw

    from stampauth.synth.fonts import random_font

    rng = np.random.default_rng([SEED, 4])
    image = Image.new("RGB", (1240, 1754), "white")
    draw = ImageDraw.Draw(image)
    font = random_font(rng, 24, "serif")
    draw.text((120, 120), "ACME Holding B.V.", font=random_font(rng, 44, "bold"), fill="black")
    draw.text((120, 200), f"Reference {reference}", font=font, fill="black")
    body = ("This letter confirms the transfer described in the annex. The undersigned declares that the "
            "information given is complete and correct, and that the company seal below was applied by an "
            "authorised officer of the company on the date shown.").split()
    y, line = 300, ""
    for word in body + body:
        if draw.textlength(line + " " + word, font=font) > 980:
            draw.text((120, y), line.strip(), font=font, fill="black")
            y, line = y + 38, ""
        line += " " + word
    draw.text((120, y), line.strip(), font=font, fill="black")
    draw.line([(150, 1390), (600, 1390)], fill="black", width=2)
    draw.text((150, 1400), "J. Jansen, Director", font=font, fill="black")
    page = cv2.cvtColor(np.asarray(image), cv2.COLOR_RGB2BGR).copy()
    h, w = signature.shape[:2]
    region = page[1400 - h:1400, 200:200 + w]
    np.minimum(region, signature, out=region)
    coverage = render_stamp(design, np.random.default_rng([SEED, 5, impression]), 260, rotation_deg=-8)
    composite_ink(page, coverage, design.color_bgr, 760, 1250)
    return page


def write_samples(out_dir: str | Path) -> list[Path]:
    """Write the sample set into ``out_dir``; returns the files written."""
    out = Path(out_dir)
    (out / "specimens").mkdir(parents=True, exist_ok=True)
    style = random_style(np.random.default_rng([SEED, 0]))
    design = seal_design()
    written = []

    def save(path: Path, image: np.ndarray, *params) -> None:
        cv2.imwrite(str(path), image, list(params))
        written.append(path)

    for k in range(1, 4):
        save(out / "specimens" / f"{SIGNER_ID}-signature-{k}.png", signature_crop(style, k))
        save(out / "specimens" / f"{SEAL_ID}-{k}.png", _stamp_crop(design, k))
    genuine = letter(signature_crop(style, 10), design, 10, "2026/0417")
    save(out / "letter-signed.jpg", genuine, cv2.IMWRITE_JPEG_QUALITY, 88)
    other_hand = signature_crop(random_style(np.random.default_rng([SEED, 6])), 11)
    save(out / "letter-other-signer.jpg", letter(other_hand, design, 11, "2026/0418"), cv2.IMWRITE_JPEG_QUALITY, 88)
    # the genuine letter again as an image-only PDF page at 150 dpi, the way scanners write them
    from PIL import Image

    pdf = out / "letter-signed.pdf"
    Image.fromarray(cv2.cvtColor(genuine, cv2.COLOR_BGR2RGB)).save(pdf, "PDF", resolution=150.0, quality=88)
    written.append(pdf)
    return written


if __name__ == "__main__":
    for path in write_samples(sys.argv[1] if len(sys.argv) > 1 else "clients/samples"):
        print(path)
