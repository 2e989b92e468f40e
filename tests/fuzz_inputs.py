"""Hostile file payloads for the fuzz tests, built by hand from bytes.

Every builder returns the bytes of one file (never decodes or allocates the pixels it declares):
PNG, JPEG, TIFF, BMP and WebP headers that declare any dimensions (decompression bombs, zero-size
images), multi-page TIFFs with thousands of pages or looping page chains, and PDFs with absurd page
boxes, page counts, broken page trees, encryption and compressed-stream bombs.  ``mutate`` damages a
valid file (truncation, bit flips, overwritten or inserted bytes) the way a broken upload would.
"""

from __future__ import annotations

import struct
import zlib

import cv2
import numpy as np

# -- PNG -----------------------------------------------------------------------------------------


def png_chunk(tag: bytes, data: bytes, crc: int | None = None) -> bytes:
    crc = zlib.crc32(tag + data) if crc is None else crc
    return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", crc & 0xFFFFFFFF)


def png(width: int, height: int, bit_depth: int = 8, color_type: int = 2, interlace: int = 0,
        idat: bytes | None = None, before_idat: bytes = b"", iend: bool = True) -> bytes:
    """A PNG whose header says ``width x height`` (any 32-bit values), with ``idat`` as its compressed data
    (default: a few zero bytes, far too little for a big image)."""
    ihdr = struct.pack(">IIBBBBB", width & 0xFFFFFFFF, height & 0xFFFFFFFF, bit_depth & 0xFF, color_type & 0xFF,
                       0, 0, interlace & 0xFF)
    data = zlib.compress(b"\x00" * 64) if idat is None else idat
    out = b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) + before_idat + png_chunk(b"IDAT", data)
    return out + (png_chunk(b"IEND", b"") if iend else b"")


def png_zlib_bomb(width: int, height: int) -> bytes:
    """A real, complete RGB PNG of ``width x height`` black pixels: tiny on the wire, large when decoded."""
    row = b"\x00" + b"\x00" * (3 * width)
    compressor = zlib.compressobj(9)
    parts = [compressor.compress(row) for _ in range(height)]
    return png(width, height, idat=b"".join(parts) + compressor.flush())


def png_text_bomb(megabytes: int = 64) -> bytes:
    """A small valid PNG with a zTXt and an iCCP chunk that inflate to ``megabytes`` MB each."""
    blob = zlib.compress(b"\x00" * (megabytes << 20), 9)
    extra = png_chunk(b"zTXt", b"Comment\x00\x00" + blob) + png_chunk(b"iCCP", b"icc\x00\x00" + blob)
    return png(8, 8, before_idat=extra, idat=zlib.compress(b"\x00" * (8 * (1 + 3 * 8))))


# -- JPEG ----------------------------------------------------------------------------------------


def patch_jpeg_size(jpeg: bytes, width: int, height: int) -> bytes:
    """``jpeg`` with its SOFn header's dimensions replaced (16-bit fields: 0-65535)."""
    data = bytearray(jpeg)
    i = 2
    while i + 9 < len(data):
        if data[i] != 0xFF:
            i += 1
            continue
        marker = data[i + 1]
        if marker in (0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF):
            data[i + 5:i + 9] = struct.pack(">HH", height & 0xFFFF, width & 0xFFFF)
            return bytes(data)
        length = struct.unpack(">H", data[i + 2:i + 4])[0]
        i += 2 + length
    return bytes(data)


def jpeg_header_only(width: int, height: int, components: int = 3, progressive: bool = False) -> bytes:
    """SOI, a SOF header declaring ``width x height``, a scan start and EOI: no usable image data."""
    sof = 0xC2 if progressive else 0xC0
    comps = b"".join(bytes([i + 1, 0x11, 0]) for i in range(components & 0xFF))
    body = struct.pack(">BHHB", 8, height & 0xFFFF, width & 0xFFFF, components & 0xFF) + comps
    sof_segment = bytes([0xFF, sof]) + struct.pack(">H", len(body) + 2) + body
    dqt = b"\xff\xdb" + struct.pack(">H", 67) + b"\x00" + bytes(range(1, 65))
    sos = b"\xff\xda" + struct.pack(">HB", 6 + 2 * 1, 1) + b"\x01\x00" + b"\x00\x3f\x00"
    return b"\xff\xd8" + dqt + sof_segment + sos + b"\x00" * 16 + b"\xff\xd9"


# -- TIFF ----------------------------------------------------------------------------------------


