"""The transport-free core: every capability of stampauth as plain Python calls.

The gRPC servicer (``stampauth.server``) only translates protos to these calls and back;
the CLI and in-process users call this class directly.
"""

from __future__ import annotations

import copy
import hashlib
import logging
import re
from dataclasses import dataclass, field, replace
from pathlib import Path

import cv2
import numpy as np

from stampauth import __version__
from stampauth.annotate import annotate_page
from stampauth.cancellation import checkpoint
from stampauth.stages import stage
from stampauth.detection.detector import MarkDetector, load_detector
from stampauth.detection.types import Detection
from stampauth.documents import (
    ClaimResult, DocumentClaim, DocumentDetection, DocumentVerification, MarkVerification, PageSummary, crop_mark,
    judge_claim,
)
from stampauth.errors import FailedPrecondition, InvalidInput, NotFound, ResourceExhausted
from stampauth.io import InputLimits, Page, decode_document, decode_image
from stampauth.modeling.card import MarkEncoder, load_encoder
from stampauth.modeling.views import RotationSearch, query_views, search_views
from stampauth.overlay import ArrayCache, measure_overlay, overlay_canvas, overlay_decision, register_references
from stampauth.scoring import Decision, make_decision
from stampauth.store import open_store
from stampauth.identification import Identifier
from stampauth.store.base import DEFAULT_TENANT, KINDS, IdentityRecord, NewSpecimen, ReferenceStore, ResultPage, SpecimenRecord
from stampauth.text.match import best_match
from stampauth.text.reader import read_marks_text
from stampauth.text.tesseract import Tesseract
from stampauth.text.types import MarkText, OcrOptions

log = logging.getLogger(__name__)

IDENTITY_ID_PATTERN = re.compile(r"[A-Za-z0-9._:@-]{1,128}")
UNIMPLEMENTED_METHODS: tuple[str, ...] = ()


@dataclass(frozen=True)
class SpecimenInput:
    kind: str
    content: bytes
    note: str = ""


@dataclass(frozen=True)
class ServiceLimits:
    input: InputLimits = InputLimits()
    max_specimens_per_request: int = 32
    max_metadata_entries: int = 64
    max_metadata_chars: int = 1024
    max_display_name_chars: int = 256
    max_note_chars: int = 1024
    max_claims: int = 32
    max_annotated_pages: int = 20  # annotated PNGs are ~1-2 MB a page; more would not fit one response
    max_message_bytes: int = 80 * 1024 * 1024  # the transport's request size limit (documents beyond: upload calls)
    default_ocr_budget_ms: int = 4000  # OCR time per page; a page of 4-6 marks reads in about 1-1.5 s
    max_ocr_budget_ms: int = 60000
    max_ocr_languages: int = 8
    max_expected_texts: int = 16
    max_expected_text_chars: int = 256


@dataclass(frozen=True)
class ServerInfo:
    server_version: str
    api_version: str
    models: list
    limits: ServiceLimits
    store_backend: str
    ocr_available: bool
    unimplemented_methods: list[str] = field(default_factory=list)
    detector: object | None = None  # the DetectorCard of the loaded detector
    ocr_languages: tuple[str, ...] = ()


def check_kind(kind: str, field_name: str = "kind") -> str:
    if kind not in KINDS:
        raise InvalidInput(f"{field_name} must be SIGNATURE or STAMP", field=field_name)
    return kind


def check_identity_id(identity_id: str, field_name: str = "identity_id") -> str:
    if not IDENTITY_ID_PATTERN.fullmatch(identity_id or ""):  # fullmatch: "$" would let a trailing newline in
        raise InvalidInput(
            f"{field_name} must be 1-128 characters of letters, digits and '._:@-' (got {identity_id[:40]!r})",
            field=field_name,
        )
    return identity_id


def shown_verifications(verifications: list[MarkVerification]) -> dict[int, MarkVerification]:
    """mark index -> the verification its annotation shows: a mark checked against several claims shows its
    highest score, and a decision without references (score NaN) only when there is no other."""
    def rank(v: MarkVerification) -> float:
        return float("-inf") if v.decision.score != v.decision.score else v.decision.score

    best: dict[int, MarkVerification] = {}
    for v in verifications:
        if v.mark_index not in best or rank(v) > rank(best[v.mark_index]):
            best[v.mark_index] = v
    return best


