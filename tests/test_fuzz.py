"""Bad input, fuzzed: more than 10,000 malformed or hostile requests across every RPC of a real server.

Random bytes; valid images and PDFs truncated, bit-flipped or with corrupted headers; PNG, JPEG, TIFF, BMP
and WebP headers declaring huge, zero or one-pixel dimensions (crafted, never allocated); multi-page TIFFs
with many or looping pages; broken, empty and encrypted PDFs and PDFs with absurd page boxes, page counts
and page trees; wrong enum values; empty, very long and unicode-odd ids, names, metadata, notes, page tokens
and OCR languages; negative and huge numbers, NaN and infinite floats; inverted regions; too many claims;
upload calls with chunks out of order, missing, oversized or lying about their size and checksum; and raw
request bytes that are not a valid protobuf message at all.

Every call must end OK or with a status from ``ALLOWED`` and a message saying what is wrong: never
INTERNAL or UNKNOWN (an unexpected exception), DEADLINE_EXCEEDED (a hang: every call has a deadline) or
UNAVAILABLE (a crash).  Problems are collected rather than raised at the first one, so one run lists every
distinct failure (RPC, status, message) with its smallest request.  Afterwards health is SERVING and a
normal enrollment and verification still work.

Hypothesis runs derandomized with no example database, so a run is reproducible.
"""

from __future__ import annotations

import base64
import collections
import hashlib
import math
import re
import time

import cv2
import fuzz_inputs as F
import grpc
import numpy as np
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from helpers import encode, pdf_with_text_layer, pillow_bytes, synthetic_signature
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stampauth.detection.detector import load_detector
from stampauth.io import InputLimits
from stampauth.modeling.card import load_encoder
from stampauth.server.app import SERVICE_NAME, build_server
from stampauth.service import ServiceLimits, StampAuth
from stampauth.store import open_store
from stampauth.v1 import stampauth_pb2 as pb
from stampauth.v1 import stampauth_pb2_grpc as pb_grpc

pytestmark = pytest.mark.slow

DEADLINE_S = 20.0  # per call: a hang fails the test instead of blocking it
BOMB_SECONDS = 5.0  # a bomb must be refused from its header, well within this
ALLOWED = {
    grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.NOT_FOUND, grpc.StatusCode.ALREADY_EXISTS,
    grpc.StatusCode.FAILED_PRECONDITION, grpc.StatusCode.RESOURCE_EXHAUSTED, grpc.StatusCode.UNIMPLEMENTED,
    grpc.StatusCode.OUT_OF_RANGE, grpc.StatusCode.PERMISSION_DENIED, grpc.StatusCode.UNAUTHENTICATED,
}
# Small limits make every bomb cheap to refuse: 4 MiB files, 4 MP pages, 8 pages.
LIMITS = ServiceLimits(input=InputLimits(max_bytes=4 << 20, max_page_pixels=4_000_000, max_pages=8))
MESSAGE_BYTES = 16 << 20
IDENTITY_ID = re.compile(r"[A-Za-z0-9._:@-]{1,128}")
BASE = "fuzz.base"  # an identity with one signature specimen, made before the fuzzing

# Examples per fuzz test; together at least 10,000.
PLAN = {
    "CompareImages": 1200, "CreateIdentity": 900, "GetIdentity": 400, "ListIdentities": 400, "DeleteIdentity": 300,
    "EnrollSpecimens": 700, "GetSpecimen": 300, "ListSpecimens": 400, "DeleteSpecimen": 300, "VerifyImage": 900,
    "DetectMarks": 1400, "VerifyDocument": 1000, "IdentifyMark": 300, "Upload": 600, "RawBytes": 1000,
}
EXAMPLES: collections.Counter = collections.Counter()  # examples run, per fuzz test
CALLS: collections.Counter = collections.Counter()  # requests sent, per RPC


def fuzz_settings(name: str):
    return settings(max_examples=PLAN[name], deadline=None, database=None, derandomize=True, print_blob=False,
                    suppress_health_check=list(HealthCheck))


# -- seeds: valid files the hostile ones are made from -----------------------------------------------------

SIGNATURE = synthetic_signature(5)
SIG_PNG = encode(SIGNATURE)
SIG_JPEG = encode(SIGNATURE, ".jpg")


def _page() -> np.ndarray:
    page = np.full((500, 700, 3), 255, np.uint8)
    cv2.putText(page, "ACME Holding B.V.", (40, 60), cv2.FONT_HERSHEY_SIMPLEX, 1.2, (0, 0, 0), 2)
    for line in range(5):
        cv2.putText(page, "lorem ipsum dolor sit amet " * 2, (40, 120 + 30 * line), cv2.FONT_HERSHEY_SIMPLEX, 0.6,
                    (0, 0, 0), 1)
    page[330:450, 60:380] = np.minimum(page[330:450, 60:380], SIGNATURE)
    cv2.circle(page, (560, 390), 70, (160, 40, 30), 4)
    return page


