"""A Python client for a stampauth server, and the same interface in-process.

:class:`Client` wraps the generated gRPC stubs with typed methods: images and documents go in as paths, bytes,
PIL images or numpy arrays; the library's own dataclasses come out (:class:`~stampauth.scoring.Decision`,
:class:`~stampauth.store.base.IdentityRecord`, :class:`~stampauth.documents.DocumentVerification`, ...), so code
written against :class:`LocalClient` (the service in this process, no server) runs unchanged against a server.

Every call has a deadline (``timeout`` seconds, covering its retries); a call answered UNAVAILABLE (server
starting, restarting or unreachable) is retried with exponential backoff and jitter until that deadline. A
failed call raises the library's error for its status code (:class:`~stampauth.errors.InvalidInput` for
INVALID_ARGUMENT with ``field`` from the BadRequest detail, :class:`~stampauth.errors.NotFound`, ...), with
``grpc_code`` set to the :class:`grpc.StatusCode`.

    with Client("localhost:50051", token=os.environ["STAMPAUTH_TOKEN"], tls=True) as client:
        client.create_identity("jansen", signatures=["jansen-1.png", "jansen-2.png"])
        result = client.verify_document("letter.pdf", claims=["jansen"])
        print(result.all_claims_satisfied, result.claim_results[0].explanation)
"""

from __future__ import annotations

import hashlib
import os
import random
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Iterator, Sequence, Union

import grpc
import numpy as np

from stampauth import errors
from stampauth.detection.types import Detection
from stampauth.documents import (ClaimOutcome, ClaimResult, DocumentClaim, DocumentDetection, DocumentVerification,
                                 MarkVerification, PageSummary)
from stampauth.scoring import Decision, Verdict
from stampauth.store.base import IdentityRecord, ResultPage, SpecimenRecord
from stampauth.text.types import MarkText, NearbyConfig, OcrOptions, TextMatch, TextSpan, TextStatus
from stampauth.v1 import stampauth_pb2 as pb
from stampauth.v1 import stampauth_pb2_grpc as pb_grpc
from stampauth.server.convert import KIND_FROM_PROTO, KIND_TO_PROTO, box_from_proto, claim_to_proto, claims_from_proto
from stampauth.server.errors import STATUS_OF

if TYPE_CHECKING:
    from PIL import Image

ImageLike = Union[str, os.PathLike, bytes, bytearray, memoryview, np.ndarray, "Image.Image"]
DocumentLike = Union[str, os.PathLike, bytes, bytearray, memoryview]
ClaimLike = Union[str, DocumentClaim]

MAX_MESSAGE_BYTES = 80 * 1024 * 1024  # the server's own limit (64 MiB documents plus framing)
UPLOAD_ABOVE_BYTES = 3 * 1024 * 1024  # larger documents stream in chunks (proxies often cap messages at 4 MiB)
UPLOAD_CHUNK_BYTES = 1024 * 1024
# the server's one mapping of the library's errors to status codes, read the other way round
ERROR_OF_STATUS = {code: error for error, code in STATUS_OF.items()}


# -- inputs ---------------------------------------------------------------------------------------


def image_bytes(image: ImageLike, what: str = "image") -> bytes:
    """The encoded bytes of ``image``: a file path, encoded bytes, a PIL image (sent as PNG) or a numpy array
    ``(H, W)`` grey or ``(H, W, 3)`` BGR (OpenCV's order, as ``cv2.imread`` returns; sent as PNG)."""
    if isinstance(image, (str, os.PathLike)):
        return _read(image, what)
    if isinstance(image, (bytes, bytearray, memoryview)):
        return bytes(image)
    if isinstance(image, np.ndarray):
        import cv2

        shape_ok = image.ndim == 2 or (image.ndim == 3 and image.shape[2] in (1, 3, 4))
        ok, encoded = cv2.imencode(".png", image) if shape_ok and image.dtype in (np.uint8, np.uint16) else (False, None)
        if not ok:
            raise errors.InvalidInput(f"{what}: cannot encode an array of shape {image.shape} and dtype {image.dtype} "
                                      "as PNG; pass (H, W) or (H, W, 3) uint8 (BGR)")
        return encoded.tobytes()
    if hasattr(image, "save") and hasattr(image, "mode"):  # PIL.Image.Image, without importing PIL for everyone
        import io

        buffer = io.BytesIO()
        image.save(buffer, format="PNG")
        return buffer.getvalue()
    raise errors.InvalidInput(f"{what}: pass a path, bytes, a PIL image or a numpy array, not {type(image).__name__}")


