"""Protos <-> domain objects.  The only module that knows both."""

from __future__ import annotations

import hashlib
import math

from google.protobuf.timestamp_pb2 import Timestamp

from stampauth.detection.detector import DetectorCard
from stampauth.detection.types import Box, Detection
from stampauth.documents import ClaimOutcome, ClaimResult, DocumentClaim, DocumentDetection, DocumentVerification, PageSummary
from stampauth.cancellation import checkpoint
from stampauth.errors import InvalidInput, ResourceExhausted
from stampauth.modeling.card import ModelCard
from stampauth.scoring import Decision, Verdict
from stampauth.service import ServerInfo, SpecimenInput
from stampauth.store.base import IdentityRecord, SpecimenRecord
from stampauth.text.types import MarkText, NearbyConfig, OcrOptions, TextMatch, TextSpan, TextStatus
from stampauth.v1 import stampauth_pb2 as pb

KIND_FROM_PROTO = {pb.MARK_KIND_SIGNATURE: "signature", pb.MARK_KIND_STAMP: "stamp"}
KIND_TO_PROTO = {value: key for key, value in KIND_FROM_PROTO.items()}
VERDICT_TO_PROTO = {
    Verdict.GENUINE: pb.VERDICT_GENUINE,
    Verdict.FORGED: pb.VERDICT_FORGED,
    Verdict.INCONCLUSIVE: pb.VERDICT_INCONCLUSIVE,
    Verdict.NO_REFERENCE: pb.VERDICT_NO_REFERENCE,
}


OUTCOME_TO_PROTO = {
    ClaimOutcome.SATISFIED: pb.CLAIM_OUTCOME_SATISFIED,
    ClaimOutcome.MISSING_MARK: pb.CLAIM_OUTCOME_MISSING_MARK,
    ClaimOutcome.FORGED: pb.CLAIM_OUTCOME_FORGED,
    ClaimOutcome.INCONCLUSIVE: pb.CLAIM_OUTCOME_INCONCLUSIVE,
    ClaimOutcome.NO_REFERENCE: pb.CLAIM_OUTCOME_NO_REFERENCE,
}


def kind_from_proto(value: int, field: str = "kind", required: bool = True) -> str | None:
    if value in KIND_FROM_PROTO:
        return KIND_FROM_PROTO[value]
    if value == pb.MARK_KIND_UNSPECIFIED and not required:
        return None
    raise InvalidInput(f"{field} must be MARK_KIND_SIGNATURE or MARK_KIND_STAMP", field=field)


def image_bytes(message: pb.ImageData, field: str) -> bytes:
    if not message.content:
        raise InvalidInput(f"{field}.content is empty: put the image file's bytes there", field=f"{field}.content")
    return bytes(message.content)


def specimens_from_proto(items, field: str = "specimens") -> list[SpecimenInput]:
    result = []
    for index, item in enumerate(items):
        prefix = f"{field}[{index}]"
        result.append(SpecimenInput(
            kind=kind_from_proto(item.kind, f"{prefix}.kind"),
            content=image_bytes(item.image, f"{prefix}.image"),
            note=item.note,
        ))
    return result


def timestamp(seconds: float) -> Timestamp:
    stamp = Timestamp()
    stamp.FromNanoseconds(int(seconds * 1e9))
    return stamp


def _finite(value: float) -> float:
    return 0.0 if value is None or math.isnan(value) else float(value)


def decision_to_proto(decision: Decision) -> pb.Decision:
    ids = decision.reference_ids or [""] * len(decision.reference_similarities)
    return pb.Decision(
        verdict=VERDICT_TO_PROTO[decision.verdict],
        score=_finite(decision.score),
        score_kind=pb.SCORE_KIND_SIMILARITY,
        threshold=decision.threshold,
        review_band=decision.review_band,
        probability_genuine=_finite(decision.probability_genuine),
        model_version=decision.model_version,
        references_used=decision.references_used,
        reference_similarities=[
            pb.ReferenceSimilarity(specimen_id=sid, similarity=sim) for sid, sim in zip(ids, decision.reference_similarities)
        ],
        ink_outside_share=decision.outside_share,
        registration_anisotropy=decision.registration_anisotropy,
        pair_logit=decision.pair_logit,
    )