def tiff(pages, bits: int = 8, samples: int = 1, photometric: int = 1, compression: int = 1,
         loop_to: int | None = None, strip: bytes = b"\x80" * 64, big_endian: bool = False) -> bytes:
    """A TIFF with one IFD per ``(width, height)`` in ``pages`` sharing one tiny strip; ``loop_to`` makes the
    last IFD point back at IFD number ``loop_to`` (a cycle in the page chain)."""
    e = ">" if big_endian else "<"
    header = (b"MM\x00*" if big_endian else b"II*\x00") + struct.pack(e + "I", 8)
    out = bytearray(header)
    ifd_offsets = []
    entry_count = 10
    ifd_size = 2 + 12 * entry_count + 4
    strip_offset = 8 + ifd_size * len(pages)
    for index, (width, height) in enumerate(pages):
        ifd_offsets.append(len(out))
        entries = [
            (256, 4, 1, width & 0xFFFFFFFF),
            (257, 4, 1, height & 0xFFFFFFFF),
            (258, 3, 1, bits & 0xFFFF),
            (259, 3, 1, compression & 0xFFFF),
            (262, 3, 1, photometric & 0xFFFF),
            (273, 4, 1, strip_offset),
            (277, 3, 1, samples & 0xFFFF),
            (278, 4, 1, height & 0xFFFFFFFF),
            (279, 4, 1, len(strip)),
            (284, 3, 1, 1),
        ]
        out += struct.pack(e + "H", entry_count)
        for tag, typ, count, value in entries:
            packed = struct.pack(e + "H", value) + b"\x00\x00" if typ == 3 else struct.pack(e + "I", value)
            out += struct.pack(e + "HHI", tag, typ, count) + packed
        last = index == len(pages) - 1
        if last:
            next_ifd = 0 if loop_to is None else 8 + ifd_size * loop_to
        else:
            next_ifd = len(out) + 4
        out += struct.pack(e + "I", next_ifd)
    return bytes(out) + strip


def tiff_many_pages(count: int, width: int = 4, height: int = 4, loop: bool = False) -> bytes:
    return tiff([(width, height)] * count, loop_to=0 if loop else None)


# -- BMP and WebP --------------------------------------------------------------------------------


def bmp(width: int, height: int, bpp: int = 24, compression: int = 0, pixels: bytes = b"\x00" * 64,
        colors_used: int = 0) -> bytes:
    """A BMP (BITMAPINFOHEADER) declaring ``width x height`` (signed 32-bit; negative height = top-down)."""
    info = struct.pack("<IiiHHIIiiII", 40, _i32(width), _i32(height), 1, bpp & 0xFFFF, compression & 0xFFFFFFFF,
                       len(pixels), 2835, 2835, colors_used & 0xFFFFFFFF, 0)
    palette = b"\x00\x00\x00\x00\xff\xff\xff\x00" * 2 if bpp in (1, 4, 8) else b""
    offset = 14 + len(info) + len(palette)
    header = b"BM" + struct.pack("<IHHI", offset + len(pixels), 0, 0, offset)
    return header + info + palette + pixels


def _i32(value: int) -> int:
    value &= 0xFFFFFFFF
    return value - (1 << 32) if value >= 1 << 31 else value


def webp_vp8x(width: int, height: int, flags: int = 0) -> bytes:
    """An extended WebP whose canvas is ``width x height`` (1 - 16777216) with no image data."""
    body = bytes([flags & 0xFF, 0, 0, 0]) + struct.pack("<I", (width - 1) & 0xFFFFFF)[:3] \
        + struct.pack("<I", (height - 1) & 0xFFFFFF)[:3]
    chunk = b"VP8X" + struct.pack("<I", len(body)) + body
    return b"RIFF" + struct.pack("<I", 4 + len(chunk)) + b"WEBP" + chunk


def webp_vp8l(width: int, height: int) -> bytes:
    """A lossless WebP header declaring ``width x height`` (1 - 16384) followed by garbage."""
    bits = ((width - 1) & 0x3FFF) | (((height - 1) & 0x3FFF) << 14)
    body = b"\x2f" + struct.pack("<I", bits) + b"\x00" * 16
    chunk = b"VP8L" + struct.pack("<I", len(body)) + body
    return b"RIFF" + struct.pack("<I", 4 + len(chunk)) + b"WEBP" + chunk


# -- PDF -----------------------------------------------------------------------------------------


def pdf(objects: list[bytes], trailer: bytes = b"", header: bytes = b"%PDF-1.4\n", xref: bool = True,
        eof: bool = True) -> bytes:
    """A PDF of ``objects`` (object 1 is the catalog) with a correct xref table unless ``xref`` is False."""
    out = bytearray(header)
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n".encode() + body + b"\nendobj\n"
    start = len(out)
    if xref:
        out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
        for offset in offsets:
            out += f"{offset:010d} 00000 n \n".encode()
    out += f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R ".encode() + trailer + b" >>\n"
    out += f"startxref\n{start}\n".encode() + (b"%%EOF\n" if eof else b"")
    return bytes(out)