def document_bytes(document: DocumentLike, what: str = "document") -> bytes:
    """The bytes of a document (PNG, JPEG, TIFF or PDF): a path or the bytes themselves."""
    if isinstance(document, (str, os.PathLike)):
        return _read(document, what)
    if isinstance(document, (bytes, bytearray, memoryview)):
        return bytes(document)
    raise errors.InvalidInput(f"{what}: pass a path or bytes, not {type(document).__name__}")


def _read(path, what: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as error:
        raise errors.InvalidInput(f"{what}: cannot read {os.fspath(path)!r} ({error.strerror or error}); "
                                  "check the path") from None


def as_claim(claim: ClaimLike) -> DocumentClaim:
    """An identity id (either kind, any page) or a full :class:`DocumentClaim`."""
    return DocumentClaim(claim) if isinstance(claim, str) else claim


def ocr_options(ocr: bool, languages: Sequence[str] = (), budget_ms: int = 0,
                nearby: NearbyConfig | None = None) -> OcrOptions | None:
    """OCR options, or None when ``ocr`` is off (the default languages, budget and neighbourhood where not given)."""
    if not ocr:
        return None
    return OcrOptions(languages=tuple(languages) or OcrOptions().languages, budget_ms=int(budget_ms),
                      nearby=nearby or NearbyConfig())


# -- protos -> the library's dataclasses ------------------------------------------------------------


def _time(ts) -> float:
    return ts.seconds + ts.nanos / 1e9


def _nan_if(value: float, missing: bool) -> float:
    return float("nan") if missing else float(value)


def decision_from_proto(d: pb.Decision) -> Decision:
    no_reference = d.verdict == pb.VERDICT_NO_REFERENCE
    return Decision(
        verdict=Verdict(pb.Verdict.Name(d.verdict).removeprefix("VERDICT_")),
        score=_nan_if(d.score, no_reference), threshold=d.threshold, review_band=d.review_band,
        probability_genuine=_nan_if(d.probability_genuine, no_reference), model_version=d.model_version,
        references_used=d.references_used,
        reference_similarities=[r.similarity for r in d.reference_similarities],
        reference_ids=[r.specimen_id for r in d.reference_similarities],
        score_kind=pb.ScoreKind.Name(d.score_kind).removeprefix("SCORE_KIND_").lower(),
        outside_share=d.ink_outside_share if d.HasField("ink_outside_share") else None,
        registration_anisotropy=d.registration_anisotropy if d.HasField("registration_anisotropy") else None,
        pair_logit=d.pair_logit if d.HasField("pair_logit") else None,
    )


def identity_from_proto(i: pb.Identity) -> IdentityRecord:
    counts = {"signature": i.signature_specimen_count, "stamp": i.stamp_specimen_count}
    return IdentityRecord(i.identity_id, i.display_name, dict(i.metadata), _time(i.create_time), _time(i.update_time),
                          counts)


def specimen_from_proto(s: pb.Specimen) -> SpecimenRecord:
    return SpecimenRecord(s.specimen_id, s.identity_id, KIND_FROM_PROTO.get(s.kind, ""), s.content_sha256, s.width,
                          s.height, s.model_version, _time(s.create_time), s.note)


def _mark(m: pb.DetectedMark) -> tuple[Detection, MarkText]:
    spans = tuple(TextSpan(s.text, box_from_proto(s.box), s.confidence, s.position, s.source) for s in m.nearby_text)
    status = {pb.TEXT_STATUS_READ: TextStatus.READ,
              pb.TEXT_STATUS_BUDGET_EXCEEDED: TextStatus.BUDGET_EXCEEDED}.get(m.text_status, TextStatus.NOT_REQUESTED)
    return Detection(KIND_FROM_PROTO.get(m.kind, ""), box_from_proto(m.box), m.detection_score, m.page_number), MarkText(spans, status)


def _pages(pages) -> list[PageSummary]:
    return [PageSummary(p.page_number, p.width, p.height, p.dpi) for p in pages]


def _texts(texts: list[MarkText]) -> list[MarkText]:
    """Mark texts only when OCR ran (the in-process result leaves them out otherwise)."""
    return texts if any(t.status is not TextStatus.NOT_REQUESTED for t in texts) else []


def detection_from_proto(r: pb.DetectMarksResponse) -> DocumentDetection:
    marks, texts = zip(*(_mark(m) for m in r.marks)) if r.marks else ((), ())
    return DocumentDetection(_pages(r.pages), list(marks), r.detector_version, list(r.annotated_pages),
                             _texts(list(texts)))


def verification_from_proto(r: pb.VerifyDocumentResponse) -> DocumentVerification:
    verifications, marks, texts = [], {}, {}
    for v in r.verifications:
        mark, text = _mark(v.mark)
        marks[v.mark.mark_index], texts[v.mark.mark_index] = mark, text
        match = None
        if v.HasField("text_match"):
            t = v.text_match
            match = TextMatch(t.expected, t.found, t.score, t.threshold, t.matched, t.position)
        verifications.append(MarkVerification(v.mark.mark_index, mark, v.identity_id, decision_from_proto(v.decision), match))
    claim_results = [
        ClaimResult(claims_from_proto([c.claim])[0], ClaimOutcome(pb.ClaimOutcome.Name(c.outcome).removeprefix("CLAIM_OUTCOME_")),
                    Verdict(pb.Verdict.Name(c.verdict).removeprefix("VERDICT_")),
                    c.mark_index if c.HasField("mark_index") else None, c.explanation, c.chosen_by_text)
        for c in r.claim_results
    ]
    order = sorted(marks)
    return ReceivedVerification(_pages(r.pages), [marks[i] for i in order], verifications, claim_results,
                                r.detector_version, list(r.annotated_pages), _texts([texts[i] for i in order]), order)


@dataclass(frozen=True)
class ReceivedVerification(DocumentVerification):
    """A VerifyDocument response: it carries only the verified marks, so ``marks[k]`` (and ``mark_texts[k]``)
    is the mark with index ``mark_indices[k]``."""

    mark_indices: list[int] = field(default_factory=list)

    def text_of(self, mark_index: int) -> MarkText | None:
        if mark_index not in self.mark_indices or not self.mark_texts:
            return None
        return self.mark_texts[self.mark_indices.index(mark_index)]


@dataclass(frozen=True)
class ServerDescription:
    """What ``GetServerInfo`` says: versions, the loaded models with their thresholds, limits, OCR."""

    server_version: str
    api_version: str
    models: dict[str, dict]  # kind -> name, version, score_kind, threshold, review_band, embedding_dim
    detector: dict | None
    store_backend: str
    ocr_available: bool
    ocr_languages: tuple[str, ...]
    unimplemented_methods: tuple[str, ...]
    limits: dict[str, int]


def server_description_from_proto(r: pb.GetServerInfoResponse) -> ServerDescription:
    from google.protobuf.json_format import MessageToDict

    models = {KIND_FROM_PROTO.get(m.kind, m.name): {
        "name": m.name, "version": m.version, "score_kind": pb.ScoreKind.Name(m.score_kind).removeprefix("SCORE_KIND_").lower(),
        "threshold": m.threshold, "review_band": m.review_band, "embedding_dim": m.embedding_dim} for m in r.models}
    detector = {"name": r.detector.name, "version": r.detector.version,
                "input_long_side": r.detector.input_long_side,
                "score_thresholds": {KIND_FROM_PROTO.get(t.kind, str(t.kind)): round(t.threshold, 4)
                                     for t in r.detector.score_thresholds},
                "stamp_one_ink_weight": round(r.detector.stamp_one_ink_weight, 4)} if r.HasField("detector") else None
    limits = {k: int(v) for k, v in MessageToDict(r.limits, preserving_proto_field_name=True).items()}
    return ServerDescription(r.server_version, r.api_version, models, detector, r.store_backend, r.ocr_available,
                             tuple(r.ocr_languages), tuple(r.unimplemented_methods), limits)


def error_from_rpc(error: grpc.RpcError) -> errors.StampAuthError:
    """The library's error for a failed call: its class by status code, ``field`` from a BadRequest detail."""
    from google.rpc import error_details_pb2
    from grpc_status import rpc_status

    code = error.code() if hasattr(error, "code") else grpc.StatusCode.UNKNOWN
    message = (error.details() if hasattr(error, "details") else None) or str(code)
    field = None
    try:
        status = rpc_status.from_call(error)
    except (ValueError, AttributeError):  # a status without matching details (e.g. from a proxy)
        status = None
    for detail in status.details if status else ():
        bad = error_details_pb2.BadRequest()
        if detail.Unpack(bad) and bad.field_violations:
            field = bad.field_violations[0].field
    if code == grpc.StatusCode.UNAVAILABLE and "failed to connect" in message.lower():
        message += " (is the server running at that address? check --server / the target)"
    result = ERROR_OF_STATUS.get(code, errors.StampAuthError)(message, field=field)
    result.grpc_code = code
    return result


# -- the clients -----------------------------------------------------------------------------------


class Client:
    """A stampauth server at ``target`` (``host:port``).

    ``token``: bearer token sent as ``authorization: Bearer ...`` (default ``$STAMPAUTH_TOKEN``).
    ``tls``: use TLS (system roots unless ``ca_file``); ``client_cert_file``/``client_key_file`` for mutual TLS.
    ``timeout``: seconds each call may take, retries included. ``retries``: extra attempts after UNAVAILABLE,
    waiting ``backoff`` seconds doubled each time (at most ``max_backoff``), with jitter.
    ``channel``: use this channel instead (the client does not close it).
    """

    def __init__(self, target: str = "localhost:50051", *, token: str | None = None, tls: bool = False,
                 ca_file: str | None = None, client_cert_file: str | None = None, client_key_file: str | None = None,
                 timeout: float = 60.0, retries: int = 4, backoff: float = 0.25, max_backoff: float = 4.0,
                 channel: grpc.Channel | None = None):
        self.target = target
        self.timeout = timeout
        self.retries = retries
        self.backoff = backoff
        self.max_backoff = max_backoff
        token = token if token is not None else os.environ.get("STAMPAUTH_TOKEN")
        self._metadata = (("authorization", f"Bearer {token}"),) if token else ()
        self._owns_channel = channel is None
        if channel is None:
            options = [("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
                       ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES)]
            if tls or ca_file or client_cert_file:
                credentials = grpc.ssl_channel_credentials(
                    root_certificates=_read(ca_file, "ca_file") if ca_file else None,
                    private_key=_read(client_key_file, "client_key_file") if client_key_file else None,
                    certificate_chain=_read(client_cert_file, "client_cert_file") if client_cert_file else None)
                channel = grpc.secure_channel(target, credentials, options)
            else:
                channel = grpc.insecure_channel(target, options)
        self.channel = channel
        self._stub = pb_grpc.StampAuthServiceStub(channel)

    def close(self) -> None:
        """Close the channel if this client opened it."""
        if self._owns_channel:
            self.channel.close()

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _call(self, method: str, request, timeout: float | None = None):
        """``method`` with retries on UNAVAILABLE until the deadline; failures raised as the library's errors.
        ``request`` may be a callable making a fresh request iterator (for streaming uploads)."""
        deadline = time.monotonic() + (timeout or self.timeout)
        rpc = getattr(self._stub, method)
        delay = self.backoff
        for attempt in range(self.retries + 1):
            remaining = deadline - time.monotonic()
            try:
                return rpc(request() if callable(request) else request, timeout=max(remaining, 0.001),
                           metadata=self._metadata)
            except grpc.RpcError as error:
                retry = (error.code() == grpc.StatusCode.UNAVAILABLE and attempt < self.retries
                         and deadline - time.monotonic() > delay)
                if not retry:
                    raise error_from_rpc(error) from None
            time.sleep(delay * random.uniform(0.5, 1.0))
            delay = min(delay * 2, self.max_backoff)
        raise AssertionError("unreachable")

    # -- health and description --------------------------------------------------------------------

    def health(self, service: str = "") -> str:
        """The health service's status for ``service`` ('' = the server): SERVING, NOT_SERVING, ..."""
        from grpc_health.v1 import health_pb2, health_pb2_grpc

        stub = health_pb2_grpc.HealthStub(self.channel)
        try:
            response = stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=self.timeout)
        except grpc.RpcError as error:
            raise error_from_rpc(error) from None
        return health_pb2.HealthCheckResponse.ServingStatus.Name(response.status)

    def wait_until_serving(self, timeout: float = 30.0) -> None:
        """Block until the server answers SERVING (it loads its models first); Unavailable after ``timeout``."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                if self.health() == "SERVING":
                    return
            except errors.StampAuthError:
                pass
            if time.monotonic() > deadline:
                raise errors.Unavailable(f"the server at {self.target} was not SERVING within {timeout:.0f} s; "
                                         "check that it runs and its log")
            time.sleep(0.2)

    def server_info(self) -> ServerDescription:
        return server_description_from_proto(self._call("GetServerInfo", pb.GetServerInfoRequest()))

    # -- identities and specimens ----------------------------------------------------------------

    @staticmethod
    def _specimens(signatures: Sequence[ImageLike], stamps: Sequence[ImageLike], note: str) -> list[pb.SpecimenInput]:
        return [pb.SpecimenInput(kind=KIND_TO_PROTO[kind], note=note,
                                 image=pb.ImageData(content=image_bytes(image, f"{kind} specimen {i}"),
                                                    filename=_filename(image)))
                for kind, images in (("signature", signatures), ("stamp", stamps)) for i, image in enumerate(images)]

    def create_identity(self, identity_id: str, display_name: str = "", metadata: dict[str, str] | None = None, *,
                        signatures: Sequence[ImageLike] = (), stamps: Sequence[ImageLike] = (),
                        note: str = "") -> tuple[IdentityRecord, list[SpecimenRecord]]:
        """Create an identity, optionally with specimens (all stored or none)."""
        request = pb.CreateIdentityRequest(
            identity=pb.Identity(identity_id=identity_id, display_name=display_name, metadata=metadata or {}),
            specimens=self._specimens(signatures, stamps, note))
        response = self._call("CreateIdentity", request)
        return identity_from_proto(response.identity), [specimen_from_proto(s) for s in response.specimens]

    def enroll(self, identity_id: str, *, signatures: Sequence[ImageLike] = (), stamps: Sequence[ImageLike] = (),
               note: str = "") -> tuple[IdentityRecord, list[SpecimenRecord]]:
        """Add specimens to an existing identity (all stored or none)."""
        request = pb.EnrollSpecimensRequest(identity_id=identity_id, specimens=self._specimens(signatures, stamps, note))
        response = self._call("EnrollSpecimens", request)
        return identity_from_proto(response.identity), [specimen_from_proto(s) for s in response.specimens]

    def get_identity(self, identity_id: str) -> IdentityRecord:
        return identity_from_proto(self._call("GetIdentity", pb.GetIdentityRequest(identity_id=identity_id)).identity)

    def list_identities(self, page_size: int = 0, page_token: str = "") -> ResultPage:
        """One page of identities (``items``) and the token of the next page ('' after the last)."""
        r = self._call("ListIdentities", pb.ListIdentitiesRequest(page_size=page_size, page_token=page_token))
        return ResultPage([identity_from_proto(i) for i in r.identities], r.next_page_token)

    def iter_identities(self, page_size: int = 100) -> Iterator[IdentityRecord]:
        """Every identity, fetching page after page."""
        return _all_pages(lambda token: self.list_identities(page_size, token))

    def delete_identity(self, identity_id: str) -> int:
        """Delete an identity and its specimens; returns how many specimens went with it."""
        return self._call("DeleteIdentity", pb.DeleteIdentityRequest(identity_id=identity_id)).deleted_specimen_count

    def get_specimen(self, specimen_id: str) -> SpecimenRecord:
        return specimen_from_proto(self._call("GetSpecimen", pb.GetSpecimenRequest(specimen_id=specimen_id)).specimen)

    def list_specimens(self, identity_id: str, kind: str | None = None, page_size: int = 0,
                       page_token: str = "") -> ResultPage:
        r = self._call("ListSpecimens", pb.ListSpecimensRequest(identity_id=identity_id, kind=_kind(kind, optional=True),
                                                                page_size=page_size, page_token=page_token))
        return ResultPage([specimen_from_proto(s) for s in r.specimens], r.next_page_token)

    def iter_specimens(self, identity_id: str, kind: str | None = None, page_size: int = 100) -> Iterator[SpecimenRecord]:
        return _all_pages(lambda token: self.list_specimens(identity_id, kind, page_size, token))

    def delete_specimen(self, specimen_id: str) -> IdentityRecord:
        """Delete one specimen; returns its identity as it is now."""
        return identity_from_proto(self._call("DeleteSpecimen", pb.DeleteSpecimenRequest(specimen_id=specimen_id)).identity)

    # -- verification ------------------------------------------------------------------------------

    def compare(self, reference: ImageLike, query: ImageLike, kind: str = "signature") -> Decision:
        """Two crops of the same kind: does ``query`` match ``reference``?"""
        request = pb.CompareImagesRequest(kind=_kind(kind), reference=pb.ImageData(content=image_bytes(reference, "reference")),
                                          query=pb.ImageData(content=image_bytes(query, "query")))
        return decision_from_proto(self._call("CompareImages", request).decision)

    def verify_image(self, identity_id: str, image: ImageLike, kind: str = "signature") -> Decision:
        """A crop of one mark against the identity's enrolled specimens of ``kind``."""
        request = pb.VerifyImageRequest(identity_id=identity_id, kind=_kind(kind),
                                        image=pb.ImageData(content=image_bytes(image), filename=_filename(image)))
        return decision_from_proto(self._call("VerifyImage", request).decision)

    def identify(self, image: ImageLike, kind: str = "signature", top_k: int = 5) -> list[tuple[IdentityRecord, Decision]]:
        """The enrolled identities most like the crop, best first, each with its decision."""
        response = self._call("IdentifyMark", pb.IdentifyMarkRequest(kind=_kind(kind), image=pb.ImageData(
            content=image_bytes(image)), top_k=top_k))
        return [(identity_from_proto(c.identity), decision_from_proto(c.decision)) for c in response.candidates]

    @staticmethod
    def _options(kinds, min_score, annotate, ocr: OcrOptions | None) -> pb.DetectOptions:
        options = pb.DetectOptions(kinds=[_kind(k) for k in kinds or ()], min_score=min_score, annotate=annotate)
        if ocr is not None:
            options.ocr = True
            options.ocr_languages.extend(ocr.languages)
            options.ocr_budget_ms = int(ocr.budget_ms)
        return options

    def detect(self, document: DocumentLike, *, kinds: Sequence[str] | None = None, min_score: float = 0.0,
               pdf_dpi: int = 0, annotate: bool = False, ocr: bool = False, ocr_languages: Sequence[str] = (),
               ocr_budget_ms: int = 0, timeout: float | None = None) -> DocumentDetection:
        """The stamps and signatures on every page of a document (PNG, JPEG, TIFF or PDF)."""
        content = document_bytes(document)
        options = self._options(kinds, min_score, annotate, ocr_options(ocr, ocr_languages, ocr_budget_ms))
        if len(content) <= UPLOAD_ABOVE_BYTES:
            request = pb.DetectMarksRequest(document=pb.DocumentData(content=content, pdf_dpi=pdf_dpi,
                                                                     filename=_filename(document)), options=options)
            return detection_from_proto(self._call("DetectMarks", request, timeout))
        header = pb.DetectMarksUploadRequest(header=pb.DetectMarksUploadHeader(
            document=_uploaded(content, document, pdf_dpi), options=options))
        response = self._call("DetectMarksUpload", lambda: _chunks(header, content, pb.DetectMarksUploadRequest), timeout)
        return detection_from_proto(response.result)

    def verify_document(self, document: DocumentLike, claims: Sequence[ClaimLike] = (), *,
                        kinds: Sequence[str] | None = None, min_score: float = 0.0, pdf_dpi: int = 0,
                        annotate: bool = False, ocr: bool = False, ocr_languages: Sequence[str] = (),
                        ocr_budget_ms: int = 0, timeout: float | None = None) -> DocumentVerification:
        """Every mark of a document verified against the claimed identities (an identity id claims a mark of
        either kind on any page; a :class:`DocumentClaim` can say which kind, page, region and text). Without
        claims each mark is identified among the enrolled identities."""
        content = document_bytes(document)
        claim_messages = [claim_to_proto(as_claim(c)) for c in claims]
        options = self._options(kinds, min_score, annotate, ocr_options(ocr, ocr_languages, ocr_budget_ms))
        if len(content) <= UPLOAD_ABOVE_BYTES:
            request = pb.VerifyDocumentRequest(document=pb.DocumentData(content=content, pdf_dpi=pdf_dpi,
                                                                        filename=_filename(document)),
                                               claims=claim_messages, options=options)
            return verification_from_proto(self._call("VerifyDocument", request, timeout))
        header = pb.VerifyDocumentUploadRequest(header=pb.VerifyDocumentUploadHeader(
            document=_uploaded(content, document, pdf_dpi), claims=claim_messages, options=options))
        response = self._call("VerifyDocumentUpload", lambda: _chunks(header, content, pb.VerifyDocumentUploadRequest),
                              timeout)
        return verification_from_proto(response.result)