PAGE = _page()
IMAGE_SEEDS = (
    SIG_PNG, SIG_JPEG, encode(SIGNATURE, ".bmp"), encode(SIGNATURE, ".tiff"), encode(SIGNATURE, ".webp"),
    encode(cv2.cvtColor(SIGNATURE, cv2.COLOR_BGR2GRAY)), F.encode(SIGNATURE, ".jpg", (cv2.IMWRITE_JPEG_PROGRESSIVE, 1)),
    F.pillow_save([SIGNATURE], "TIFF", compression="tiff_lzw"), F.encode(F.signature_crop(2)),
)
DOCUMENT_SEEDS = (
    encode(PAGE), encode(PAGE, ".jpg"), pillow_bytes([PAGE, PAGE], "TIFF"),
    pdf_with_text_layer(PAGE, [("J. Jansen, Director", 60, 470, 18)], 150), pillow_bytes([PAGE], "PDF", resolution=150),
)
MAGICS = (b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b"II*\x00", b"MM\x00*", b"BM", b"%PDF-", b"%PDF-1.7\n",
          b"RIFF\x00\x00\x00\x00WEBP", b"GIF89a", b"\x00\x00\x00\x0cjP  ", b"")
SPECIAL_FILES = (
    F.png_text_bomb(64), F.png_zlib_bomb(1900, 1900), F.png(0, 0), F.png(1, 1), F.png(2**31 - 1, 2**31 - 1),
    F.png(100000, 1), F.jpeg_header_only(65535, 65535), F.jpeg_header_only(0, 10), F.tiff([(8, 8), (100000, 100000)]),
    F.tiff_many_pages(9), F.tiff_many_pages(200), F.tiff_many_pages(3, loop=True), F.tiff([(4, 4)], bits=32),
    F.bmp(-5, 5), F.bmp(1, -1), F.webp_vp8x(16384, 16384), F.webp_vp8l(1, 1), F.pdf_no_pages(),
    F.pdf_page_tree_loop(), F.pdf_encrypted(), F.pdf_encrypted(b"/Foo"), F.pdf_pages(9), F.pdf_pages(300),
    F.pdf_pages(1, declared=10**12), F.pdf_deep_page_tree(40), F.pdf_deep_page_tree(3000),
    F.pdf_image_bomb(60000, 60000), F.pdf_image_bomb(30000, 30000, 8),
    encode(np.zeros((1, 1, 3), np.uint8)), encode(np.zeros((1, 3000, 3), np.uint8)),
    encode(np.zeros((3000, 1, 3), np.uint8)), encode(np.zeros((2, 2000), np.uint8)),
    encode(np.zeros((40, 40, 4), np.uint8)), encode(np.full((40, 40), 65535, np.uint16)),
)

# -- strategies ---------------------------------------------------------------------------------------------

ODD_STRINGS = (
    "", " ", "\x00", "a\x00b", "\u200f\u202eevil\u202c", "\ufeffid", "e\u0301" * 40, "\u0301" * 300, "\U0001f468\u200d\U0001f469\u200d\U0001f467",
    "\U0010ffff", "\uffff\ufffe", "..", "../../etc/passwd", "%s%n%x", "' OR '1'='1", "x'); DROP TABLE identities;--",
    "\r\n", "x\n", "x\r", "\n", "ǅİß\u2028\u2029", "a" * 128, "a" * 129, "a" * 10000, "é" * 5000, "\t", "null",
    "-1", "\U0001f642" * 300, "A" * 1025, "fuzz.base", "fuzz.base\n", "FUZZ.BASE", "fuzz.base\x00", "ｆｕｚｚ",
)
DIMS = st.one_of(st.sampled_from((0, 1, 2, 3, 255, 2000, 2001, 65535, 65536, 100000, 2**31 - 1, 2**31, 2**32 - 1)),
                 st.integers(0, 2**32 - 1))
INT32 = st.one_of(st.sampled_from((0, 1, -1, 2**31 - 1, -(2**31), 1000, 1001, 50)), st.integers(-(2**31), 2**31 - 1))
UINT32 = st.one_of(st.sampled_from((0, 1, 2**32 - 1, 2**31, 36, 35, 600, 601, 72)), st.integers(0, 2**32 - 1))
ENUM = st.one_of(st.sampled_from((0, 1, 2, 3, -1, 99, 2**31 - 1, -(2**31))), st.integers(-(2**31), 2**31 - 1))
FLOATS = st.one_of(st.sampled_from((0.0, -0.0, 1.0, 0.5, 1e-30, -1e-30, 10.0, 10.000001, math.nan, math.inf, -math.inf,
                                    3.4e38, -1.0)), st.floats(width=32))


def odd_text(max_size: int = 60):
    return st.one_of(st.sampled_from(ODD_STRINGS), st.text(max_size=max_size),
                     st.text(alphabet=st.characters(categories=("Mn", "Cf", "Zl", "Zp", "Co", "Cc")), max_size=max_size))


IDENTITY_IDS = st.one_of(st.sampled_from((BASE, "nobody", "a", "A" * 128, "A" * 129, "x\n", "ok.id\n")),
                         st.from_regex(r"[A-Za-z0-9._:@-]{1,130}", fullmatch=True), odd_text())
SPECIMEN_IDS = st.one_of(st.from_regex(r"[0-9a-f]{32}", fullmatch=True), st.from_regex(r"[0-9a-fA-F]{30,34}", fullmatch=True),
                         odd_text(), st.just("0" * 32 + "\n"))
