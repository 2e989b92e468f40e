"""Document and image decoding: every format, and every kind of bad input."""

import struct
import zlib

import numpy as np
import pytest
from helpers import encode, pillow_bytes, synthetic_signature

from stampauth.errors import InvalidInput, ResourceExhausted
from stampauth.io import InputLimits, decode_document, decode_image, sniff_format

IMAGE = synthetic_signature(1)


@pytest.mark.parametrize("ext", [".png", ".jpg", ".bmp", ".webp", ".tiff"])
def test_decodes_each_raster_format(ext):
    decoded = decode_image(encode(IMAGE, ext))
    assert decoded.shape == IMAGE.shape and decoded.dtype == np.uint8
    assert np.abs(decoded.astype(int) - IMAGE.astype(int)).mean() < 3  # lossy formats stay close


def test_multipage_tiff_gives_every_page():
    pages = decode_document(pillow_bytes([IMAGE, synthetic_signature(2), synthetic_signature(3)], "TIFF"))
    assert [p.number for p in pages] == [1, 2, 3]
    assert all(p.image.shape == IMAGE.shape and p.dpi == 0 for p in pages)


def test_multipage_tiff_is_not_a_crop():
    with pytest.raises(InvalidInput, match="multi-page TIFF"):
        decode_image(pillow_bytes([IMAGE, IMAGE], "TIFF"))


def test_pdf_pages_rendered_at_requested_dpi():
    data = pillow_bytes([IMAGE, synthetic_signature(2)], "PDF", resolution=72.0)
    pages = decode_document(data, pdf_dpi=144)
    assert len(pages) == 2 and pages[0].dpi == 144
    # a 320x120 pt page at 144 dpi is 640x240 px
    assert (pages[0].width, pages[0].height) == (640, 240)
    assert pages[0].image.min() < 100  # the ink was rendered


def test_pdf_is_not_a_crop():
    with pytest.raises(InvalidInput, match="PDF"):
        decode_image(pillow_bytes([IMAGE], "PDF"))


def test_empty_input():
    with pytest.raises(InvalidInput, match="empty"):
        decode_document(b"")


def test_unsupported_format_names_the_problem():
    with pytest.raises(InvalidInput, match="not a supported file"):
        decode_document(b"GIF89a" + b"\0" * 100)
    with pytest.raises(InvalidInput, match="not a supported file"):
        decode_image(b"/home/user/scan.png")