class LocalClient:
    """:class:`Client`'s methods on the service in this process (no server): the same arguments, the same
    results, the same errors. ``LocalClient.open(store_url, models_dir)`` loads the shipped models."""

    def __init__(self, core):
        self.core = core

    @classmethod
    def open(cls, store_url: str | None = None, models_dir: str | Path | None = None,
             tesseract_command: str | None = None) -> "LocalClient":
        from stampauth.service import StampAuth

        return cls(StampAuth.open(store_url, models_dir, tesseract_command=tesseract_command))

    def close(self) -> None:
        self.core.close()

    def __enter__(self) -> "LocalClient":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def health(self, service: str = "") -> str:
        return "SERVING"

    @staticmethod
    def _specimens(signatures, stamps, note: str):
        from stampauth.service import SpecimenInput

        return [SpecimenInput(kind, image_bytes(image, f"{kind} specimen {i}"), note)
                for kind, images in (("signature", signatures), ("stamp", stamps)) for i, image in enumerate(images)]

    def create_identity(self, identity_id: str, display_name: str = "", metadata: dict[str, str] | None = None, *,
                        signatures=(), stamps=(), note: str = ""):
        return self.core.create_identity(identity_id, display_name, metadata, self._specimens(signatures, stamps, note))

    def enroll(self, identity_id: str, *, signatures=(), stamps=(), note: str = ""):
        return self.core.enroll_specimens(identity_id, self._specimens(signatures, stamps, note))

    def get_identity(self, identity_id: str) -> IdentityRecord:
        return self.core.get_identity(identity_id)

    def list_identities(self, page_size: int = 0, page_token: str = "") -> ResultPage:
        return self.core.list_identities(page_size, page_token)

    def iter_identities(self, page_size: int = 100) -> Iterator[IdentityRecord]:
        return _all_pages(lambda token: self.list_identities(page_size, token))

    def delete_identity(self, identity_id: str) -> int:
        return self.core.delete_identity(identity_id)

    def get_specimen(self, specimen_id: str) -> SpecimenRecord:
        return self.core.get_specimen(specimen_id)

    def list_specimens(self, identity_id: str, kind: str | None = None, page_size: int = 0, page_token: str = ""):
        return self.core.list_specimens(identity_id, kind, page_size, page_token)

    def iter_specimens(self, identity_id: str, kind: str | None = None, page_size: int = 100):
        return _all_pages(lambda token: self.list_specimens(identity_id, kind, page_size, token))

    def delete_specimen(self, specimen_id: str) -> IdentityRecord:
        return self.core.delete_specimen(specimen_id)

    def compare(self, reference: ImageLike, query: ImageLike, kind: str = "signature") -> Decision:
        return self.core.compare_images(kind, image_bytes(reference, "reference"), image_bytes(query, "query"))

    def verify_image(self, identity_id: str, image: ImageLike, kind: str = "signature") -> Decision:
        return self.core.verify_image(identity_id, kind, image_bytes(image))[0]

    def identify(self, image: ImageLike, kind: str = "signature", top_k: int = 5):
        return self.core.identify_mark(kind, image_bytes(image), top_k)

    def detect(self, document: DocumentLike, *, kinds=None, min_score: float = 0.0, pdf_dpi: int = 0,
               annotate: bool = False, ocr: bool = False, ocr_languages=(), ocr_budget_ms: int = 0,
               timeout: float | None = None) -> DocumentDetection:
        return self.core.detect_marks(document_bytes(document), pdf_dpi, list(kinds) if kinds else None, min_score,
                                      annotate, ocr_options(ocr, ocr_languages, ocr_budget_ms))

    def verify_document(self, document: DocumentLike, claims: Sequence[ClaimLike] = (), *, kinds=None,
                        min_score: float = 0.0, pdf_dpi: int = 0, annotate: bool = False, ocr: bool = False,
                        ocr_languages=(), ocr_budget_ms: int = 0, timeout: float | None = None) -> DocumentVerification:
        return self.core.verify_document(document_bytes(document), [as_claim(c) for c in claims], pdf_dpi,
                                         list(kinds) if kinds else None, min_score, annotate,
                                         ocr_options(ocr, ocr_languages, ocr_budget_ms))


# -- small helpers ---------------------------------------------------------------------------------


def _kind(kind: str | None, optional: bool = False) -> int:
    if kind is None and optional:
        return pb.MARK_KIND_UNSPECIFIED
    if kind not in KIND_TO_PROTO:
        raise errors.InvalidInput(f"kind must be 'signature' or 'stamp', not {kind!r}", field="kind")
    return KIND_TO_PROTO[kind]


def _filename(source) -> str:
    return Path(source).name if isinstance(source, (str, os.PathLike)) else ""


def _uploaded(content: bytes, source, pdf_dpi: int) -> pb.UploadedDocument:
    return pb.UploadedDocument(total_size=len(content), sha256=hashlib.sha256(content).hexdigest(),
                               filename=_filename(source), pdf_dpi=pdf_dpi)


def _chunks(header, content: bytes, message_type):
    yield header
    for start in range(0, len(content), UPLOAD_CHUNK_BYTES):
        yield message_type(chunk=content[start:start + UPLOAD_CHUNK_BYTES])


def _all_pages(fetch) -> Iterator:
    token = ""
    while True:
        page = fetch(token)
        yield from page.items
        token = page.next_page_token
        if not token:
            return