PAGE_TOKENS = st.one_of(
    odd_text(), st.from_regex(r"[A-Za-z0-9_=-]{0,40}", fullmatch=True),
    st.builds(lambda tail: base64.urlsafe_b64encode(b"v1:" + tail).decode().rstrip("="),
              st.one_of(st.binary(max_size=40), st.sampled_from((b"9" * 40, b"-1", b"\x00", b"\xff\xfe", b"1" * 400)),
                        st.text(max_size=20).map(lambda s: s.encode()))),
)


@st.composite
def damaged(draw, seeds):
    data = draw(st.sampled_from(seeds))
    ops = draw(st.lists(st.tuples(
        st.sampled_from(("truncate", "flip", "flip", "overwrite", "insert", "delete", "append", "duplicate", "zero")),
        st.one_of(st.integers(0, 64), st.integers(0, 1 << 20)), st.binary(min_size=1, max_size=16)), min_size=1, max_size=4))
    return F.mutate(data, ops)


@st.composite
def crafted_raster(draw):
    w, h = draw(DIMS), draw(DIMS)
    kind = draw(st.sampled_from(("png", "jpeg", "jpeg_hdr", "tiff", "bmp", "webp", "webpl")))
    if kind == "png":
        return F.png(w, h, draw(st.sampled_from((8, 1, 2, 4, 16, 0, 3, 255))), draw(st.sampled_from((2, 0, 3, 4, 6, 1, 7))),
                     draw(st.sampled_from((0, 1, 2))), iend=draw(st.booleans()))
    if kind == "jpeg":
        return F.patch_jpeg_size(SIG_JPEG, w, h)
    if kind == "jpeg_hdr":
        return F.jpeg_header_only(w, h, draw(st.sampled_from((3, 1, 4, 0, 255))), draw(st.booleans()))
    if kind == "tiff":
        pages = draw(st.lists(st.tuples(DIMS, DIMS), min_size=0, max_size=3))
        return F.tiff([(w, h), *pages], bits=draw(st.sampled_from((8, 1, 16, 32, 0, 255))),
                      samples=draw(st.sampled_from((1, 3, 4, 0, 99))), photometric=draw(st.sampled_from((1, 0, 2, 3, 5, 99))),
                      compression=draw(st.sampled_from((1, 5, 7, 8, 32773, 99))), big_endian=draw(st.booleans()))
    if kind == "bmp":
        return F.bmp(w, h, draw(st.sampled_from((24, 0, 1, 4, 8, 16, 32, 64))), draw(st.sampled_from((0, 1, 2, 3, 4, 5, 99))))
    if kind == "webp":
        return F.webp_vp8x(max(1, min(w, 1 << 24)), max(1, min(h, 1 << 24)))
    return F.webp_vp8l(max(1, min(w, 1 << 14)), max(1, min(h, 1 << 14)))


@st.composite
def tiny_image(draw):
    """A real, decodable image that is tiny, extreme in aspect, blank, or noise."""
    h = draw(st.sampled_from((1, 2, 3, 7, 40, 1500)))
    w = draw(st.sampled_from((1, 2, 3, 7, 40, 1500)))
    fill = draw(st.sampled_from(("black", "white", "noise", "line")))
    image = np.zeros((h, w, 3), np.uint8) if fill != "white" else np.full((h, w, 3), 255, np.uint8)
    if fill == "noise":
        image = np.random.default_rng(h * 7 + w).integers(0, 256, (h, w, 3)).astype(np.uint8)
    elif fill == "line":
        image[:] = 255
        cv2.line(image, (0, 0), (w - 1, h - 1), (20, 20, 20), 1)
    return encode(image, draw(st.sampled_from((".png", ".bmp", ".jpg", ".tiff"))))


def hostile_image():
    """Bytes sent where a cropped image is expected."""
    return st.one_of(
        st.binary(max_size=256),
        st.builds(lambda magic, tail: magic + tail, st.sampled_from(MAGICS), st.binary(max_size=256)),
        damaged(IMAGE_SEEDS), damaged(IMAGE_SEEDS), damaged(IMAGE_SEEDS),
        crafted_raster(), crafted_raster(), crafted_raster(),
        st.sampled_from(SPECIAL_FILES), tiny_image(), st.sampled_from(IMAGE_SEEDS),
    )


@st.composite
def hostile_pdf(draw):
    kind = draw(st.integers(0, 5))
    if kind == 0:
        return F.pdf_page(draw(st.sampled_from(F.ODD_MEDIABOXES)), draw(st.sampled_from(F.ODD_PAGE_EXTRAS)),
                          draw(st.sampled_from(F.ODD_CONTENTS)))
    if kind == 1:
        numbers = draw(st.lists(st.one_of(st.integers(-(10**12), 10**12), st.floats(-1e9, 1e9, allow_nan=False)),
                                min_size=0, max_size=6))
        return F.pdf_page(b"[" + " ".join(f"{n:.4f}" if isinstance(n, float) else str(n) for n in numbers).encode() + b"]")
    if kind == 2:
        return F.pdf_pages(draw(st.integers(1, 12)), draw(st.sampled_from((b"[0 0 20 20]", b"[0 0 0 0]", b"[0 0 9999999 9]"))),
                           draw(st.one_of(st.none(), st.integers(-5, 10**15))))
    if kind == 3:
        return draw(st.sampled_from(DOCUMENT_SEEDS[3:])).replace(b"%PDF-", b"junk" * draw(st.integers(0, 300)) + b"%PDF-", 1)
    if kind == 4:
        return b"%PDF-1." + draw(st.binary(max_size=300))
    return F.pdf([draw(st.binary(max_size=80)) for _ in range(draw(st.integers(1, 4)))], trailer=draw(st.binary(max_size=40)),
                 xref=draw(st.booleans()), eof=draw(st.booleans()))