def _score_text(decision: Decision) -> str:
    return "" if decision.score != decision.score else f" {decision.score:.2f}"


def _views_for(query, references: np.ndarray) -> np.ndarray:
    """The query's views to score against ``references``; a stamp's rotation search embeds its refinements here
    (timed as embedding)."""
    if isinstance(query, RotationSearch):
        with stage("embed"):
            return query_views(query, references)
    return query


def page_crop(page: Page, mark: Detection, working_long_side: int) -> np.ndarray:
    """The mark (box in page pixels) cut from the page as decoded (see :attr:`Page.scale`), at the resolution of
    the page at ``working_long_side``: every page, whatever its format and resolution, and whether or not it was
    decoded smaller, gives the encoders the same pixels, and preprocessing works on no more of them than needed."""
    crop = crop_mark(page.image, mark if page.scale == 1.0 else replace(mark, box=mark.box.scaled(page.scale, page.scale)))
    wanted = working_long_side / max(page.width, page.height)  # image pixels per page pixel
    if working_long_side > 0 and page.scale > 1.25 * wanted and crop.size:
        factor = wanted / page.scale
        size = (max(1, round(crop.shape[1] * factor)), max(1, round(crop.shape[0] * factor)))
        crop = cv2.resize(crop, size, interpolation=cv2.INTER_AREA)
    return crop


