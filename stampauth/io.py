"""Safe decoding of images and documents from bytes.

Formats are recognised from their first bytes (never from a file name).  Sizes are checked
from the file header *before* any pixel is decoded, so a decompression bomb costs nothing.
Every problem is an :class:`InvalidInput` (unreadable input) or :class:`ResourceExhausted`
(a limit), with a message that names it.
"""

from __future__ import annotations

import io as _stdio
import math
import warnings
from dataclasses import dataclass

import cv2
import numpy as np

from stampauth.cancellation import checkpoint
from stampauth.detection.types import Box
from stampauth.errors import InvalidInput, ResourceExhausted
from stampauth.text.types import OcrWord


_SIGNATURES = (
    (b"\x89PNG\r\n\x1a\n", "png"),
    (b"\xff\xd8\xff", "jpeg"),
    (b"II*\x00", "tiff"),
    (b"MM\x00*", "tiff"),
    (b"BM", "bmp"),
    (b"%PDF-", "pdf"),
)
SUPPORTED_FORMATS = ("png", "jpeg", "tiff", "bmp", "webp", "pdf")


@dataclass(frozen=True)
class InputLimits:
    max_bytes: int = 64 * 1024 * 1024
    max_page_pixels: int = 80_000_000  # A4 at 600 dpi is 35 MP
    max_pages: int = 100
    default_pdf_dpi: int = 200
    max_pdf_dpi: int = 600
    max_pdf_content_bytes: int = 4 * 1024 * 1024  # decompressed drawing instructions per PDF page


@dataclass(frozen=True)
class Page:
    """One decoded page: ``image (H, W, 3) uint8 BGR``; ``dpi`` is the PDF render resolution or 0.

    ``words``: a PDF page's text layer in page pixels when it was asked for (empty for a page with no
    text layer, such as a scan saved as PDF); None for raster images or when not asked for.
    """

    number: int
    image: np.ndarray
    dpi: int = 0
    words: tuple[OcrWord, ...] | None = None
    # image pixels per page pixel: below 1 when a large page was decoded (JPEG) or rendered (PDF) smaller than its
    # full size because nothing asked for more (see ``working_long_side``); boxes are reported in page pixels
    scale: float = 1.0
    full_size: tuple[int, int] | None = None  # (width, height) in page pixels when ``scale`` < 1

    @property
    def width(self) -> int:
        return self.full_size[0] if self.full_size else int(self.image.shape[1])

    @property
    def height(self) -> int:
        return self.full_size[1] if self.full_size else int(self.image.shape[0])


def sniff_format(data: bytes) -> str | None:
    """The file format from its magic bytes, or None."""
    for magic, name in _SIGNATURES:
        if data.startswith(magic):
            return name
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    # PDFs may have a little junk before the header; the spec allows it in the first 1024 bytes
    if b"%PDF-" in data[:1024]:
        return "pdf"
    return None


def _check_bytes(data: bytes, limits: InputLimits, what: str) -> str:
    if not data:
        raise InvalidInput(f"the {what} is empty: send the file's bytes")
    if len(data) > limits.max_bytes:
        raise ResourceExhausted(
            f"the {what} is {len(data)} bytes, over the limit of {limits.max_bytes}; "
            "send a smaller file (lower resolution or fewer pages)"
        )
    kind = sniff_format(data)
    if kind is None:
        raise InvalidInput(
            f"the {what} is not a supported file (expected one of {', '.join(SUPPORTED_FORMATS)}); "
            "check that you send the file's raw bytes, not a path or base64 text"
        )
    return kind


def _check_pixels(width: int, height: int, limits: InputLimits, what: str) -> None:
    if width <= 0 or height <= 0:
        raise InvalidInput(f"the {what} has no pixels ({width}x{height})")
    if width * height > limits.max_page_pixels:
        raise ResourceExhausted(
            f"the {what} is {width}x{height} pixels, over the limit of {limits.max_page_pixels}; "
            "scan or render it at a lower resolution"
        )


def tiff_page_count(data: bytes, cap: int) -> int:
    """How many pages (IFDs) a classic TIFF chains, counting at most ``cap + 1``: Pillow walks every IFD to answer
    this, so a file chaining a million tiny pages would cost minutes before any limit is checked. A chain that
    loops back or points outside the file ends the count."""
    import struct

    order = "<" if data[:2] == b"II" else ">"
    try:
        (offset,) = struct.unpack_from(order + "I", data, 4)
        seen, count = set(), 0
        while offset and offset not in seen and count <= cap:
            seen.add(offset)
            (entries,) = struct.unpack_from(order + "H", data, offset)
            (offset,) = struct.unpack_from(order + "I", data, offset + 2 + 12 * entries)
            count += 1
        return count
    except struct.error:  # the chain points past the end: count what was there
        return max(1, len(seen))