def identity_to_proto(record: IdentityRecord) -> pb.Identity:
    return pb.Identity(
        identity_id=record.identity_id,
        display_name=record.display_name,
        metadata=record.metadata,
        signature_specimen_count=record.specimen_counts.get("signature", 0),
        stamp_specimen_count=record.specimen_counts.get("stamp", 0),
        create_time=timestamp(record.create_time),
        update_time=timestamp(record.update_time),
    )


def specimen_to_proto(record: SpecimenRecord) -> pb.Specimen:
    return pb.Specimen(
        specimen_id=record.specimen_id,
        identity_id=record.identity_id,
        kind=KIND_TO_PROTO[record.kind],
        content_sha256=record.content_sha256,
        width=record.width,
        height=record.height,
        model_version=record.model_version,
        create_time=timestamp(record.create_time),
        note=record.note,
    )


def model_to_proto(card: ModelCard) -> pb.ModelInfo:
    height, width, channels = card.input_shape
    overlay = card.overlay_config
    scoring = overlay.scoring if overlay else card.scoring  # the score decisions are taken on
    return pb.ModelInfo(
        name=card.name,
        kind=KIND_TO_PROTO[card.kind],
        version=card.version,
        input_spec=pb.InputSpec(height=height, width=width, channels=channels, normalization=card.input_normalization),
        embedding_dim=card.embedding_dim,
        score_kind=pb.SCORE_KIND_SIMILARITY,
        threshold=scoring.threshold,
        review_band=scoring.review_band,
        score_normalization="overlay" if overlay else scoring.normalization_label,
        thresholds_by_references=[
            pb.ReferenceThreshold(references=int(k), threshold=float(v))
            for k, v in sorted(scoring.thresholds_by_references.items(), key=lambda item: int(item[0]))
        ],
        query_views=max(1, card.preprocess.rotation_views),
        decision_model_version=f"{card.version}+{overlay.version}" if overlay else card.version,
        pair_model_version=overlay.pair_model if overlay and overlay.weight_pair else "",
    )


def document_bytes(message: pb.DocumentData, field: str = "document") -> tuple[bytes, int]:
    if not message.content:
        raise InvalidInput(f"{field}.content is empty: put the document file's bytes there", field=f"{field}.content")
    return bytes(message.content), int(message.pdf_dpi)


def nearby_from_proto(nearby: pb.NearbyTextOptions) -> NearbyConfig:
    default = NearbyConfig()
    values = {name: float(getattr(nearby, name)) if nearby.HasField(name) else getattr(default, name)
              for name in ("below", "above", "left", "right", "spread")}
    return NearbyConfig(**values, inside=not nearby.skip_inside)


def options_from_proto(options: pb.DetectOptions, field: str = "options") -> dict:
    kinds = [kind_from_proto(k, f"{field}.kinds[{i}]") for i, k in enumerate(options.kinds)]
    ocr = None
    if options.ocr:
        ocr = OcrOptions(languages=tuple(options.ocr_languages) or ("eng",), budget_ms=int(options.ocr_budget_ms),
                         nearby=nearby_from_proto(options.nearby) if options.HasField("nearby") else NearbyConfig())
    elif options.ocr_languages or options.ocr_budget_ms or options.HasField("nearby"):
        raise InvalidInput(f"{field}.ocr_languages, ocr_budget_ms and nearby only apply with {field}.ocr set; "
                           f"set {field}.ocr to read text", field=f"{field}.ocr")
    return {"kinds": kinds or None, "min_score": float(options.min_score), "annotate": bool(options.annotate),
            "ocr": ocr}


UPLOAD_CHUNK_LIMIT = 4 * 1024 * 1024  # the proto asks for chunks of at most 1 MiB; a little slack is allowed