def hostile_document():
    """Bytes sent where a document is expected: everything ``hostile_image`` sends, plus PDFs."""
    return st.one_of(hostile_image(), hostile_pdf(), hostile_pdf(), damaged(DOCUMENT_SEEDS), damaged(DOCUMENT_SEEDS),
                     st.sampled_from(DOCUMENT_SEEDS))


def image_data():
    return st.builds(pb.ImageData, content=hostile_image(), filename=odd_text())


def specimen_inputs(max_size=5):
    return st.lists(st.builds(pb.SpecimenInput, kind=ENUM, image=image_data(), note=odd_text()), max_size=max_size)


@st.composite
def detect_options(draw):
    options = pb.DetectOptions(kinds=draw(st.lists(ENUM, max_size=4)), min_score=draw(FLOATS),
                               annotate=draw(st.booleans()), ocr=draw(st.booleans()))
    if draw(st.booleans()):
        options.ocr_languages.extend(draw(st.lists(st.one_of(st.sampled_from(("eng", "osd", "deu", "eng+deu", "../eng", "")),
                                                             odd_text(20)), max_size=10)))
    if draw(st.booleans()):
        # OCR time per page; the expensive budgets only go with documents that fail before OCR
        options.ocr_budget_ms = draw(st.sampled_from((1, 50, 60001, 2**32 - 1, 200)))
    if draw(st.booleans()):
        nearby = options.nearby
        for name in ("below", "above", "left", "right", "spread"):
            if draw(st.booleans()):
                setattr(nearby, name, draw(FLOATS))
        nearby.skip_inside = draw(st.booleans())
    if options.ocr and not options.ocr_budget_ms:
        options.ocr_budget_ms = 200  # keep OCR of the valid pages short: a slow page is not what this test is about
    return options


def document_data():
    return st.builds(pb.DocumentData, content=hostile_document(), filename=odd_text(), pdf_dpi=UINT32)


def boxes():
    return st.builds(pb.BoundingBox, x_min=INT32, y_min=INT32, x_max=INT32, y_max=INT32)


@st.composite
def claims(draw):
    count = draw(st.sampled_from((0, 1, 1, 1, 2, 3, 32, 33, 40)))
    result = []
    for _ in range(count):
        claim = pb.Claim(identity_id=draw(st.one_of(st.just(BASE), st.just(BASE), IDENTITY_IDS)), kind=draw(ENUM), page_number=draw(UINT32),
                         expected_text=draw(st.lists(odd_text(), max_size=draw(st.sampled_from((0, 2, 17))))))
        if draw(st.booleans()):
            claim.region.CopyFrom(draw(boxes()))
        result.append(claim)
    return result


# -- the server and the checker ----------------------------------------------------------------------------


class Checker:
    """Sends requests and records each distinct bad outcome (RPC, status, message) with its smallest request."""

    def __init__(self, channel):
        self.channel = channel
        self.stub = pb_grpc.StampAuthServiceStub(channel)
        self.failures: dict[tuple, tuple[int, str]] = {}

    def record(self, rpc: str, problem: str, request) -> None:
        size = request.ByteSize() if hasattr(request, "ByteSize") else len(request)
        key = (rpc, problem[:120] + kind_of(request))
        if key not in self.failures or size < self.failures[key][0]:
            self.failures[key] = (size, describe(request))

    def call(self, rpc: str, request, method=None):
        """The response, or None after an error; bad errors are recorded."""
        CALLS[rpc] += 1
        method = method or getattr(self.stub, rpc)
        started = time.monotonic()
        try:
            return method(request, timeout=DEADLINE_S)
        except grpc.RpcError as error:
            code, details = error.code(), error.details() or ""
            if code not in ALLOWED:
                self.record(rpc, f"{code.name}: {details} ({time.monotonic() - started:.1f} s)"
                            if code == grpc.StatusCode.DEADLINE_EXCEEDED else f"{code.name}: {details}", request)
            elif not details.strip():
                self.record(rpc, f"{code.name} with an empty message", request)
            return None

    def assert_clean(self, name: str) -> None:
        assert EXAMPLES[name] >= PLAN[name], f"{name}: only {EXAMPLES[name]} of {PLAN[name]} examples ran"
        if self.failures:
            lines = [f"{len(self.failures)} distinct bad outcomes:"]
            for (rpc, problem), (_, request) in sorted(self.failures.items()):
                lines.append(f"* {rpc} -> {problem}\n    smallest request: {request}")
            self.failures.clear()
            pytest.fail("\n".join(lines), pytrace=False)


def kind_of(request) -> str:
    """What sort of document a request carries, so that one generic INTERNAL message hides no second cause."""
    document = getattr(request, "document", None)
    if document is None or not hasattr(document, "content"):
        return ""
    head = bytes(document.content[:5])
    name = next((n for magic, n in ((b"%PDF-", "PDF"), (b"\x89PNG", "PNG"), (b"\xff\xd8", "JPEG"), (b"II*", "TIFF"),
                                    (b"MM", "TIFF"), (b"BM", "BMP"), (b"RIFF", "WebP")) if head.startswith(magic)), "other")
    return f" [{name} document{', annotate' if request.options.annotate else ''}]"