def _header_size(data: bytes, what: str) -> tuple[int, int, int]:
    """``(width, height, frames)`` from the header via Pillow's lazy open (no pixel decoding); ``frames`` is 1 for
    a TIFF (see :func:`tiff_page_count`)."""
    from PIL import Image

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # our own limit decides
            with Image.open(_stdio.BytesIO(data)) as image:
                frames = 1 if image.format == "TIFF" else int(getattr(image, "n_frames", 1))
                return int(image.width), int(image.height), frames
    except Image.DecompressionBombError as error:
        raise ResourceExhausted(f"the {what} declares too many pixels: {error}") from None
    except Exception as error:  # noqa: BLE001 - Pillow raises many types for corrupt headers
        raise InvalidInput(f"the {what} is corrupt: its header cannot be read ({type(error).__name__})") from None


def _check_complete(data: bytes, kind: str, what: str) -> None:
    """Truncated files decode to half-grey images in OpenCV; catch them by their missing trailer."""
    if kind == "png" and b"IEND" not in data[-64:]:
        raise InvalidInput(f"the {what} is a truncated PNG (no end chunk): upload the whole file")
    if kind == "jpeg" and b"\xff\xd9" not in data[-4096:]:
        raise InvalidInput(f"the {what} is a truncated JPEG (no end marker): upload the whole file")


def _to_bgr(array: np.ndarray) -> np.ndarray:
    if array.dtype != np.uint8:  # 16-bit scans: keep the top 8 bits
        array = (array / 257).astype(np.uint8) if array.dtype == np.uint16 else array.astype(np.uint8)
    if array.ndim == 2:
        return cv2.cvtColor(array, cv2.COLOR_GRAY2BGR)
    if array.shape[2] == 4:
        return cv2.cvtColor(array, cv2.COLOR_BGRA2BGR)
    return array


REDUCED_JPEG_FLAGS = {2: cv2.IMREAD_REDUCED_COLOR_2, 4: cv2.IMREAD_REDUCED_COLOR_4, 8: cv2.IMREAD_REDUCED_COLOR_8}