def assemble_upload(requests, max_bytes: int):
    """The messages of an upload call -> ``(header, document bytes)``: the header first, then chunks adding up to
    the declared size with the declared SHA-256. Raises with the field at fault and what to do."""
    stream = iter(requests)
    first = next(stream, None)
    if first is None or first.WhichOneof("part") != "header":
        raise InvalidInput("send the header first (document size and SHA-256, options), then the chunks", field="header")
    header = first.header
    declared = header.document
    total = int(declared.total_size)
    if total == 0:
        raise InvalidInput("header.document.total_size is 0: declare the document's size in bytes",
                           field="header.document.total_size")
    if total > max_bytes:
        raise ResourceExhausted(f"the document is {total} bytes, over the limit of {max_bytes}; send a smaller file "
                                "(lower resolution or fewer pages)", field="header.document.total_size")
    expected_sha = declared.sha256.lower()
    if len(expected_sha) != 64 or any(c not in "0123456789abcdef" for c in expected_sha):
        raise InvalidInput("header.document.sha256 must be the document's SHA-256 as 64 hexadecimal digits",
                           field="header.document.sha256")
    content = bytearray()
    digest = hashlib.sha256()
    for index, message in enumerate(stream, start=1):
        checkpoint()
        if message.WhichOneof("part") != "chunk":
            raise InvalidInput(f"message {index} is a second header: send the header once, then only chunks",
                               field="header")
        chunk = message.chunk
        if len(chunk) > UPLOAD_CHUNK_LIMIT:
            raise InvalidInput(f"chunk {index} is {len(chunk)} bytes; send chunks of at most 1 MiB", field="chunk")
        if len(content) + len(chunk) > total:
            raise InvalidInput(f"more bytes arrived than the {total} declared in header.document.total_size",
                               field="chunk")
        content += chunk
        digest.update(chunk)
    if len(content) != total:
        raise InvalidInput(f"the upload ended after {len(content)} of the {total} declared bytes; send it again",
                           field="chunk")
    if digest.hexdigest() != expected_sha:
        raise InvalidInput("the document's SHA-256 does not match header.document.sha256: it was changed in transit "
                           "or the checksum is of another file; send it again", field="header.document.sha256")
    return header, bytes(content)


def box_from_proto(box: pb.BoundingBox) -> Box:
    return Box(box.x_min, box.y_min, box.x_max, box.y_max)


def box_to_proto(box: Box) -> pb.BoundingBox:
    # Round outwards so the integer box still holds the whole mark.
    return pb.BoundingBox(x_min=int(math.floor(box.x0)), y_min=int(math.floor(box.y0)),
                          x_max=int(math.ceil(box.x1)), y_max=int(math.ceil(box.y1)))


def claims_from_proto(claims) -> list[DocumentClaim]:
    return [
        DocumentClaim(
            identity_id=claim.identity_id,
            kind=kind_from_proto(claim.kind, f"claims[{i}].kind", required=False),
            page_number=int(claim.page_number),
            region=box_from_proto(claim.region) if claim.HasField("region") else None,
            expected_text=tuple(claim.expected_text),
        )
        for i, claim in enumerate(claims)
    ]


def claim_to_proto(claim: DocumentClaim) -> pb.Claim:
    message = pb.Claim(identity_id=claim.identity_id, kind=KIND_TO_PROTO.get(claim.kind, pb.MARK_KIND_UNSPECIFIED),
                       page_number=claim.page_number, expected_text=list(claim.expected_text))
    if claim.region is not None:
        message.region.CopyFrom(box_to_proto(claim.region))
    return message


def page_to_proto(page: PageSummary) -> pb.PageInfo:
    return pb.PageInfo(page_number=page.page_number, width=page.width, height=page.height, dpi=page.dpi)


TEXT_STATUS_TO_PROTO = {
    TextStatus.NOT_REQUESTED: pb.TEXT_STATUS_UNSPECIFIED,
    TextStatus.READ: pb.TEXT_STATUS_READ,
    TextStatus.BUDGET_EXCEEDED: pb.TEXT_STATUS_BUDGET_EXCEEDED,
}


def span_to_proto(span: TextSpan) -> pb.TextSpan:
    return pb.TextSpan(text=span.text, box=box_to_proto(span.box), confidence=span.confidence, position=span.position,
                       source=span.source)