@pytest.mark.parametrize("ext,name", [(".png", "PNG"), (".jpg", "JPEG")])
def test_truncated_file(ext, name):
    data = encode(IMAGE, ext)
    with pytest.raises(InvalidInput, match=f"truncated {name}"):
        decode_image(data[: len(data) // 2])


def test_corrupt_body_with_valid_header_and_trailer():
    data = bytearray(encode(IMAGE, ".png"))
    data[60:400] = bytes(340)  # IDAT garbage, header and IEND intact
    with pytest.raises(InvalidInput, match="corrupt"):
        decode_image(bytes(data))


def test_corrupt_header():
    with pytest.raises(InvalidInput, match="corrupt"):
        decode_image(b"\x89PNG\r\n\x1a\n" + b"\x00" * 64 + b"IEND\xaeB`\x82")


def test_byte_limit():
    with pytest.raises(ResourceExhausted, match="over the limit"):
        decode_image(encode(IMAGE), InputLimits(max_bytes=100))


def _png_claiming(width: int, height: int) -> bytes:
    """A tiny PNG whose header claims a huge size: a decompression bomb's calling card."""
    def chunk(kind, body):
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")


def test_decompression_bomb_rejected_before_decoding():
    with pytest.raises(ResourceExhausted, match="pixels"):
        decode_image(_png_claiming(60000, 60000))
    with pytest.raises(ResourceExhausted, match="pixels"):
        decode_image(_png_claiming(10000, 9000))  # under Pillow's own guard, over ours


def test_pixel_limit_on_pdf_render():
    data = pillow_bytes([IMAGE], "PDF", resolution=72.0)
    with pytest.raises(ResourceExhausted, match="lower resolution"):
        decode_document(data, InputLimits(max_page_pixels=100_000), pdf_dpi=300)


def test_page_limit():
    with pytest.raises(ResourceExhausted, match="pages"):
        decode_document(pillow_bytes([IMAGE] * 3, "PDF"), InputLimits(max_pages=2))
    with pytest.raises(ResourceExhausted, match="pages"):
        decode_document(pillow_bytes([IMAGE] * 3, "TIFF"), InputLimits(max_pages=2))


def test_pdf_dpi_out_of_range_names_the_field():
    with pytest.raises(InvalidInput) as caught:
        decode_document(pillow_bytes([IMAGE], "PDF"), pdf_dpi=5000)
    assert caught.value.field == "pdf_dpi"


def test_corrupt_pdf():
    with pytest.raises(InvalidInput, match="corrupt PDF|no pages|cannot be rendered"):
        decode_document(b"%PDF-1.4\n" + b"garbage " * 50 + b"\n%%EOF")


def _encrypted_pdf() -> bytes:
    """A PDF with a standard-security /Encrypt dictionary whose user password is not empty."""
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 200 200] >>",
        b"<< /Filter /Standard /V 1 /R 2 /O <" + b"11" * 32 + b"> /U <" + b"22" * 32 + b"> /P -4 >>",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    for offset in offsets:
        out += b"%010d 00000 n \n" % offset
    out += b"trailer\n<< /Size %d /Root 1 0 R /Encrypt 4 0 R /ID [<" % (len(objects) + 1)
    out += b"ab" * 16 + b"> <" + b"ab" * 16 + b">] >>\nstartxref\n%d\n%%%%EOF\n" % xref
    return bytes(out)


def test_encrypted_pdf():
    with pytest.raises(InvalidInput, match="encrypted"):
        decode_document(_encrypted_pdf())


def test_sniffing_ignores_names():
    assert sniff_format(encode(IMAGE, ".jpg")) == "jpeg"
    assert sniff_format(encode(IMAGE, ".webp")) == "webp"
    assert sniff_format(b"junk" + b"%PDF-1.7") == "pdf"
    assert sniff_format(b"hello") is None


def _letterhead(width: int, height: int) -> np.ndarray:
    page = np.full((height, width, 3), 255, np.uint8)
    page[height // 3: height // 3 + 40, width // 5: 4 * width // 5] = (20, 20, 20)  # a dark band to locate
    return page


def test_a_large_jpeg_is_decoded_smaller_but_keeps_its_page_size():
    content = encode(_letterhead(2480, 3508), ".jpg")
    page = decode_document(content, working_long_side=1600)[0]
    assert page.image.shape[:2] == (1754, 1240) and page.scale == 0.5
    assert (page.width, page.height) == (2480, 3508)
    full = decode_document(content)[0]
    assert full.image.shape[:2] == (3508, 2480) and full.scale == 1.0
    # what the smaller decode shows is the same page: the dark band where it is at full size
    rows = np.nonzero(page.image[:, :, 0].mean(axis=1) < 128)[0] / page.scale
    assert abs(rows.min() - 3508 // 3) <= 2 and abs(rows.max() - (3508 // 3 + 39)) <= 2


def test_small_jpegs_pngs_and_ocr_reads_are_decoded_at_full_size():
    assert decode_document(encode(_letterhead(1240, 1754), ".jpg"), working_long_side=1600)[0].scale == 1.0
    assert decode_document(encode(_letterhead(2480, 3508), ".png"), working_long_side=1600)[0].scale == 1.0
    assert decode_document(encode(_letterhead(2480, 3508), ".jpg"), working_long_side=0)[0].scale == 1.0


def test_pdf_pages_render_at_the_working_size_with_full_size_page_coordinates():
    content = pillow_bytes([_letterhead(2480, 3508)], "PDF", resolution=300.0)
    full = decode_document(content, pdf_dpi=300)[0]
    small = decode_document(content, pdf_dpi=300, working_long_side=1600)[0]
    assert max(small.image.shape[:2]) == 1600 and small.scale < 0.5
    assert (small.width, small.height) == (full.width, full.height) and small.dpi == full.dpi == 300
    assert decode_document(content, pdf_dpi=100, working_long_side=1600)[0].scale == 1.0  # already small


def test_a_large_jpeg_turned_by_its_exif_orientation_keeps_the_turned_page_size():
    """Regression: the half-size decode took the page size from the JPEG header, which is before the EXIF turn."""
    import io as stdio

    from PIL import Image

    stored = Image.fromarray(_letterhead(3508, 2480)[:, :, ::-1])  # landscape pixels ...
    exif = stored.getexif()
    exif[0x0112] = 6  # ... shown turned 90 degrees clockwise: a portrait page
    buffer = stdio.BytesIO()
    stored.save(buffer, "JPEG", exif=exif)
    full = decode_document(buffer.getvalue())[0]
    small = decode_document(buffer.getvalue(), working_long_side=1600)[0]
    assert (full.width, full.height) == (2480, 3508)
    assert (small.width, small.height) == (2480, 3508) and small.image.shape[:2] == (1754, 1240)