def stream(data: bytes, extra: bytes = b"", flate: bool = False) -> bytes:
    if flate:
        data = zlib.compress(data, 9)
        extra += b" /Filter /FlateDecode"
    return b"<< /Length " + str(len(data)).encode() + extra + b" >>\nstream\n" + data + b"\nendstream"


def pdf_page(mediabox: bytes = b"[0 0 200 100]", extra: bytes = b"", content: bytes = b"",
             more_objects: tuple[bytes, ...] = (), pages_extra: bytes = b"", trailer: bytes = b"") -> bytes:
    """A one-page PDF: ``mediabox`` is inserted verbatim (so it can be anything); ``extra`` goes into the
    page dictionary; ``content`` is the page's content stream (object 4); ``more_objects`` are 5, 6, ..."""
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 " + pages_extra + b">>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox " + mediabox + b" /Contents 4 0 R " + extra + b">>",
        stream(content),
        *more_objects,
    ]
    return pdf(objects, trailer=trailer)


def pdf_pages(count: int, mediabox: bytes = b"[0 0 20 20]", declared: int | None = None) -> bytes:
    """A PDF with ``count`` pages (all sharing one empty content stream); ``declared`` overrides /Count."""
    kids = b" ".join(f"{4 + i} 0 R".encode() for i in range(count))
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [" + kids + b"] /Count " + str(count if declared is None else declared).encode()
        + b" /MediaBox " + mediabox + b" >>",
        stream(b""),
        *[b"<< /Type /Page /Parent 2 0 R /Contents 3 0 R >>"] * count,
    ]
    return pdf(objects)


def pdf_no_pages() -> bytes:
    return pdf([b"<< /Type /Catalog /Pages 2 0 R >>", b"<< /Type /Pages /Kids [] /Count 0 >>"])


def pdf_page_tree_loop() -> bytes:
    """The page tree's Kids point back at the tree itself."""
    return pdf([b"<< /Type /Catalog /Pages 2 0 R >>", b"<< /Type /Pages /Kids [2 0 R 3 0 R] /Count 2 >>",
                b"<< /Type /Pages /Parent 2 0 R /Kids [2 0 R 3 0 R] /Count 1 >>"])


def pdf_deep_page_tree(depth: int) -> bytes:
    """Pages nodes nested ``depth`` deep with one page at the bottom (recursion in page-tree walkers)."""
    objects = [b"<< /Type /Catalog /Pages 2 0 R >>"]
    for level in range(depth):
        number = 2 + level
        objects.append(f"<< /Type /Pages /Kids [{number + 1} 0 R] /Count 1 >>".encode())
    objects.append(b"<< /Type /Page /MediaBox [0 0 20 20] >>")
    return pdf(objects)


def pdf_encrypted(filter_name: bytes = b"/Standard") -> bytes:
    """Encrypted with an unknown user password (or an unknown security handler)."""
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 200 100] >>",
        b"<< /Filter " + filter_name + b" /V 2 /R 3 /Length 128 /P -3904 "
        b"/O <" + b"41" * 32 + b"> /U <" + b"42" * 32 + b"> >>",
    ]
    return pdf(objects, trailer=b"/Encrypt 4 0 R /ID [<0123456789abcdef0123456789abcdef> <0123456789abcdef0123456789abcdef>]")


def pdf_content_bomb(megabytes: int) -> bytes:
    """A 200x100 pt page whose content stream inflates to ``megabytes`` MB of drawing operators."""
    ops = b"0 0 m 200 100 l S\n" * ((megabytes << 20) // 18)
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 200 100] /Contents 4 0 R >>",
        stream(ops, flate=True),
    ]
    return pdf(objects)


def pdf_image_bomb(width: int, height: int, flate_megabytes: int = 0) -> bytes:
    """A small page that draws an image XObject declaring ``width x height`` pixels, with (at most
    ``flate_megabytes`` MB of zeros, compressed) far less data than that."""
    data = zlib.compress(b"\x00" * (flate_megabytes << 20), 9) if flate_megabytes else zlib.compress(b"\x00" * 64)
    image = (f"<< /Type /XObject /Subtype /Image /Width {width} /Height {height} /ColorSpace /DeviceGray "
             f"/BitsPerComponent 8 /Filter /FlateDecode /Length {len(data)} >>\nstream\n").encode() + data + b"\nendstream"
    return pdf_page(b"[0 0 200 100]", extra=b"/Resources << /XObject << /Im1 5 0 R >> >>",
                    content=b"q 200 0 0 100 0 0 cm /Im1 Do Q", more_objects=(image,))


