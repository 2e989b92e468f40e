"""Test data made on the fly: synthetic signature-like crops and encoded files."""

from __future__ import annotations

import io

import cv2
import numpy as np


def synthetic_signature(writer: int, variant: int = 0, size=(120, 320), jitter: float = 2.0) -> np.ndarray:
    """A pen-like scribble ``(H, W, 3) uint8`` BGR: the same writer gives the same shape with small wobble."""
    shape_rng = np.random.default_rng(writer)
    wobble = np.random.default_rng([writer, variant])
    h, w = size
    points = shape_rng.uniform([0.1 * w, 0.2 * h], [0.9 * w, 0.8 * h], size=(9, 2))
    points = points[np.argsort(points[:, 0])]
    points += wobble.normal(0, jitter, points.shape)
    t = np.linspace(0, 1, 200)
    curve = np.stack([np.interp(t, np.linspace(0, 1, len(points)), points[:, i]) for i in range(2)], axis=1)
    curve[:, 1] += 10 * np.sin(t * (6 + writer % 5) * np.pi)
    image = np.full((h, w, 3), 250, np.uint8)
    cv2.polylines(image, [curve.astype(np.int32)], False, (40, 30, 20), 3, cv2.LINE_AA)
    return image


def encode(image: np.ndarray, ext: str = ".png") -> bytes:
    ok, data = cv2.imencode(ext, image)
    assert ok
    return data.tobytes()


def pillow_bytes(images, fmt: str, **kwargs) -> bytes:
    """Several BGR images -> one multi-page file (TIFF, PDF) through Pillow."""
    from PIL import Image

    pages = [Image.fromarray(cv2.cvtColor(image, cv2.COLOR_BGR2RGB)) for image in images]
    buffer = io.BytesIO()
    pages[0].save(buffer, format=fmt, save_all=True, append_images=pages[1:], **kwargs)
    return buffer.getvalue()


def pdf_with_text_layer(image: np.ndarray, texts, dpi: int) -> bytes:
    """A one-page PDF: ``image (H, W, 3) BGR`` as the page's picture (at ``dpi``) with ``texts`` written over it as
    real PDF text in Helvetica: ``[(text, x_px, baseline_y_px, size_px)]`` in the picture's pixels.

    Hand-written (no PDF library in the project): a catalog, one page, a font, an image XObject, one content stream.
    """
    import zlib

    h, w = image.shape[:2]
    scale = 72.0 / dpi
    width_pt, height_pt = w * scale, h * scale
    pixels = zlib.compress(cv2.cvtColor(image, cv2.COLOR_BGR2RGB).tobytes())

    def escape(text: str) -> str:
        return text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")

    content = [f"q {width_pt:.2f} 0 0 {height_pt:.2f} 0 0 cm /Im1 Do Q"]
    for text, x, baseline, size in texts:
        content.append(f"BT /F1 {size * scale:.2f} Tf {x * scale:.2f} {height_pt - baseline * scale:.2f} Td "
                       f"({escape(text)}) Tj ET")
    stream = "\n".join(content).encode("latin-1")
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        (f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 {width_pt:.2f} {height_pt:.2f}] "
         "/Resources << /Font << /F1 4 0 R >> /XObject << /Im1 5 0 R >> >> /Contents 6 0 R >>").encode(),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>",
        (f"<< /Type /XObject /Subtype /Image /Width {w} /Height {h} /ColorSpace /DeviceRGB /BitsPerComponent 8 "
         f"/Filter /FlateDecode /Length {len(pixels)} >>\nstream\n").encode() + pixels + b"\nendstream",
        f"<< /Length {len(stream)} >>\nstream\n".encode() + stream + b"\nendstream",
    ]
    out = io.BytesIO()
    out.write(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(out.tell())
        out.write(f"{number} 0 obj\n".encode() + body + b"\nendobj\n")
    xref = out.tell()
    out.write(f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode())
    for offset in offsets:
        out.write(f"{offset:010d} 00000 n \n".encode())
    out.write(f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode())
    return out.getvalue()