def reduction_for(width: int, height: int, working_long_side: int) -> int:
    """The largest JPEG decoding reduction (1, 2, 4 or 8) that keeps the longer side at ``working_long_side`` or
    more (0: no reduction). libjpeg decodes at 1/2, 1/4, 1/8 size for a fraction of the full decoding's cost."""
    if working_long_side <= 0:
        return 1
    return max([f for f in (1, 2, 4, 8) if max(width, height) // f >= working_long_side] or [1])


def _decode_raster(data: bytes, kind: str, limits: InputLimits, what: str, max_frames: int,
                   working_long_side: int = 0) -> list[tuple[np.ndarray, float, tuple[int, int] | None]]:
    """The frames of a raster file as ``(image, scale, (width, height) in file pixels)``, ``scale`` being image
    pixels per file pixel."""
    width, height, frames = _header_size(data, what)
    if kind == "tiff":
        frames = tiff_page_count(data, limits.max_pages)
    _check_pixels(width, height, limits, what)
    _check_complete(data, kind, what)
    if kind != "tiff":
        reduction = reduction_for(width, height, working_long_side) if kind == "jpeg" else 1
        flag = REDUCED_JPEG_FLAGS.get(reduction, cv2.IMREAD_COLOR)
        image = cv2.imdecode(np.frombuffer(data, np.uint8), flag)
        if image is None:
            raise InvalidInput(f"the {what} is a corrupt {kind.upper()} file: it cannot be decoded")
        if reduction == 1:
            return [(image, 1.0, None)]
        if (image.shape[1] > image.shape[0]) != (width > height):  # EXIF orientation turned the page a quarter
            width, height = height, width
        return [(image, image.shape[1] / width, (width, height))]
    if frames > limits.max_pages:
        raise ResourceExhausted(
            f"the {what} has more than {limits.max_pages} pages, the limit; split the document"
        )
    from PIL import Image

    pages = []
    try:
        with Image.open(_stdio.BytesIO(data)) as image:
            for index in range(min(frames, max_frames)):
                image.seek(index)
                _check_pixels(image.width, image.height, limits, f"{what} (page {index + 1})")
                frame = image.convert("RGB")
                pages.append((cv2.cvtColor(np.asarray(frame), cv2.COLOR_RGB2BGR), 1.0, None))
    except (InvalidInput, ResourceExhausted):
        raise
    except Exception as error:  # noqa: BLE001
        raise InvalidInput(f"the {what} is a corrupt TIFF file ({type(error).__name__}); re-export it") from None
    return pages


def pdf_words(page, dpi: int) -> tuple[OcrWord, ...]:
    """A pdfplumber page's text layer as words in the pixels of its rendering at ``dpi`` (confidence 1)."""
    scale = dpi / 72.0
    try:
        words = page.extract_words(keep_blank_chars=False, use_text_flow=False)
    except Exception:  # noqa: BLE001 - a broken text layer is no text layer; the page still renders
        return ()
    return tuple(OcrWord(w["text"], Box(float(w["x0"]) * scale, float(w["top"]) * scale, float(w["x1"]) * scale,
                                        float(w["bottom"]) * scale), 1.0)
                 for w in words if str(w.get("text", "")).strip())


def _render_pdf(data: bytes, limits: InputLimits, dpi: int, what: str, text_layer: bool = False,
                working_long_side: int = 0) -> list[Page]:
    import pdfplumber
    from pdfminer.pdfdocument import PDFEncryptionError, PDFPasswordIncorrect

    try:
        pdf = pdfplumber.open(_stdio.BytesIO(data))
    except Exception as error:  # noqa: BLE001 - pdfminer raises many types for broken files
        # pdfplumber wraps pdfminer's errors; the original is its first argument
        cause = error.args[0] if error.args and isinstance(error.args[0], Exception) else error
        if isinstance(cause, (PDFPasswordIncorrect, PDFEncryptionError)):
            raise InvalidInput(f"the {what} is an encrypted PDF: remove the password and send it again") from None
        raise InvalidInput(f"the {what} is a corrupt PDF ({type(cause).__name__}); re-export or re-scan it") from None
    try:
        return _render_pages(pdf, data, limits, dpi, what, text_layer, working_long_side)
    except RecursionError:  # a page tree nested thousands deep
        raise InvalidInput(f"the {what} is a corrupt PDF: its page tree is nested too deep") from None
    finally:
        try:
            pdf.close()
        except Exception:  # noqa: BLE001 - closing a broken PDF may fail too; its error must not hide ours
            pass


def _render_pages(pdf, data: bytes, limits: InputLimits, dpi: int, what: str, text_layer: bool,
                  working_long_side: int = 0) -> list[Page]:
    """pdfplumber reads the document (page tree, sizes, content sizes, text layer); pypdfium2, pdfplumber's own
    renderer, draws each page straight into a BGR array from one opened document (pdfplumber's ``to_image``
    reopens the document for every page and goes through PIL and a colour conversion)."""
    import pypdfium2

    try:
        renderer = pypdfium2.PdfDocument(data)
    except Exception as error:  # noqa: BLE001 - pdfplumber could read it; pdfium may still refuse it
        raise InvalidInput(f"the {what} cannot be rendered ({type(error).__name__}); re-export the PDF") from None
    try:
        return _render_with(pdf, renderer, limits, dpi, what, text_layer, working_long_side)
    finally:
        renderer.close()


def _render_with(pdf, renderer, limits: InputLimits, dpi: int, what: str, text_layer: bool,
                 working_long_side: int) -> list[Page]:
    try:
        count = len(pdf.pages)
    except Exception as error:  # noqa: BLE001
        raise InvalidInput(f"the {what} is a corrupt PDF: its page tree cannot be read ({type(error).__name__})") from None
    if count == 0:
        raise InvalidInput(f"the {what} is a PDF with no pages")
    if count > limits.max_pages:
        raise ResourceExhausted(f"the {what} has {count} pages, over the limit of {limits.max_pages}; split it")
    pages: list[Page] = []
    for number, page in enumerate(pdf.pages, start=1):
        checkpoint()
        try:
            width_pt, height_pt = float(page.width), float(page.height)
        except Exception as error:  # noqa: BLE001 - a MediaBox that is not four numbers
            raise InvalidInput(f"page {number} of the {what} has no valid size (MediaBox: {type(error).__name__}); "
                               "re-export the PDF") from None
        if not (math.isfinite(width_pt) and math.isfinite(height_pt)) or width_pt <= 0 or height_pt <= 0:
            raise InvalidInput(f"page {number} of the {what} has no valid size ({width_pt!r} x {height_pt!r} points); "
                               "re-export the PDF")
        width_px, height_px = width_pt * dpi / 72.0, height_pt * dpi / 72.0
        if width_px * height_px > limits.max_page_pixels:
            raise ResourceExhausted(f"page {number} of the {what} at {dpi} dpi would be {width_px:.0f}x{height_px:.0f} "
                                    f"pixels, over the limit of {limits.max_page_pixels}; render it at a lower resolution (pdf_dpi)")
        _check_pixels(max(1, int(round(width_px))), max(1, int(round(height_px))), limits,
                      f"{what} page {number} at {dpi} dpi")
        _check_content_size(page, limits, number, what)
        # nothing needs more than working_long_side pixels: render smaller (boxes stay in pixels at ``dpi``)
        scale = min(1.0, working_long_side / max(width_px, height_px)) if working_long_side > 0 else 1.0
        try:
            rendering = renderer[number - 1]
            bitmap = rendering.render(scale=dpi * scale / 72.0, may_draw_forms=True)
            image = bitmap.to_numpy()
            if bitmap.mode == "BGRA" or bitmap.mode == "BGRX":
                image = image[:, :, :3]
            elif bitmap.mode == "L":
                image = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
            image = np.ascontiguousarray(image)
        except Exception as error:  # noqa: BLE001
            raise InvalidInput(f"page {number} of the {what} cannot be rendered ({type(error).__name__})") from None
        words = pdf_words(page, dpi) if text_layer else None
        if scale < 1.0:  # the size a full rendering would have (pypdfium2 rounds its float page size up)
            full_size = (math.ceil(rendering.get_width() * dpi / 72.0), math.ceil(rendering.get_height() * dpi / 72.0))
            pages.append(Page(number, image, dpi, words, image.shape[1] / full_size[0], full_size))
        else:
            pages.append(Page(number, image, dpi, words))
    return pages


def _check_content_size(page, limits: InputLimits, number: int, what: str) -> None:
    """Refuse a page whose drawing instructions decompress to more than ``limits.max_pdf_content_bytes``: rendering
    millions of operators takes minutes and cannot be interrupted (a "content bomb"); real pages, scans
    included, need a few kilobytes to a few megabytes."""
    import zlib

    try:
        streams = page.page_obj.contents or []
    except Exception:  # noqa: BLE001 - unreadable contents: the renderer will say so
        return
    total = 0
    for stream in streams:
        try:
            stream = stream.resolve() if hasattr(stream, "resolve") else stream
            raw = stream.get_rawdata() if hasattr(stream, "get_rawdata") else None
            filters = stream.get_filters() if hasattr(stream, "get_filters") else []
        except Exception:  # noqa: BLE001
            continue
        if raw is None:
            continue
        names = [str(getattr(f, "name", f)).lstrip("/") for f, _ in filters] if filters else []
        if names in ([], ["FlateDecode"], ["Fl"]):
            budget = limits.max_pdf_content_bytes - total + 1
            try:
                size = len(zlib.decompressobj().decompress(raw, budget)) if names else len(raw)
            except zlib.error:
                continue
        else:  # other filters: judge by the compressed size, at a generous ratio
            size = len(raw) * 10
        total += size
        if total > limits.max_pdf_content_bytes:
            raise ResourceExhausted(f"page {number} of the {what} holds more than {limits.max_pdf_content_bytes} bytes "
                                    "of drawing instructions, too many to render in reasonable time; rasterize it "
                                    "(print to an image PDF) and send it again")


def decode_document(data: bytes, limits: InputLimits = InputLimits(), pdf_dpi: int = 0, what: str = "document",
                    text_layer: bool = False, working_long_side: int = 0) -> list[Page]:
    """Bytes of a PNG, JPEG, TIFF (multi-page), BMP, WebP or PDF -> its pages (with ``text_layer``: a PDF's
    words on each page, see :attr:`Page.words`).

    ``working_long_side`` > 0: the caller needs no more than that many pixels along a page's longer side, so a
    larger JPEG is decoded at 1/2, 1/4 or 1/8 size and a PDF page rendered smaller, never below it
    (:attr:`Page.scale` says by how much; 0 = full size)."""
    kind = _check_bytes(data, limits, what)
    if kind == "pdf":
        dpi = pdf_dpi or limits.default_pdf_dpi
        if not 36 <= dpi <= limits.max_pdf_dpi:
            raise InvalidInput(f"pdf_dpi must be between 36 and {limits.max_pdf_dpi}, got {dpi}", field="pdf_dpi")
        return _render_pdf(data, limits, dpi, what, text_layer, working_long_side)
    images = _decode_raster(data, kind, limits, what, limits.max_pages, working_long_side)
    return [Page(number, image, scale=scale, full_size=size if scale != 1.0 else None)
            for number, (image, scale, size) in enumerate(images, start=1)]


def decode_image(data: bytes, limits: InputLimits = InputLimits(), what: str = "image") -> np.ndarray:
    """Bytes of one image (PNG, JPEG, TIFF, BMP, WebP) -> ``(H, W, 3) uint8`` BGR.

    A crop must be a single image: a PDF or a multi-page TIFF is rejected with a hint.
    """
    kind = _check_bytes(data, limits, what)
    if kind == "pdf":
        raise InvalidInput(f"the {what} is a PDF; send a cropped image here, or use the document methods for PDFs")
    images = _decode_raster(data, kind, limits, what, max_frames=2)
    if len(images) > 1:
        raise InvalidInput(f"the {what} is a multi-page TIFF; send one cropped mark per image")
    return images[0][0]