class StampAuth:
    """stampauth in-process.  ``StampAuth.open()`` loads the shipped models and the default store."""

    def __init__(self, store: ReferenceStore, encoders: dict[str, MarkEncoder], limits: ServiceLimits = ServiceLimits(),
                 detector: MarkDetector | None = None, tesseract: Tesseract | None = None):
        self.store = store
        self.encoders = encoders
        self.limits = limits
        self.detector = detector
        self.tesseract = tesseract or Tesseract()
        # the overlay check's canvases of stored stamp specimens and reference sets registered onto their first,
        # shared by the tenant views (specimen ids are unique)
        self._overlay_cache = ArrayCache(self.OVERLAY_CACHE_BYTES)
        # one per replica, shared by the tenant views (for_tenant copies the reference)
        self.identifier = Identifier(store, {k: e.embedding_version for k, e in encoders.items()},
                                     {k: e.card.embedding_dim for k, e in encoders.items()}) if store is not None else None

    @classmethod
    def open(cls, store_url: str | None = None, models_dir: str | Path | None = None,
             limits: ServiceLimits = ServiceLimits(), tesseract_command: str | None = None) -> "StampAuth":
        encoders = {"signature": load_encoder("signature", models_dir)}
        try:
            encoders["stamp"] = load_encoder("stamp", models_dir)
        except FailedPrecondition as error:  # signatures still work; stamp calls say why they cannot
            log.warning("no stamp model: %s", error.message)
        try:
            detector = load_detector(models_dir)
        except FailedPrecondition as error:  # serve crops without it; document RPCs say why they cannot
            log.warning("no document detector: %s", error.message)
            detector = None
        tesseract = Tesseract(tesseract_command)
        if not tesseract.available:  # OCR is optional: everything else serves; OCR calls say how to install it
            log.warning("Tesseract not found at %r: requests with OCR will fail with FAILED_PRECONDITION",
                        tesseract.command)
        service = cls(open_store(store_url), encoders, limits, detector, tesseract)
        for kind in encoders:
            service.refresh_stale_embeddings(kind)
        return service

    def for_tenant(self, tenant: str) -> "StampAuth":
        """This service as one tenant sees it: the same models, the store scoped to ``tenant``'s identities.
        Closing the view leaves the service open."""
        view = copy.copy(self)
        view.store = self.store.scoped(tenant)
        return view

    def close(self) -> None:
        if self.store is not None:  # detection alone runs without a store
            self.store.close()
        for encoder in self.encoders.values():
            encoder.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # -- helpers --------------------------------------------------------------------------
    def encoder(self, kind: str) -> MarkEncoder:
        check_kind(kind)
        if kind not in self.encoders:
            raise FailedPrecondition(
                f"this server has no {kind} model loaded, so {kind}s cannot be enrolled or verified yet; "
                f"loaded kinds: {', '.join(sorted(self.encoders)) or 'none'}",
                field="kind",
            )
        return self.encoders[kind]

    def _decode(self, content: bytes, what: str) -> np.ndarray:
        with stage("decode"):
            return decode_image(content, self.limits.input, what)

    def embed_bytes(self, kind: str, contents: list[bytes], fields: list[str],
                    as_queries: bool = False, images: list | None = None) -> tuple[np.ndarray, list[tuple[int, int]]]:
        """Decode, preprocess and embed crops; errors name the field of the crop at fault.

        Returns ``(n, d)`` reference embeddings, or with ``as_queries`` one query per crop (see
        :meth:`MarkEncoder.queries`: a stamp's is a rotation search, refined for the references it meets).
        ``images``, when given, receives the decoded crops (for the overlay check).
        """
        encoder = self.encoder(kind)
        canvases, sizes = [], []
        for content, field_name in zip(contents, fields):
            checkpoint()
            try:
                image = self._decode(content, "image")
                with stage("preprocess"):
                    canvases.append(encoder.preprocess(image))
            except (InvalidInput, ResourceExhausted) as error:
                raise error.with_field(field_name)
            sizes.append((int(image.shape[1]), int(image.shape[0])))
            if images is not None:
                images.append(image)
        canvases = np.stack(canvases)
        with stage("embed"):
            embeddings = encoder.queries(canvases) if as_queries else encoder.embed(canvases)
        return embeddings, sizes

    def refresh_stale_embeddings(self, kind: str) -> int:
        """Recompute embeddings made by another model version (or preprocessing revision) from the stored images."""
        encoder = self.encoders[kind]
        stale = self.store.stale_specimens(kind, encoder.embedding_version)
        for specimen_id in stale:
            content = self.store.specimen_content(specimen_id)
            embedding = encoder.embed(encoder.preprocess(self._decode(content, "stored specimen")))[0]
            self.store.update_embedding(specimen_id, embedding, encoder.embedding_version)
        if stale:
            log.info("re-embedded %d %s specimens with %s", len(stale), kind, encoder.embedding_version)
        return len(stale)

    def _references(self, identity_id: str, kind: str) -> tuple[list[str], np.ndarray]:
        encoder = self.encoder(kind)
        stored = self.store.reference_embeddings(identity_id, kind)
        if any(item.model_version != encoder.embedding_version for item in stored):
            self.refresh_stale_embeddings(kind)  # never compare across model versions
            stored = self.store.reference_embeddings(identity_id, kind)
        if not stored:
            return [], np.zeros((0, encoder.card.embedding_dim), np.float32)
        return [item.specimen_id for item in stored], np.stack([item.embedding for item in stored])

    def _new_specimens(self, specimens: list[SpecimenInput], field_prefix: str) -> list[NewSpecimen]:
        if len(specimens) > self.limits.max_specimens_per_request:
            raise ResourceExhausted(
                f"{len(specimens)} specimens in one request, over the limit of "
                f"{self.limits.max_specimens_per_request}; send them in several requests",
                field=field_prefix,
            )
        seen: dict[tuple[str, str], int] = {}
        digests: list[str] = []
        prepared: list[NewSpecimen | None] = [None] * len(specimens)
        by_kind: dict[str, list[int]] = {}
        for index, specimen in enumerate(specimens):
            field_name = f"{field_prefix}[{index}]"
            check_kind(specimen.kind, f"{field_name}.kind")
            if len(specimen.note) > self.limits.max_note_chars:
                raise InvalidInput(f"note is longer than {self.limits.max_note_chars} characters", field=f"{field_name}.note")
            digest = hashlib.sha256(specimen.content).hexdigest()
            if (specimen.kind, digest) in seen:
                raise InvalidInput(
                    f"{field_name} is the same image as {field_prefix}[{seen[(specimen.kind, digest)]}]; send each specimen once",
                    field=f"{field_name}.image",
                )
            seen[(specimen.kind, digest)] = index
            digests.append(digest)
            by_kind.setdefault(specimen.kind, []).append(index)
        for kind, indices in by_kind.items():
            embeddings, sizes = self.embed_bytes(
                kind, [specimens[i].content for i in indices], [f"{field_prefix}[{i}].image" for i in indices]
            )
            version = self.encoders[kind].embedding_version
            for row, index in enumerate(indices):
                specimen = specimens[index]
                prepared[index] = NewSpecimen(
                    kind=kind, content=specimen.content, content_sha256=digests[index],
                    width=sizes[row][0], height=sizes[row][1], embedding=embeddings[row], model_version=version,
                    note=specimen.note,
                )
        return [p for p in prepared if p is not None]

    def _check_identity_fields(self, display_name: str, metadata: dict[str, str]) -> None:
        if len(display_name) > self.limits.max_display_name_chars:
            raise InvalidInput(f"display_name is longer than {self.limits.max_display_name_chars} characters",
                               field="identity.display_name")
        if len(metadata) > self.limits.max_metadata_entries:
            raise InvalidInput(f"metadata has more than {self.limits.max_metadata_entries} entries", field="identity.metadata")
        for key, value in metadata.items():
            if not key or len(key) > 128 or len(value) > self.limits.max_metadata_chars:
                raise InvalidInput(
                    f"metadata keys must be 1-128 characters and values at most {self.limits.max_metadata_chars}",
                    field=f"identity.metadata[{key[:40]!r}]",
                )

    # -- comparison ---------------------------------------------------------------------------
    def compare_images(self, kind: str, reference: bytes, query: bytes) -> Decision:
        reference_images: list = []
        query_images: list = []
        references, _ = self.embed_bytes(kind, [reference], ["reference"], images=reference_images)
        queries, _ = self.embed_bytes(kind, [query], ["query"], as_queries=True, images=query_images)
        encoder = self.encoders[kind]
        views = _views_for(queries[0], references)
        with stage("score"):
            decision = make_decision(views, references, encoder.card.scoring, encoder.version)
        if encoder.overlay is None:
            return decision
        with stage("overlay"):
            frame = register_references(self._overlay_canvas(kind, reference_images[0], "reference")[None])
            return self._overlaid(decision, self._overlay_canvas(kind, query_images[0], "query"), frame, frame)

    def verify_image(self, identity_id: str, kind: str, image: bytes) -> tuple[Decision, IdentityRecord]:
        check_identity_id(identity_id)
        check_kind(kind)
        identity = self.store.get_identity(identity_id)
        specimen_ids, references = self._references(identity_id, kind)
        encoder = self.encoder(kind)
        images: list = []
        query, _ = self.embed_bytes(kind, [image], ["image"], as_queries=True, images=images)
        views = _views_for(query[0], references)
        with stage("score"):
            decision = make_decision(views, references, encoder.card.scoring, encoder.version)
        decision = self._overlay_against(kind, decision, self._overlay_canvas(kind, images[0], "image"), specimen_ids)
        return decision.with_specimen_ids(specimen_ids) if specimen_ids else decision, identity

    # -- the overlay check (stamps; stampauth.overlay) --------------------------------------------------------
    OVERLAY_CACHE_BYTES = 256 * 2**20  # a 192-pixel canvas is 147 kB: about 1,700 specimens

    def _overlay_canvas(self, kind: str, image: np.ndarray, field_name: str) -> np.ndarray | None:
        """A query crop's overlay canvas ``(S, S)``, made once per request and mark; None when ``kind`` has no
        overlay check."""
        encoder = self.encoders.get(kind)
        if encoder is None or encoder.overlay is None:
            return None
        with stage("overlay"):
            try:
                return overlay_canvas(image, encoder.overlay)
            except InvalidInput as error:
                raise error.with_field(field_name)

    def _registered_specimens(self, specimen_ids: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """``(K, S, S)`` twice: the stored specimens' overlay canvases as they are, and registered onto the first one."""
        config = self.encoders["stamp"].overlay

        def canvas(specimen_id: str) -> np.ndarray:
            image = self._decode(self.store.specimen_content(specimen_id), "stored specimen")
            try:
                return overlay_canvas(image, config)
            except InvalidInput:  # enrolled before this check existed, and no ink at this canvas: nothing to lay on
                return np.zeros((config.canvas, config.canvas), np.float32)

        canvases = [self._overlay_cache.get(("canvas", config.version, sid), lambda sid=sid: canvas(sid))
                    for sid in specimen_ids]
        return np.stack(canvases), self._overlay_cache.get(("registered", config.version, tuple(specimen_ids)),
                                                           lambda: register_references(np.stack(canvases)))

    def _overlaid(self, decision: Decision, query_canvas: np.ndarray, references: np.ndarray,
                  registered: np.ndarray) -> Decision:
        encoder = self.encoders["stamp"]
        measures = measure_overlay(query_canvas, registered, encoder.overlay, encoder.pair_model, references)
        return overlay_decision(decision, measures, encoder.overlay)

    def _overlay_against(self, kind: str, decision: Decision, query_canvas: np.ndarray | None,
                         specimen_ids: list[str]) -> Decision:
        """``decision`` re-scored by the overlay check against the stored specimens; unchanged when ``query_canvas``
        is None (see :meth:`_overlay_canvas`: ``kind`` has no check)."""
        if query_canvas is None:
            return decision
        config = self.encoders[kind].overlay
        if not specimen_ids:
            return overlay_decision(decision, None, config)
        with stage("overlay"):
            return self._overlaid(decision, query_canvas, *self._registered_specimens(specimen_ids))

    # -- identities and specimens -------------------------------------------------------------
    def create_identity(self, identity_id: str, display_name: str = "", metadata: dict[str, str] | None = None,
                        specimens: list[SpecimenInput] | None = None) -> tuple[IdentityRecord, list[SpecimenRecord]]:
        check_identity_id(identity_id, "identity.identity_id")
        metadata = dict(metadata or {})
        self._check_identity_fields(display_name, metadata)
        prepared = self._new_specimens(list(specimens or []), "specimens")
        return self.store.create_identity(identity_id, display_name, metadata, prepared)

    def enroll_specimens(self, identity_id: str, specimens: list[SpecimenInput]) -> tuple[IdentityRecord, list[SpecimenRecord]]:
        check_identity_id(identity_id)
        if not specimens:
            raise InvalidInput("send at least one specimen", field="specimens")
        self.store.get_identity(identity_id)  # NOT_FOUND before the costly embedding
        return self.store.add_specimens(identity_id, self._new_specimens(specimens, "specimens"))

    def get_identity(self, identity_id: str) -> IdentityRecord:
        return self.store.get_identity(check_identity_id(identity_id))

    def list_identities(self, page_size: int = 0, page_token: str = "") -> ResultPage:
        return self.store.list_identities(page_size, page_token)

    def delete_identity(self, identity_id: str) -> int:
        return self.store.delete_identity(check_identity_id(identity_id))

    def get_specimen(self, specimen_id: str) -> SpecimenRecord:
        return self.store.get_specimen(self._check_specimen_id(specimen_id))

    def list_specimens(self, identity_id: str, kind: str | None = None, page_size: int = 0, page_token: str = "") -> ResultPage:
        check_identity_id(identity_id)
        if kind is not None:
            check_kind(kind)
        return self.store.list_specimens(identity_id, kind, page_size, page_token)

    def delete_specimen(self, specimen_id: str) -> IdentityRecord:
        return self.store.delete_specimen(self._check_specimen_id(specimen_id))

    @staticmethod
    def _check_specimen_id(specimen_id: str) -> str:
        if not re.fullmatch(r"[0-9a-f]{32}", specimen_id or ""):
            raise InvalidInput("specimen_id must be the 32-character id returned at enrollment", field="specimen_id")
        return specimen_id

    # -- documents ------------------------------------------------------------------------------
    def _detector(self) -> MarkDetector:
        if self.detector is None:
            raise FailedPrecondition("this server has no detector model loaded, so documents cannot be searched for "
                                     "marks; crop the marks and call VerifyImage, or install the shipped models")
        return self.detector

    def _check_ocr(self, ocr: OcrOptions) -> tuple[str, float]:
        """The request's OCR options -> (Tesseract language argument, budget in seconds), or why not."""
        if not 0 <= ocr.budget_ms <= self.limits.max_ocr_budget_ms:
            raise InvalidInput(f"options.ocr_budget_ms must be at most {self.limits.max_ocr_budget_ms} "
                               "(0 = the server's default)", field="options.ocr_budget_ms")
        if len(ocr.languages) > self.limits.max_ocr_languages:
            raise InvalidInput(f"at most {self.limits.max_ocr_languages} OCR languages", field="options.ocr_languages")
        nearby = ocr.nearby
        for name in ("below", "above", "left", "right", "spread"):
            if not 0.0 <= getattr(nearby, name) <= 10.0:
                raise InvalidInput(f"options.nearby.{name} must be between 0 and 10 (multiples of the mark's size)",
                                   field=f"options.nearby.{name}")
        language = self.tesseract.check(ocr.languages or ("eng",))
        return language, (ocr.budget_ms or self.limits.default_ocr_budget_ms) / 1000.0

    def _detect_pages(self, content: bytes, pdf_dpi: int, kinds: list[str] | None, min_score: float,
                      ocr: OcrOptions | None = None, annotate: bool = False
                      ) -> tuple[list[Page], list[Detection], list[MarkText]]:
        detector = self._detector()
        language, budget_s = self._check_ocr(ocr) if ocr is not None else ("", 0.0)
        if not content:
            raise InvalidInput("document.content is empty: put the document file's bytes there", field="document.content")
        if not 0.0 <= min_score <= 1.0:
            raise InvalidInput("options.min_score must be in [0, 1] (0 = the model's default)", field="options.min_score")
        wanted = tuple(check_kind(k, "options.kinds") for k in kinds) if kinds else ("signature", "stamp")
        try:
            with stage("decode"):
                # Without OCR nothing needs a large page at full size: decode/render it smaller (page coordinates
                # are kept); OCR reads small print and gets every pixel.
                working = 0 if ocr is not None else self.WORKING_LONG_SIDE
                pages = decode_document(content, self.limits.input, pdf_dpi, "document", text_layer=ocr is not None,
                                        working_long_side=working)
        except (InvalidInput, ResourceExhausted) as error:
            raise error.with_field("document")
        if annotate and len(pages) > self.limits.max_annotated_pages:
            raise InvalidInput(f"options.annotate is limited to documents of at most {self.limits.max_annotated_pages} "
                               f"pages (this one has {len(pages)}); send it without annotate, or split it",
                               field="options.annotate")
        marks: list[Detection] = []
        texts: list[MarkText] = []
        for page in pages:
            checkpoint()  # between pages: a cancelled call or a passed deadline stops here
            with stage("detect"):
                found = detector.detect(page.image, wanted, min_score or None, page.number)
            if page.scale != 1.0:  # boxes in page pixels, whatever size the page was decoded at
                found = [replace(m, box=m.box.scaled(1 / page.scale, 1 / page.scale)) for m in found]
            marks += found
            if ocr is not None:
                checkpoint()
                with stage("ocr"):
                    texts += read_marks_text(page, found, self.tesseract, ocr.nearby, language, budget_s)
        return pages, marks, texts

    @staticmethod
    def _summaries(pages: list[Page]) -> list[PageSummary]:
        return [PageSummary(p.number, p.width, p.height, p.dpi) for p in pages]

    def detect_marks(self, content: bytes, pdf_dpi: int = 0, kinds: list[str] | None = None, min_score: float = 0.0,
                     annotate: bool = False, ocr: OcrOptions | None = None) -> DocumentDetection:
        """Every stamp and signature on every page, ordered by page then top to bottom; with ``ocr``, the text
        near and inside each one."""
        pages, marks, texts = self._detect_pages(content, pdf_dpi, kinds, min_score, ocr, annotate)
        annotated = []
        if annotate:
            for page in pages:
                annotated.append(annotate_page(page.image, box_scale=page.scale, marks=[(i, m, None, "") for i, m in enumerate(marks)
                                                            if m.page_number == page.number]))
        return DocumentDetection(self._summaries(pages), marks, self._detector().version, annotated, texts)

    def verify_document(self, content: bytes, claims: list[DocumentClaim], pdf_dpi: int = 0,
                        kinds: list[str] | None = None, min_score: float = 0.0, annotate: bool = False,
                        ocr: OcrOptions | None = None) -> DocumentVerification:
        """Detect the marks, verify each against every claim that admits it, and judge each claim. With ``ocr``,
        each mark's text is matched against the claim's expected text (or the identity's display name), and a
        claim with several candidate marks is judged on those that name it (:func:`judge_claim`)."""
        self._detector()
        identities = self._check_claims(claims)
        pages, marks, texts = self._detect_pages(content, pdf_dpi, kinds, min_score, ocr, annotate)
        by_number = {page.number: page for page in pages}
        if not claims:
            return self._identify_document(pages, marks, texts, annotate)
        # Embed each mark once per kind, whatever the number of claims.
        needed = sorted({i for c in claims for i, m in enumerate(marks) if c.admits(m) and m.kind in self.encoders})
        embeddings, crops = {}, {}
        for kind in self.encoders:
            indices = [i for i in needed if marks[i].kind == kind]
            checkpoint()
            if indices:
                queries, kind_crops = self._embed_marks(kind, by_number, marks, indices)
                embeddings.update(zip(indices, queries))
                crops.update(zip(indices, kind_crops))
        references, overlay_canvases = {}, {}
        verifications: list[MarkVerification] = []
        results: list[ClaimResult] = []
        for claim, identity in zip(claims, identities):
            expected = claim.expected_text or ((identity.display_name,) if identity.display_name else ())
            mine = []
            for index, mark in enumerate(marks):
                if not claim.admits(mark) or index not in embeddings:
                    continue
                key = (claim.identity_id, mark.kind)
                if key not in references:
                    references[key] = self._references(*key)
                specimen_ids, refs = references[key]
                encoder = self.encoders[mark.kind]
                views = _views_for(embeddings[index], refs)
                with stage("score"):
                    decision = make_decision(views, refs, encoder.card.scoring, encoder.version)
                if index not in overlay_canvases:  # one canvas per mark, whatever the number of claims
                    overlay_canvases[index] = self._overlay_canvas(mark.kind, crops[index], "document")
                decision = self._overlay_against(mark.kind, decision, overlay_canvases[index], specimen_ids)
                if specimen_ids:
                    decision = decision.with_specimen_ids(specimen_ids)
                text_match = best_match(expected, texts[index].spans) if texts and expected else None
                mine.append(MarkVerification(index, mark, claim.identity_id, decision, text_match))
            verifications += mine
            unverifiable = tuple({m.kind for m in marks if claim.admits(m) and m.kind not in self.encoders})
            results.append(judge_claim(claim, mine, unverifiable))
        annotated = []
        if annotate:
            best = shown_verifications(verifications)
            for page in pages:
                items = []
                for i, m in enumerate(marks):
                    if m.page_number != page.number:
                        continue
                    v = best.get(i)
                    label = f"{v.identity_id} {v.decision.verdict.value}{_score_text(v.decision)}" if v else ""
                    items.append((i, m, v.decision.verdict if v else None, label))
                annotated.append(annotate_page(page.image, box_scale=page.scale, marks=items))
        return DocumentVerification(self._summaries(pages), marks, verifications, results, self._detector().version,
                                    annotated, texts)

    IDENTIFY_CANDIDATES = 3  # per mark, in a VerifyDocument without claims
    # Longer page side (pixels) that detection and verification need at most: A4 at about 137 dpi. Marks cut from a
    # page this size still hold more pixels than the encoders' inputs (80 x 160 signatures, 128 x 128 stamps).
    WORKING_LONG_SIDE = 1600

    def _embed_marks(self, kind: str, pages_by_number: dict, marks: list[Detection], indices: list[int]
                     ) -> tuple[list, list[np.ndarray]]:
        """The marks at ``indices`` (all of ``kind``) cut from their pages, preprocessed and embedded as queries
        (:meth:`MarkEncoder.queries`), one per index; and the crops (for the overlay check)."""
        encoder = self.encoders[kind]
        with stage("preprocess"):
            crops = [page_crop(pages_by_number[marks[i].page_number], marks[i], self.WORKING_LONG_SIDE) for i in indices]
            canvases = np.stack([encoder.preprocess(crop) for crop in crops])
        with stage("embed"):
            return encoder.queries(canvases), crops

    def _rank_identities(self, kind: str, query: np.ndarray, k: int, query_image: np.ndarray | None = None
                         ) -> list[tuple[str, Decision]]:
        """The ``k`` identities of this tenant nearest to ``query`` ``(views, d)``, each with the decision against its
        references (with the overlay check when ``kind`` has one and ``query_image`` is given), best score first.
        Candidates are found by the encoder's similarity; the overlay only re-scores them."""
        encoder = self.encoder(kind)
        index = self.identifier.index(getattr(self.store, "tenant", DEFAULT_TENANT), kind)
        ranked = []
        with stage("score"):
            for match in index.search(search_views(query), k):
                references = index.references(match.identity_id)
                if len(references):
                    ranked.append((match.identity_id,
                                   make_decision(_views_for(query, references), references, encoder.card.scoring,
                                                 encoder.version)))
        query_canvas = self._overlay_canvas(kind, query_image, "image") if query_image is not None else None
        if query_canvas is not None:
            ranked = [(identity_id, self._overlay_against(
                kind, decision, query_canvas, [item.specimen_id for item in self.store.reference_embeddings(identity_id, kind)]))
                for identity_id, decision in ranked]
        return sorted(ranked, key=lambda item: -item[1].score)

    def _identify_document(self, pages, marks, texts, annotate: bool) -> DocumentVerification:
        """No claim: each mark's best-matching identities of this tenant (up to :attr:`IDENTIFY_CANDIDATES`), best
        first, as verifications; no claim results."""
        by_number = {page.number: page for page in pages}
        verifications: list[MarkVerification] = []
        for kind in self.encoders:
            indices = [i for i, m in enumerate(marks) if m.kind == kind]
            if not indices:
                continue
            checkpoint()
            queries, crops = self._embed_marks(kind, by_number, marks, indices)
            for i, query, crop in zip(indices, queries, crops):
                for identity_id, decision in self._rank_identities(kind, query, self.IDENTIFY_CANDIDATES, crop):
                    verifications.append(MarkVerification(i, marks[i], identity_id, decision))
        annotated = []
        if annotate:
            best = {}
            for v in verifications:
                best.setdefault(v.mark_index, v)
            for page in pages:
                items = [(i, m, best[i].decision.verdict if i in best else None,
                          f"{best[i].identity_id}{_score_text(best[i].decision)}" if i in best else "")
                         for i, m in enumerate(marks) if m.page_number == page.number]
                annotated.append(annotate_page(page.image, box_scale=page.scale, marks=items))
        return DocumentVerification(self._summaries(pages), marks, verifications, [], self._detector().version,
                                    annotated, texts)

    def _check_claims(self, claims: list[DocumentClaim]) -> list[IdentityRecord]:
        if len(claims) > self.limits.max_claims:
            raise InvalidInput(f"at most {self.limits.max_claims} claims per request", field="claims")
        identities = []
        for i, claim in enumerate(claims):
            check_identity_id(claim.identity_id, f"claims[{i}].identity_id")
            if len(claim.expected_text) > self.limits.max_expected_texts or any(
                    len(t) > self.limits.max_expected_text_chars for t in claim.expected_text):
                raise InvalidInput(f"a claim takes at most {self.limits.max_expected_texts} expected texts of at most "
                                   f"{self.limits.max_expected_text_chars} characters", field=f"claims[{i}].expected_text")
            if claim.kind is not None:
                check_kind(claim.kind, f"claims[{i}].kind")
                if claim.kind not in self.encoders:
                    raise FailedPrecondition(f"this server has no {claim.kind} model loaded, so {claim.kind} claims "
                                             f"cannot be verified yet; claim a signature instead", field=f"claims[{i}].kind")
            if claim.region is not None and (claim.region.width <= 0 or claim.region.height <= 0):
                raise InvalidInput("a claim's region needs x_max > x_min and y_max > y_min", field=f"claims[{i}].region")
            try:
                identities.append(self.store.get_identity(claim.identity_id))
            except NotFound as error:
                raise NotFound(f"claims[{i}]: {error.message}", field=f"claims[{i}].identity_id")
        return identities

    def identify_mark(self, kind: str, image: bytes, top_k: int = 0) -> list[tuple[IdentityRecord, Decision]]:
        """The ``top_k`` (default 10, at most 100) enrolled identities of this tenant nearest to a cropped mark, best
        first, each with the decision against its references (as VerifyImage would give)."""
        check_kind(kind)
        if not 0 <= top_k <= 100:
            raise InvalidInput("top_k must be between 1 and 100 (0 = 10)", field="top_k")
        images: list = []
        query, _ = self.embed_bytes(kind, [image], ["image"], as_queries=True, images=images)
        results = []
        for identity_id, decision in self._rank_identities(kind, query[0], top_k or 10, images[0]):
            try:
                results.append((self.store.get_identity(identity_id), decision))
            except NotFound:  # deleted since the index last synced
                continue
        return results

    # -- info -----------------------------------------------------------------------------------
    def server_info(self) -> ServerInfo:
        return ServerInfo(
            server_version=__version__,
            api_version="v1",
            models=[encoder.card for encoder in self.encoders.values()],
            limits=self.limits,
            store_backend=self.store.backend,
            ocr_available=self.tesseract.available,
            ocr_languages=tuple(l for l in self.tesseract.installed_languages() if l != "osd"),
            unimplemented_methods=list(UNIMPLEMENTED_METHODS),
            detector=self.detector.card if self.detector else None,
        )