def describe(request) -> str:
    """A short, readable form of a request: long bytes as their length, first bytes and SHA-256 prefix."""
    if isinstance(request, (bytes, bytearray)):
        return _bytes(bytes(request))
    if isinstance(request, list):
        return "[" + ", ".join(describe(r) for r in request) + "]"
    copy = type(request)()
    copy.CopyFrom(request)
    notes = []

    def walk(message, path):
        for field, value in message.ListFields():
            name = f"{path}{field.name}"
            repeated = field.is_repeated if hasattr(field, "is_repeated") else field.label == field.LABEL_REPEATED
            if field.type == field.TYPE_BYTES:
                items = list(value) if repeated else [value]
                for item in items:
                    if len(item) > 48:
                        notes.append(f"{name}={_bytes(item)}")
                if not repeated and len(value) > 48:
                    setattr(message, field.name, value[:16])
            elif field.type == field.TYPE_STRING and not repeated and len(value) > 80:
                notes.append(f"{name}=<{len(value)} chars {value[:20]!r}...>")
                setattr(message, field.name, value[:20])
            elif field.type == field.TYPE_MESSAGE:
                items = list(value) if repeated else [value]
                if field.message_type.GetOptions().map_entry:
                    continue
                for item in items:
                    walk(item, f"{name}.")

    walk(copy, "")
    text = f"{type(request).__name__}({str(copy).strip()[:700]!r})"
    return text + (f" with {'; '.join(notes)}" if notes else "")


def _bytes(data: bytes) -> str:
    return f"<{len(data)} bytes {data[:48]!r}... sha256 {hashlib.sha256(data).hexdigest()[:12]}>"


@pytest.fixture(scope="module")
def server():
    encoders = {"signature": load_encoder("signature"), "stamp": load_encoder("stamp")}
    core = StampAuth(open_store("sqlite://:memory:"), encoders, LIMITS, load_detector())
    running = build_server(core, port=0, host="127.0.0.1", max_message_bytes=MESSAGE_BYTES)
    yield running
    running.stop(grace=1)


@pytest.fixture(scope="module")
def channel(server):
    options = [("grpc.max_receive_message_length", 64 << 20), ("grpc.max_send_message_length", 128 << 20)]
    with grpc.insecure_channel(f"127.0.0.1:{server.port}", options=options) as ch:
        yield ch


@pytest.fixture(scope="module")
def checker(channel):
    checker = Checker(channel)
    created = checker.stub.CreateIdentity(pb.CreateIdentityRequest(
        identity=pb.Identity(identity_id=BASE, display_name="Fuzz Base"),
        specimens=[pb.SpecimenInput(kind=pb.MARK_KIND_SIGNATURE, image=pb.ImageData(content=SIG_PNG))]), timeout=DEADLINE_S)
    checker.base_specimen = created.specimens[0].specimen_id
    return checker


def run_fuzz(checker: Checker, name: str, strategy, body) -> None:
    @fuzz_settings(name)
    @given(strategy)
    def fuzz(value):
        EXAMPLES[name] += 1
        body(value)

    fuzz()
    checker.assert_clean(name)


# -- one fuzz test per RPC (the upload calls and raw bytes cover the rest) ---------------------------------


def test_fuzz_compare_images(checker):
    requests = st.builds(pb.CompareImagesRequest, kind=ENUM, reference=image_data(),
                         query=st.one_of(image_data(), st.just(pb.ImageData(content=SIG_PNG))))
    run_fuzz(checker, "CompareImages", requests, lambda r: checker.call("CompareImages", r))


def test_fuzz_create_identity(checker):
    identities = st.builds(pb.Identity, identity_id=IDENTITY_IDS, display_name=odd_text(),
                           metadata=st.dictionaries(odd_text(), odd_text(), max_size=3).flatmap(
                               lambda small: st.sampled_from((small, small, {f"k{i}": "v" for i in range(65)}))),
                           signature_specimen_count=UINT32)
    requests = st.builds(pb.CreateIdentityRequest, identity=identities,
                         specimens=st.one_of(specimen_inputs(), st.lists(st.just(pb.SpecimenInput(
                             kind=pb.MARK_KIND_SIGNATURE, image=pb.ImageData(content=b"BM"))), min_size=33, max_size=34)))

    def body(request):
        response = checker.call("CreateIdentity", request)
        if response is None:
            return
        identity = request.identity
        if not IDENTITY_ID.fullmatch(identity.identity_id):
            checker.record("CreateIdentity", "OK for an identity_id outside the documented 1-128 of [A-Za-z0-9._:@-]",
                           request)
        checker.call("DeleteIdentity", pb.DeleteIdentityRequest(identity_id=response.identity.identity_id))

    run_fuzz(checker, "CreateIdentity", requests, body)


def test_fuzz_get_identity(checker):
    run_fuzz(checker, "GetIdentity", st.builds(pb.GetIdentityRequest, identity_id=IDENTITY_IDS),
             lambda r: checker.call("GetIdentity", r))