# Page boxes that are absurd in every way a parser might choke on: huge, negative, inverted, zero,
# overflowing to infinity as floats, non-numeric, missing entries, indirect, nested.
ODD_MEDIABOXES = (
    b"[0 0 0 0]", b"[0 0 -612 -792]", b"[612 792 0 0]", b"[0 0 99999999 99999999]", b"[0 0 2147483648 1]",
    b"[0 0 .01 .01]", b"[0 0 0.4 0.4]", b"[0 0 1 1]", b"[0 0 1 20000]", b"[0 0 20000 1]",
    b"[0 0 1" + b"0" * 400 + b" 792]", b"[0 0 1" + b"0" * 400 + b".0 792]",
    b"[-1" + b"0" * 400 + b".0 0 1" + b"0" * 400 + b".0 792]", b"[1" + b"0" * 400 + b".0 0 1" + b"0" * 400 + b".0 792]",
    b"[0 0 1e9 792]", b"[0 0 /Foo 792]", b"[0 0 (612) 792]", b"[0 0 612]", b"[]", b"null", b"612", b"(box)",
    b"[0 0 612 792 5 6]", b"[[0 0] 612 792]", b"[0 0 true false]", b"5 0 R", b"3 0 R", b"99 0 R",
    b"[0 0 612 792", b"<< /A 1 >>", b"[0 0 --612 792]", b"[0 0 6.1.2 792]", b"[0 0 +612 792]",
)
ODD_PAGE_EXTRAS = (
    b"", b"/Rotate 90", b"/Rotate 45", b"/Rotate -270", b"/Rotate 99999999999999999999", b"/Rotate /Foo",
    b"/Rotate 1" + b"0" * 400 + b".0", b"/CropBox [0 0 1" + b"0" * 12 + b" 1" + b"0" * 12 + b"]",
    b"/CropBox [0 0 0 0]", b"/CropBox [/x]", b"/UserUnit 75000", b"/UserUnit 0",
    b"/Resources 1 0 R", b"/Resources << /Font << /F1 << /Type /Font /Subtype /Type1 /BaseFont /Helvetica >> >> >>",
)
ODD_CONTENTS = (
    b"", b"BT /F1 12 Tf 10 10 Td (hello) Tj ET", b"BT /F1 1" + b"0" * 300 + b" Tf 1 1 Td (x) Tj ET",
    b"q " * 5000 + b"Q " * 10, b"1" + b"0" * 1000 + b" 0 0 1 0 0 cm 0 0 m 10 10 l S", b"/Im9 Do", b"[(unclosed",
    b"BT /F1 12 Tf (\xff\xfe\x00\x00) Tj ET", b"0 0 200 100 re f", b"\x00" * 100,
)


# -- raster seeds and damage ---------------------------------------------------------------------


def signature_crop(seed: int = 1, height: int = 120, width: int = 320) -> np.ndarray:
    """A small blue-ink scribble on white paper, ``(H, W, 3) uint8`` BGR."""
    rng = np.random.default_rng(seed)
    image = np.full((height, width, 3), 250, np.uint8)
    points = rng.uniform([0.1 * width, 0.2 * height], [0.9 * width, 0.8 * height], size=(8, 2))
    points = points[np.argsort(points[:, 0])].astype(np.int32)
    cv2.polylines(image, [points], False, (130, 40, 20), 3, cv2.LINE_AA)
    return image


def encode(image: np.ndarray, ext: str = ".png", params=()) -> bytes:
    ok, data = cv2.imencode(ext, image, list(params))
    assert ok, ext
    return data.tobytes()


def pillow_save(images, fmt: str, **kwargs) -> bytes:
    import io

    from PIL import Image

    frames = [Image.fromarray(image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_BGR2RGB)) for image in images]
    buffer = io.BytesIO()
    frames[0].save(buffer, format=fmt, save_all=len(frames) > 1, append_images=frames[1:], **kwargs)
    return buffer.getvalue()


def mutate(data: bytes, ops) -> bytes:
    """Apply damage ``ops`` ``[(name, position, value_bytes)]`` to ``data``; positions wrap around."""
    out = bytearray(data)
    for name, position, value in ops:
        n = max(len(out), 1)
        i = position % n
        if name == "truncate":
            del out[i:]
        elif name == "flip":
            if out:
                out[i] ^= 1 << (value[0] % 8 if value else 0)
        elif name == "overwrite":
            out[i:i + len(value)] = value
        elif name == "insert":
            out[i:i] = value
        elif name == "delete":
            del out[i:i + max(1, len(value))]
        elif name == "append":
            out += value
        elif name == "duplicate":
            out += out[i:i + 4096]
        elif name == "zero":
            out[i:i + 16] = b"\x00" * len(out[i:i + 16])
    return bytes(out)