def mark_to_proto(index: int, mark: Detection, text: MarkText | None = None) -> pb.DetectedMark:
    message = pb.DetectedMark(mark_index=index, page_number=mark.page_number, kind=KIND_TO_PROTO[mark.kind],
                              box=box_to_proto(mark.box), detection_score=mark.score)
    if text is not None:
        message.nearby_text.extend(span_to_proto(s) for s in text.spans)
        message.text_status = TEXT_STATUS_TO_PROTO[text.status]
    return message


def _text_of(result, index: int) -> MarkText | None:
    return result.mark_texts[index] if result.mark_texts else None


def text_match_to_proto(match: TextMatch) -> pb.TextMatch:
    return pb.TextMatch(expected=match.expected, found=match.found, score=match.score, threshold=match.threshold,
                        matched=match.matched, position=match.position)


def detection_to_proto(result: DocumentDetection) -> pb.DetectMarksResponse:
    return pb.DetectMarksResponse(
        pages=[page_to_proto(p) for p in result.pages],
        marks=[mark_to_proto(i, m, _text_of(result, i)) for i, m in enumerate(result.marks)],
        detector_version=result.detector_version,
        annotated_pages=result.annotated_pages,
    )


def claim_result_to_proto(result: ClaimResult) -> pb.ClaimResult:
    message = pb.ClaimResult(claim=claim_to_proto(result.claim), verdict=VERDICT_TO_PROTO[result.verdict],
                             explanation=result.explanation, outcome=OUTCOME_TO_PROTO[result.outcome],
                             chosen_by_text=result.chosen_by_text)
    if result.mark_index is not None:
        message.mark_index = result.mark_index
    return message


def verification_to_proto(result: DocumentVerification) -> pb.VerifyDocumentResponse:
    return pb.VerifyDocumentResponse(
        pages=[page_to_proto(p) for p in result.pages],
        verifications=[
            pb.MarkVerification(mark=mark_to_proto(v.mark_index, v.mark, _text_of(result, v.mark_index)),
                                identity_id=v.identity_id, decision=decision_to_proto(v.decision),
                                text_match=text_match_to_proto(v.text_match) if v.text_match is not None else None)
            for v in result.verifications
        ],
        claim_results=[claim_result_to_proto(r) for r in result.claim_results],
        detector_version=result.detector_version,
        all_claims_satisfied=result.all_claims_satisfied,
        annotated_pages=result.annotated_pages,
    )


def detector_to_proto(card: DetectorCard) -> pb.DetectorInfo:
    return pb.DetectorInfo(
        name=card.name, version=card.version, input_long_side=card.input_long_side,
        score_thresholds=[pb.KindThreshold(kind=KIND_TO_PROTO[k], threshold=float(v))
                          for k, v in sorted(card.score_thresholds.items()) if k in KIND_TO_PROTO],
        stamp_one_ink_weight=float(card.stamp_one_ink_weight),
    )


def server_info_to_proto(info: ServerInfo) -> pb.GetServerInfoResponse:
    limits = info.limits
    return pb.GetServerInfoResponse(
        server_version=info.server_version,
        api_version=info.api_version,
        models=[model_to_proto(card) for card in info.models],
        limits=pb.Limits(
            max_document_bytes=limits.input.max_bytes,
            max_page_pixels=limits.input.max_page_pixels,
            max_pages=limits.input.max_pages,
            default_pdf_dpi=limits.input.default_pdf_dpi,
            max_specimens_per_request=limits.max_specimens_per_request,
            max_message_bytes=limits.max_message_bytes,
            default_ocr_budget_ms=limits.default_ocr_budget_ms,
            max_ocr_budget_ms=limits.max_ocr_budget_ms,
        ),
        store_backend=info.store_backend,
        ocr_available=info.ocr_available,
        ocr_languages=list(info.ocr_languages),
        unimplemented_methods=info.unimplemented_methods,
        detector=detector_to_proto(info.detector) if info.detector is not None else None,
    )