def test_fuzz_list_identities(checker):
    requests = st.builds(pb.ListIdentitiesRequest, page_size=INT32, page_token=PAGE_TOKENS)
    run_fuzz(checker, "ListIdentities", requests, lambda r: checker.call("ListIdentities", r))


def test_fuzz_delete_identity(checker):
    ids = IDENTITY_IDS.filter(lambda i: i != BASE)
    run_fuzz(checker, "DeleteIdentity", st.builds(pb.DeleteIdentityRequest, identity_id=ids),
             lambda r: checker.call("DeleteIdentity", r))


def test_fuzz_enroll_specimens(checker):
    requests = st.builds(pb.EnrollSpecimensRequest, identity_id=st.one_of(st.just(BASE), st.just(BASE), IDENTITY_IDS),
                         specimens=specimen_inputs())

    def body(request):
        response = checker.call("EnrollSpecimens", request)
        for specimen in response.specimens if response is not None else ():
            checker.call("DeleteSpecimen", pb.DeleteSpecimenRequest(specimen_id=specimen.specimen_id))

    run_fuzz(checker, "EnrollSpecimens", requests, body)


def test_fuzz_get_specimen(checker):
    ids = st.one_of(SPECIMEN_IDS, st.just(checker.base_specimen), st.just(checker.base_specimen.upper()),
                    st.just(checker.base_specimen + "\n"))
    run_fuzz(checker, "GetSpecimen", st.builds(pb.GetSpecimenRequest, specimen_id=ids),
             lambda r: checker.call("GetSpecimen", r))


def test_fuzz_list_specimens(checker):
    requests = st.builds(pb.ListSpecimensRequest, identity_id=st.one_of(st.just(BASE), IDENTITY_IDS), kind=ENUM,
                         page_size=INT32, page_token=PAGE_TOKENS)
    run_fuzz(checker, "ListSpecimens", requests, lambda r: checker.call("ListSpecimens", r))


def test_fuzz_delete_specimen(checker):
    ids = SPECIMEN_IDS.filter(lambda i: i != checker.base_specimen)
    run_fuzz(checker, "DeleteSpecimen", st.builds(pb.DeleteSpecimenRequest, specimen_id=ids),
             lambda r: checker.call("DeleteSpecimen", r))


def test_fuzz_verify_image(checker):
    requests = st.builds(pb.VerifyImageRequest, identity_id=st.one_of(st.just(BASE), st.just(BASE), IDENTITY_IDS),
                         kind=ENUM, image=image_data())
    run_fuzz(checker, "VerifyImage", requests, lambda r: checker.call("VerifyImage", r))


def test_fuzz_detect_marks(checker):
    requests = st.builds(pb.DetectMarksRequest, document=document_data(), options=detect_options())
    run_fuzz(checker, "DetectMarks", requests, lambda r: checker.call("DetectMarks", r))


def test_fuzz_verify_document(checker):
    requests = st.builds(pb.VerifyDocumentRequest, document=document_data(), claims=claims(),
                         options=st.one_of(st.just(pb.DetectOptions()), detect_options()))
    run_fuzz(checker, "VerifyDocument", requests, lambda r: checker.call("VerifyDocument", r))


def test_fuzz_identify_mark(checker):
    requests = st.builds(pb.IdentifyMarkRequest, kind=ENUM, image=image_data(), top_k=UINT32)
    run_fuzz(checker, "IdentifyMark", requests, lambda r: checker.call("IdentifyMark", r))


UPLOAD_RPCS = [name for name in ("DetectMarksUpload", "VerifyDocumentUpload")
               if name in pb.DESCRIPTOR.services_by_name["StampAuthService"].methods_by_name]


@st.composite
def upload_calls(draw):
    """``(rpc, [request messages])`` for a chunked upload: honest or lying header, chunks in any order."""
    rpc = draw(st.sampled_from(UPLOAD_RPCS))
    request_type, header_type = ((pb.DetectMarksUploadRequest, pb.DetectMarksUploadHeader) if rpc == "DetectMarksUpload"
                                 else (pb.VerifyDocumentUploadRequest, pb.VerifyDocumentUploadHeader))
    content = draw(hostile_document())
    honest = draw(st.booleans())
    document = pb.UploadedDocument(
        total_size=len(content) if honest or draw(st.booleans()) else draw(st.sampled_from((0, 1, len(content) + 1, 2**64 - 1, 5 << 20))),
        sha256=hashlib.sha256(content).hexdigest() if honest or draw(st.booleans()) else draw(st.one_of(
            odd_text(), st.just(hashlib.sha256(content).hexdigest().upper()), st.just("0" * 64))),
        filename=draw(odd_text()), pdf_dpi=draw(UINT32))
    header = header_type(document=document, options=draw(detect_options()))
    if rpc == "VerifyDocumentUpload":
        header.claims.extend(draw(claims()))
    size = draw(st.sampled_from((1 << 20, 1, 7, 4096, (1 << 20) + 1)))
    chunks = [content[i:i + size] for i in range(0, len(content), size)][:2000]
    messages = [request_type(header=header)] + [request_type(chunk=c) for c in chunks]
    layout = draw(st.sampled_from(("honest", "honest", "no header", "two headers", "header last", "empty chunk",
                                   "nothing", "header only", "shuffled", "oversized chunk")))
    if layout == "no header":
        messages = messages[1:]
    elif layout == "two headers":
        messages.insert(len(messages) // 2 + 1, request_type(header=header))
    elif layout == "header last":
        messages = messages[1:] + messages[:1]
    elif layout == "empty chunk":
        messages.insert(1, request_type(chunk=b""))
    elif layout == "nothing":
        messages = []
    elif layout == "header only":
        messages = messages[:1]
    elif layout == "shuffled":
        messages = messages[:1] + draw(st.permutations(messages[1:]))
    elif layout == "oversized chunk":
        messages = messages[:1] + [request_type(chunk=b"\x00" * (5 << 20))]
    return rpc, messages


@pytest.mark.skipif(not UPLOAD_RPCS, reason="this version has no upload calls")
def test_fuzz_upload_calls(checker):
    def body(call):
        rpc, messages = call
        method = getattr(checker.stub, rpc)
        CALLS[rpc] += 1
        try:
            method(iter(messages), timeout=DEADLINE_S)
        except grpc.RpcError as error:
            if error.code() not in ALLOWED or not (error.details() or "").strip():
                checker.record(rpc, f"{error.code().name}: {error.details()}", messages)

    run_fuzz(checker, "Upload", upload_calls(), body)


METHODS = {name: method for name, method in pb.DESCRIPTOR.services_by_name["StampAuthService"].methods_by_name.items()}


@st.composite
def raw_messages(draw):
    """Request bytes that are not what the method's message type allows: random bytes, fields of the wrong wire
    type, truncated varints and lengths, and strings that are not UTF-8 (surrogates, overlong forms)."""
    kind = draw(st.integers(0, 3))
    if kind == 0:
        return draw(st.binary(max_size=64))
    if kind == 1:  # a string field (field 1 is a string in most requests) holding invalid UTF-8
        bad = draw(st.sampled_from((b"\xed\xa0\x80", b"\xff\xfe", b"\xc0\xaf", b"a\x80", b"\xf4\x90\x80\x80", b"\xe2\x82")))
        return bytes([0x0A, len(bad)]) + bad
    out = b""
    for _ in range(draw(st.integers(1, 4))):
        field = draw(st.integers(1, 20))
        wire = draw(st.sampled_from((0, 1, 2, 5, 3, 4, 6, 7)))
        out += bytes([(field << 3 | wire) & 0x7F]) + draw(st.binary(max_size=12))
    if kind == 3:
        out = out[:-1]
    return out


def test_fuzz_raw_request_bytes(checker):
    """Bytes that do not parse as the request message: the server must answer INVALID_ARGUMENT, not INTERNAL."""

    def body(value):
        name, data = value
        method = METHODS[name]
        path = f"/{SERVICE_NAME}/{name}"
        if method.client_streaming:
            stub = checker.channel.stream_unary(path, request_serializer=None, response_deserializer=None)
            request = iter([data])
        else:
            stub = checker.channel.unary_unary(path, request_serializer=None, response_deserializer=None)
            request = data
        CALLS[name] += 1
        try:
            stub(request, timeout=DEADLINE_S)
        except grpc.RpcError as error:
            if error.code() not in ALLOWED or not (error.details() or "").strip():
                checker.record(name, f"{error.code().name}: {error.details()}", data)

    run_fuzz(checker, "RawBytes", st.tuples(st.sampled_from(sorted(METHODS)), raw_messages()), body)


# -- bombs and size limits, one by one -------------------------------------------------------------------


BOMBS = {
    "PNG declaring 2^31-1 x 2^31-1": F.png(2**31 - 1, 2**31 - 1),
    "PNG whose text and ICC chunks inflate to 64 MB": F.png_text_bomb(64),
    "JPEG declaring 65535 x 65535": F.jpeg_header_only(65535, 65535),
    "TIFF declaring 100000 x 100000": F.tiff([(100000, 100000)]),
    "TIFF whose second page declares 100000 x 100000": F.tiff([(8, 8), (100000, 100000)]),
    "BMP declaring 100000 x 100000": F.bmp(100000, 100000),
    "WebP declaring 16384 x 16384": F.webp_vp8x(16384, 16384),
    "TIFF with 30000 pages (IFD chain)": F.tiff_many_pages(30000),
    "PDF with 3000 pages": F.pdf_pages(3000),
    "PDF page of 1e8 x 1e8 pt": F.pdf_page(b"[0 0 99999999 99999999]"),
    "PDF drawing a 60000 x 60000 image": F.pdf_image_bomb(60000, 60000),
    "PDF whose content stream inflates to 8 MB of drawing operators": F.pdf_content_bomb(8),
}


@pytest.mark.parametrize("name", list(BOMBS))
def test_bombs_are_refused_quickly(checker, name):
    data = BOMBS[name]
    assert len(data) <= LIMITS.input.max_bytes, "a bomb is small on the wire"
    started = time.monotonic()
    checker.call("DetectMarks", pb.DetectMarksRequest(document=pb.DocumentData(content=data)))
    if not name.startswith("PDF"):
        checker.call("CompareImages", pb.CompareImagesRequest(kind=pb.MARK_KIND_SIGNATURE, reference=pb.ImageData(content=data),
                                                              query=pb.ImageData(content=SIG_PNG)))
    elapsed = time.monotonic() - started
    if elapsed > BOMB_SECONDS:
        checker.record("DetectMarks", f"a bomb took {elapsed:.1f} s ({name})", data)
    if checker.failures:
        lines = [f"* {rpc} -> {problem}\n    request: {request}" for (rpc, problem), (_, request) in checker.failures.items()]
        checker.failures.clear()
        pytest.fail("\n".join(lines), pytrace=False)


EDGE_CASES = {
    "annotate a 1 x 4000 page": ("DetectMarks", pb.DetectMarksRequest(
        document=pb.DocumentData(content=encode(np.zeros((1, 4000, 3), np.uint8))), options=pb.DetectOptions(annotate=True))),
    "annotate a 4000 x 1 page": ("DetectMarks", pb.DetectMarksRequest(
        document=pb.DocumentData(content=encode(np.zeros((4000, 1, 3), np.uint8))), options=pb.DetectOptions(annotate=True))),
    "annotate a PDF page of 1 x 20000 pt": ("DetectMarks", pb.DetectMarksRequest(
        document=pb.DocumentData(content=F.pdf_page(b"[0 0 1 20000]")), options=pb.DetectOptions(annotate=True))),
    "PDF MediaBox with a 400-digit integer": ("DetectMarks", pb.DetectMarksRequest(
        document=pb.DocumentData(content=F.pdf_page(b"[0 0 1" + b"0" * 400 + b" 792]")))),
    "PDF MediaBox overflowing to infinity": ("DetectMarks", pb.DetectMarksRequest(
        document=pb.DocumentData(content=F.pdf_page(b"[0 0 1" + b"0" * 400 + b".0 792]")))),
    "PDF MediaBox of width NaN": ("DetectMarks", pb.DetectMarksRequest(
        document=pb.DocumentData(content=F.pdf_page(b"[1" + b"0" * 400 + b".0 0 1" + b"0" * 400 + b".0 792]")))),
    "PDF MediaBox with 3 numbers": ("DetectMarks", pb.DetectMarksRequest(document=pb.DocumentData(content=F.pdf_page(b"[0 0 612]")))),
    "PDF /Rotate /Foo": ("DetectMarks", pb.DetectMarksRequest(document=pb.DocumentData(content=F.pdf_page(extra=b"/Rotate /Foo")))),
    "PDF page tree 3000 deep": ("DetectMarks", pb.DetectMarksRequest(document=pb.DocumentData(content=F.pdf_deep_page_tree(3000)))),
    "page token v1:<40 nines>": ("ListSpecimens", pb.ListSpecimensRequest(
        identity_id=BASE, page_token=base64.urlsafe_b64encode(b"v1:" + b"9" * 40).decode())),
}


@pytest.mark.parametrize("name", list(EDGE_CASES))
def test_known_edge_cases(checker, name):
    rpc, request = EDGE_CASES[name]
    checker.call(rpc, request)
    if checker.failures:
        lines = [f"* {rpc} -> {problem}\n    request: {request}" for (rpc, problem), (_, request) in checker.failures.items()]
        checker.failures.clear()
        pytest.fail("\n".join(lines), pytrace=False)


def test_oversized_files_and_messages_are_resource_exhausted(checker):
    over_file = b"%PDF-1.4\n" + b"\x00" * LIMITS.input.max_bytes
    over_message = b"\x89PNG\r\n\x1a\n" + b"\x00" * MESSAGE_BYTES
    for data in (over_file, over_message):
        with pytest.raises(grpc.RpcError) as caught:
            checker.stub.DetectMarks(pb.DetectMarksRequest(document=pb.DocumentData(content=data)), timeout=DEADLINE_S)
        assert caught.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED, caught.value.details()
        assert caught.value.details()


# -- afterwards ----------------------------------------------------------------------------------------------


def test_server_still_serves_after_the_fuzzing(channel, checker):
    health = health_pb2_grpc.HealthStub(channel)
    for service in ("", SERVICE_NAME):
        status = health.Check(health_pb2.HealthCheckRequest(service=service), timeout=DEADLINE_S).status
        assert status == health_pb2.HealthCheckResponse.SERVING
    stub = checker.stub
    image = pb.ImageData(content=encode(synthetic_signature(11)))
    stub.CreateIdentity(pb.CreateIdentityRequest(identity=pb.Identity(identity_id="after.fuzz", display_name="After"),
                                                 specimens=[pb.SpecimenInput(kind=pb.MARK_KIND_SIGNATURE, image=image)]),
                        timeout=DEADLINE_S)
    verified = stub.VerifyImage(pb.VerifyImageRequest(identity_id="after.fuzz", kind=pb.MARK_KIND_SIGNATURE, image=image),
                                timeout=DEADLINE_S)
    assert verified.decision.verdict == pb.VERDICT_GENUINE and verified.decision.references_used == 1
    assert stub.GetServerInfo(pb.GetServerInfoRequest(), timeout=DEADLINE_S).api_version == "v1"
    assert sum(PLAN.values()) >= 10_000
    if set(EXAMPLES) == set(PLAN):  # the whole file ran (not a -k selection)
        assert sum(EXAMPLES.values()) >= 10_000, dict(EXAMPLES)
    print(f"\nfuzz examples per test: {dict(EXAMPLES)}; requests per RPC: {dict(CALLS)}")
