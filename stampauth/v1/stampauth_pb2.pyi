import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class MarkKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    MARK_KIND_UNSPECIFIED: _ClassVar[MarkKind]
    MARK_KIND_SIGNATURE: _ClassVar[MarkKind]
    MARK_KIND_STAMP: _ClassVar[MarkKind]

class Verdict(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    VERDICT_UNSPECIFIED: _ClassVar[Verdict]
    VERDICT_GENUINE: _ClassVar[Verdict]
    VERDICT_FORGED: _ClassVar[Verdict]
    VERDICT_INCONCLUSIVE: _ClassVar[Verdict]
    VERDICT_NO_REFERENCE: _ClassVar[Verdict]

class ScoreKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    SCORE_KIND_UNSPECIFIED: _ClassVar[ScoreKind]
    SCORE_KIND_SIMILARITY: _ClassVar[ScoreKind]
    SCORE_KIND_DISTANCE: _ClassVar[ScoreKind]

class ClaimOutcome(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    CLAIM_OUTCOME_UNSPECIFIED: _ClassVar[ClaimOutcome]
    CLAIM_OUTCOME_SATISFIED: _ClassVar[ClaimOutcome]
    CLAIM_OUTCOME_MISSING_MARK: _ClassVar[ClaimOutcome]
    CLAIM_OUTCOME_FORGED: _ClassVar[ClaimOutcome]
    CLAIM_OUTCOME_INCONCLUSIVE: _ClassVar[ClaimOutcome]
    CLAIM_OUTCOME_NO_REFERENCE: _ClassVar[ClaimOutcome]

class TextStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    TEXT_STATUS_UNSPECIFIED: _ClassVar[TextStatus]
    TEXT_STATUS_READ: _ClassVar[TextStatus]
    TEXT_STATUS_BUDGET_EXCEEDED: _ClassVar[TextStatus]
MARK_KIND_UNSPECIFIED: MarkKind
MARK_KIND_SIGNATURE: MarkKind
MARK_KIND_STAMP: MarkKind
VERDICT_UNSPECIFIED: Verdict
VERDICT_GENUINE: Verdict
VERDICT_FORGED: Verdict
VERDICT_INCONCLUSIVE: Verdict
VERDICT_NO_REFERENCE: Verdict
SCORE_KIND_UNSPECIFIED: ScoreKind
SCORE_KIND_SIMILARITY: ScoreKind
SCORE_KIND_DISTANCE: ScoreKind
CLAIM_OUTCOME_UNSPECIFIED: ClaimOutcome
CLAIM_OUTCOME_SATISFIED: ClaimOutcome
CLAIM_OUTCOME_MISSING_MARK: ClaimOutcome
CLAIM_OUTCOME_FORGED: ClaimOutcome
CLAIM_OUTCOME_INCONCLUSIVE: ClaimOutcome
CLAIM_OUTCOME_NO_REFERENCE: ClaimOutcome
TEXT_STATUS_UNSPECIFIED: TextStatus
TEXT_STATUS_READ: TextStatus
TEXT_STATUS_BUDGET_EXCEEDED: TextStatus

class ImageData(_message.Message):
    __slots__ = ("content", "filename")
    CONTENT_FIELD_NUMBER: _ClassVar[int]
    FILENAME_FIELD_NUMBER: _ClassVar[int]
    content: bytes
    filename: str
    def __init__(self, content: _Optional[bytes] = ..., filename: _Optional[str] = ...) -> None: ...

class DocumentData(_message.Message):
    __slots__ = ("content", "filename", "pdf_dpi")
    CONTENT_FIELD_NUMBER: _ClassVar[int]
    FILENAME_FIELD_NUMBER: _ClassVar[int]
    PDF_DPI_FIELD_NUMBER: _ClassVar[int]
    content: bytes
    filename: str
    pdf_dpi: int
    def __init__(self, content: _Optional[bytes] = ..., filename: _Optional[str] = ..., pdf_dpi: _Optional[int] = ...) -> None: ...

class UploadedDocument(_message.Message):
    __slots__ = ("total_size", "sha256", "filename", "pdf_dpi")
    TOTAL_SIZE_FIELD_NUMBER: _ClassVar[int]
    SHA256_FIELD_NUMBER: _ClassVar[int]
    FILENAME_FIELD_NUMBER: _ClassVar[int]
    PDF_DPI_FIELD_NUMBER: _ClassVar[int]
    total_size: int
    sha256: str
    filename: str
    pdf_dpi: int
    def __init__(self, total_size: _Optional[int] = ..., sha256: _Optional[str] = ..., filename: _Optional[str] = ..., pdf_dpi: _Optional[int] = ...) -> None: ...

class DetectMarksUploadHeader(_message.Message):
    __slots__ = ("document", "options")
    DOCUMENT_FIELD_NUMBER: _ClassVar[int]
    OPTIONS_FIELD_NUMBER: _ClassVar[int]
    document: UploadedDocument
    options: DetectOptions
    def __init__(self, document: _Optional[_Union[UploadedDocument, _Mapping]] = ..., options: _Optional[_Union[DetectOptions, _Mapping]] = ...) -> None: ...

class DetectMarksUploadRequest(_message.Message):
    __slots__ = ("header", "chunk")
    HEADER_FIELD_NUMBER: _ClassVar[int]
    CHUNK_FIELD_NUMBER: _ClassVar[int]
    header: DetectMarksUploadHeader
    chunk: bytes
    def __init__(self, header: _Optional[_Union[DetectMarksUploadHeader, _Mapping]] = ..., chunk: _Optional[bytes] = ...) -> None: ...

class DetectMarksUploadResponse(_message.Message):
    __slots__ = ("result",)
    RESULT_FIELD_NUMBER: _ClassVar[int]
    result: DetectMarksResponse
    def __init__(self, result: _Optional[_Union[DetectMarksResponse, _Mapping]] = ...) -> None: ...

class VerifyDocumentUploadHeader(_message.Message):
    __slots__ = ("document", "claims", "options")
    DOCUMENT_FIELD_NUMBER: _ClassVar[int]
    CLAIMS_FIELD_NUMBER: _ClassVar[int]
    OPTIONS_FIELD_NUMBER: _ClassVar[int]
    document: UploadedDocument
    claims: _containers.RepeatedCompositeFieldContainer[Claim]
    options: DetectOptions
    def __init__(self, document: _Optional[_Union[UploadedDocument, _Mapping]] = ..., claims: _Optional[_Iterable[_Union[Claim, _Mapping]]] = ..., options: _Optional[_Union[DetectOptions, _Mapping]] = ...) -> None: ...

class VerifyDocumentUploadRequest(_message.Message):
    __slots__ = ("header", "chunk")
    HEADER_FIELD_NUMBER: _ClassVar[int]
    CHUNK_FIELD_NUMBER: _ClassVar[int]
    header: VerifyDocumentUploadHeader
    chunk: bytes
    def __init__(self, header: _Optional[_Union[VerifyDocumentUploadHeader, _Mapping]] = ..., chunk: _Optional[bytes] = ...) -> None: ...

class VerifyDocumentUploadResponse(_message.Message):
    __slots__ = ("result",)
    RESULT_FIELD_NUMBER: _ClassVar[int]
    result: VerifyDocumentResponse
    def __init__(self, result: _Optional[_Union[VerifyDocumentResponse, _Mapping]] = ...) -> None: ...

class BoundingBox(_message.Message):
    __slots__ = ("x_min", "y_min", "x_max", "y_max")
    X_MIN_FIELD_NUMBER: _ClassVar[int]
    Y_MIN_FIELD_NUMBER: _ClassVar[int]
    X_MAX_FIELD_NUMBER: _ClassVar[int]
    Y_MAX_FIELD_NUMBER: _ClassVar[int]
    x_min: int
    y_min: int
    x_max: int
    y_max: int
    def __init__(self, x_min: _Optional[int] = ..., y_min: _Optional[int] = ..., x_max: _Optional[int] = ..., y_max: _Optional[int] = ...) -> None: ...

class ReferenceSimilarity(_message.Message):
    __slots__ = ("specimen_id", "similarity")
    SPECIMEN_ID_FIELD_NUMBER: _ClassVar[int]
    SIMILARITY_FIELD_NUMBER: _ClassVar[int]
    specimen_id: str
    similarity: float
    def __init__(self, specimen_id: _Optional[str] = ..., similarity: _Optional[float] = ...) -> None: ...

class Decision(_message.Message):
    __slots__ = ("verdict", "score", "score_kind", "threshold", "review_band", "probability_genuine", "model_version", "references_used", "reference_similarities", "ink_outside_share", "registration_anisotropy", "pair_logit")
    VERDICT_FIELD_NUMBER: _ClassVar[int]
    SCORE_FIELD_NUMBER: _ClassVar[int]
    SCORE_KIND_FIELD_NUMBER: _ClassVar[int]
    THRESHOLD_FIELD_NUMBER: _ClassVar[int]
    REVIEW_BAND_FIELD_NUMBER: _ClassVar[int]
    PROBABILITY_GENUINE_FIELD_NUMBER: _ClassVar[int]
    MODEL_VERSION_FIELD_NUMBER: _ClassVar[int]
    REFERENCES_USED_FIELD_NUMBER: _ClassVar[int]
    REFERENCE_SIMILARITIES_FIELD_NUMBER: _ClassVar[int]
    INK_OUTSIDE_SHARE_FIELD_NUMBER: _ClassVar[int]
    REGISTRATION_ANISOTROPY_FIELD_NUMBER: _ClassVar[int]
    PAIR_LOGIT_FIELD_NUMBER: _ClassVar[int]
    verdict: Verdict
    score: float
    score_kind: ScoreKind
    threshold: float
    review_band: float
    probability_genuine: float
    model_version: str
    references_used: int
    reference_similarities: _containers.RepeatedCompositeFieldContainer[ReferenceSimilarity]
    ink_outside_share: float
    registration_anisotropy: float
    pair_logit: float
    def __init__(self, verdict: _Optional[_Union[Verdict, str]] = ..., score: _Optional[float] = ..., score_kind: _Optional[_Union[ScoreKind, str]] = ..., threshold: _Optional[float] = ..., review_band: _Optional[float] = ..., probability_genuine: _Optional[float] = ..., model_version: _Optional[str] = ..., references_used: _Optional[int] = ..., reference_similarities: _Optional[_Iterable[_Union[ReferenceSimilarity, _Mapping]]] = ..., ink_outside_share: _Optional[float] = ..., registration_anisotropy: _Optional[float] = ..., pair_logit: _Optional[float] = ...) -> None: ...

class Identity(_message.Message):
    __slots__ = ("identity_id", "display_name", "metadata", "signature_specimen_count", "stamp_specimen_count", "create_time", "update_time")
    class MetadataEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    IDENTITY_ID_FIELD_NUMBER: _ClassVar[int]
    DISPLAY_NAME_FIELD_NUMBER: _ClassVar[int]
    METADATA_FIELD_NUMBER: _ClassVar[int]
    SIGNATURE_SPECIMEN_COUNT_FIELD_NUMBER: _ClassVar[int]
    STAMP_SPECIMEN_COUNT_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    UPDATE_TIME_FIELD_NUMBER: _ClassVar[int]
    identity_id: str
    display_name: str
    metadata: _containers.ScalarMap[str, str]
    signature_specimen_count: int
    stamp_specimen_count: int
    create_time: _timestamp_pb2.Timestamp
    update_time: _timestamp_pb2.Timestamp
    def __init__(self, identity_id: _Optional[str] = ..., display_name: _Optional[str] = ..., metadata: _Optional[_Mapping[str, str]] = ..., signature_specimen_count: _Optional[int] = ..., stamp_specimen_count: _Optional[int] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., update_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class Specimen(_message.Message):
    __slots__ = ("specimen_id", "identity_id", "kind", "content_sha256", "width", "height", "model_version", "create_time", "note")
    SPECIMEN_ID_FIELD_NUMBER: _ClassVar[int]
    IDENTITY_ID_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    CONTENT_SHA256_FIELD_NUMBER: _ClassVar[int]
    WIDTH_FIELD_NUMBER: _ClassVar[int]
    HEIGHT_FIELD_NUMBER: _ClassVar[int]
    MODEL_VERSION_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    NOTE_FIELD_NUMBER: _ClassVar[int]
    specimen_id: str
    identity_id: str
    kind: MarkKind
    content_sha256: str
    width: int
    height: int
    model_version: str
    create_time: _timestamp_pb2.Timestamp
    note: str
    def __init__(self, specimen_id: _Optional[str] = ..., identity_id: _Optional[str] = ..., kind: _Optional[_Union[MarkKind, str]] = ..., content_sha256: _Optional[str] = ..., width: _Optional[int] = ..., height: _Optional[int] = ..., model_version: _Optional[str] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., note: _Optional[str] = ...) -> None: ...

class SpecimenInput(_message.Message):
    __slots__ = ("kind", "image", "note")
    KIND_FIELD_NUMBER: _ClassVar[int]
    IMAGE_FIELD_NUMBER: _ClassVar[int]
    NOTE_FIELD_NUMBER: _ClassVar[int]
    kind: MarkKind
    image: ImageData
    note: str
    def __init__(self, kind: _Optional[_Union[MarkKind, str]] = ..., image: _Optional[_Union[ImageData, _Mapping]] = ..., note: _Optional[str] = ...) -> None: ...

class CompareImagesRequest(_message.Message):
    __slots__ = ("kind", "reference", "query")
    KIND_FIELD_NUMBER: _ClassVar[int]
    REFERENCE_FIELD_NUMBER: _ClassVar[int]
    QUERY_FIELD_NUMBER: _ClassVar[int]
    kind: MarkKind
    reference: ImageData
    query: ImageData
    def __init__(self, kind: _Optional[_Union[MarkKind, str]] = ..., reference: _Optional[_Union[ImageData, _Mapping]] = ..., query: _Optional[_Union[ImageData, _Mapping]] = ...) -> None: ...

class CompareImagesResponse(_message.Message):
    __slots__ = ("decision",)
    DECISION_FIELD_NUMBER: _ClassVar[int]
    decision: Decision
    def __init__(self, decision: _Optional[_Union[Decision, _Mapping]] = ...) -> None: ...

class CreateIdentityRequest(_message.Message):
    __slots__ = ("identity", "specimens")
    IDENTITY_FIELD_NUMBER: _ClassVar[int]
    SPECIMENS_FIELD_NUMBER: _ClassVar[int]
    identity: Identity
    specimens: _containers.RepeatedCompositeFieldContainer[SpecimenInput]
    def __init__(self, identity: _Optional[_Union[Identity, _Mapping]] = ..., specimens: _Optional[_Iterable[_Union[SpecimenInput, _Mapping]]] = ...) -> None: ...

class CreateIdentityResponse(_message.Message):
    __slots__ = ("identity", "specimens")
    IDENTITY_FIELD_NUMBER: _ClassVar[int]
    SPECIMENS_FIELD_NUMBER: _ClassVar[int]
    identity: Identity
    specimens: _containers.RepeatedCompositeFieldContainer[Specimen]
    def __init__(self, identity: _Optional[_Union[Identity, _Mapping]] = ..., specimens: _Optional[_Iterable[_Union[Specimen, _Mapping]]] = ...) -> None: ...

class GetIdentityRequest(_message.Message):
    __slots__ = ("identity_id",)
    IDENTITY_ID_FIELD_NUMBER: _ClassVar[int]
    identity_id: str
    def __init__(self, identity_id: _Optional[str] = ...) -> None: ...

class GetIdentityResponse(_message.Message):
    __slots__ = ("identity",)
    IDENTITY_FIELD_NUMBER: _ClassVar[int]
    identity: Identity
    def __init__(self, identity: _Optional[_Union[Identity, _Mapping]] = ...) -> None: ...

class ListIdentitiesRequest(_message.Message):
    __slots__ = ("page_size", "page_token")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListIdentitiesResponse(_message.Message):
    __slots__ = ("identities", "next_page_token")
    IDENTITIES_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    identities: _containers.RepeatedCompositeFieldContainer[Identity]
    next_page_token: str
    def __init__(self, identities: _Optional[_Iterable[_Union[Identity, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class DeleteIdentityRequest(_message.Message):
    __slots__ = ("identity_id",)
    IDENTITY_ID_FIELD_NUMBER: _ClassVar[int]
    identity_id: str
    def __init__(self, identity_id: _Optional[str] = ...) -> None: ...

class DeleteIdentityResponse(_message.Message):
    __slots__ = ("deleted_specimen_count",)
    DELETED_SPECIMEN_COUNT_FIELD_NUMBER: _ClassVar[int]
    deleted_specimen_count: int
    def __init__(self, deleted_specimen_count: _Optional[int] = ...) -> None: ...

class EnrollSpecimensRequest(_message.Message):
    __slots__ = ("identity_id", "specimens")
    IDENTITY_ID_FIELD_NUMBER: _ClassVar[int]
    SPECIMENS_FIELD_NUMBER: _ClassVar[int]
    identity_id: str
    specimens: _containers.RepeatedCompositeFieldContainer[SpecimenInput]
    def __init__(self, identity_id: _Optional[str] = ..., specimens: _Optional[_Iterable[_Union[SpecimenInput, _Mapping]]] = ...) -> None: ...

class EnrollSpecimensResponse(_message.Message):
    __slots__ = ("identity", "specimens")
    IDENTITY_FIELD_NUMBER: _ClassVar[int]
    SPECIMENS_FIELD_NUMBER: _ClassVar[int]
    identity: Identity
    specimens: _containers.RepeatedCompositeFieldContainer[Specimen]
    def __init__(self, identity: _Optional[_Union[Identity, _Mapping]] = ..., specimens: _Optional[_Iterable[_Union[Specimen, _Mapping]]] = ...) -> None: ...

class GetSpecimenRequest(_message.Message):
    __slots__ = ("specimen_id",)
    SPECIMEN_ID_FIELD_NUMBER: _ClassVar[int]
    specimen_id: str
    def __init__(self, specimen_id: _Optional[str] = ...) -> None: ...

class GetSpecimenResponse(_message.Message):
    __slots__ = ("specimen",)
    SPECIMEN_FIELD_NUMBER: _ClassVar[int]
    specimen: Specimen
    def __init__(self, specimen: _Optional[_Union[Specimen, _Mapping]] = ...) -> None: ...

class ListSpecimensRequest(_message.Message):
    __slots__ = ("identity_id", "kind", "page_size", "page_token")
    IDENTITY_ID_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    identity_id: str
    kind: MarkKind
    page_size: int
    page_token: str
    def __init__(self, identity_id: _Optional[str] = ..., kind: _Optional[_Union[MarkKind, str]] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListSpecimensResponse(_message.Message):
    __slots__ = ("specimens", "next_page_token")
    SPECIMENS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    specimens: _containers.RepeatedCompositeFieldContainer[Specimen]
    next_page_token: str
    def __init__(self, specimens: _Optional[_Iterable[_Union[Specimen, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class DeleteSpecimenRequest(_message.Message):
    __slots__ = ("specimen_id",)
    SPECIMEN_ID_FIELD_NUMBER: _ClassVar[int]
    specimen_id: str
    def __init__(self, specimen_id: _Optional[str] = ...) -> None: ...

class DeleteSpecimenResponse(_message.Message):
    __slots__ = ("identity",)
    IDENTITY_FIELD_NUMBER: _ClassVar[int]
    identity: Identity
    def __init__(self, identity: _Optional[_Union[Identity, _Mapping]] = ...) -> None: ...

class VerifyImageRequest(_message.Message):
    __slots__ = ("identity_id", "kind", "image")
    IDENTITY_ID_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    IMAGE_FIELD_NUMBER: _ClassVar[int]
    identity_id: str
    kind: MarkKind
    image: ImageData
    def __init__(self, identity_id: _Optional[str] = ..., kind: _Optional[_Union[MarkKind, str]] = ..., image: _Optional[_Union[ImageData, _Mapping]] = ...) -> None: ...

class VerifyImageResponse(_message.Message):
    __slots__ = ("decision", "identity")
    DECISION_FIELD_NUMBER: _ClassVar[int]
    IDENTITY_FIELD_NUMBER: _ClassVar[int]
    decision: Decision
    identity: Identity
    def __init__(self, decision: _Optional[_Union[Decision, _Mapping]] = ..., identity: _Optional[_Union[Identity, _Mapping]] = ...) -> None: ...

class DetectOptions(_message.Message):
    __slots__ = ("kinds", "min_score", "ocr", "annotate", "ocr_languages", "ocr_budget_ms", "nearby")
    KINDS_FIELD_NUMBER: _ClassVar[int]
    MIN_SCORE_FIELD_NUMBER: _ClassVar[int]
    OCR_FIELD_NUMBER: _ClassVar[int]
    ANNOTATE_FIELD_NUMBER: _ClassVar[int]
    OCR_LANGUAGES_FIELD_NUMBER: _ClassVar[int]
    OCR_BUDGET_MS_FIELD_NUMBER: _ClassVar[int]
    NEARBY_FIELD_NUMBER: _ClassVar[int]
    kinds: _containers.RepeatedScalarFieldContainer[MarkKind]
    min_score: float
    ocr: bool
    annotate: bool
    ocr_languages: _containers.RepeatedScalarFieldContainer[str]
    ocr_budget_ms: int
    nearby: NearbyTextOptions
    def __init__(self, kinds: _Optional[_Iterable[_Union[MarkKind, str]]] = ..., min_score: _Optional[float] = ..., ocr: _Optional[bool] = ..., annotate: _Optional[bool] = ..., ocr_languages: _Optional[_Iterable[str]] = ..., ocr_budget_ms: _Optional[int] = ..., nearby: _Optional[_Union[NearbyTextOptions, _Mapping]] = ...) -> None: ...

class NearbyTextOptions(_message.Message):
    __slots__ = ("below", "above", "left", "right", "spread", "skip_inside")
    BELOW_FIELD_NUMBER: _ClassVar[int]
    ABOVE_FIELD_NUMBER: _ClassVar[int]
    LEFT_FIELD_NUMBER: _ClassVar[int]
    RIGHT_FIELD_NUMBER: _ClassVar[int]
    SPREAD_FIELD_NUMBER: _ClassVar[int]
    SKIP_INSIDE_FIELD_NUMBER: _ClassVar[int]
    below: float
    above: float
    left: float
    right: float
    spread: float
    skip_inside: bool
    def __init__(self, below: _Optional[float] = ..., above: _Optional[float] = ..., left: _Optional[float] = ..., right: _Optional[float] = ..., spread: _Optional[float] = ..., skip_inside: _Optional[bool] = ...) -> None: ...

class PageInfo(_message.Message):
    __slots__ = ("page_number", "width", "height", "dpi")
    PAGE_NUMBER_FIELD_NUMBER: _ClassVar[int]
    WIDTH_FIELD_NUMBER: _ClassVar[int]
    HEIGHT_FIELD_NUMBER: _ClassVar[int]
    DPI_FIELD_NUMBER: _ClassVar[int]
    page_number: int
    width: int
    height: int
    dpi: int
    def __init__(self, page_number: _Optional[int] = ..., width: _Optional[int] = ..., height: _Optional[int] = ..., dpi: _Optional[int] = ...) -> None: ...

class TextSpan(_message.Message):
    __slots__ = ("text", "box", "confidence", "position", "source")
    TEXT_FIELD_NUMBER: _ClassVar[int]
    BOX_FIELD_NUMBER: _ClassVar[int]
    CONFIDENCE_FIELD_NUMBER: _ClassVar[int]
    POSITION_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    text: str
    box: BoundingBox
    confidence: float
    position: str
    source: str
    def __init__(self, text: _Optional[str] = ..., box: _Optional[_Union[BoundingBox, _Mapping]] = ..., confidence: _Optional[float] = ..., position: _Optional[str] = ..., source: _Optional[str] = ...) -> None: ...

class DetectedMark(_message.Message):
    __slots__ = ("mark_index", "page_number", "kind", "box", "detection_score", "nearby_text", "text_status")
    MARK_INDEX_FIELD_NUMBER: _ClassVar[int]
    PAGE_NUMBER_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    BOX_FIELD_NUMBER: _ClassVar[int]
    DETECTION_SCORE_FIELD_NUMBER: _ClassVar[int]
    NEARBY_TEXT_FIELD_NUMBER: _ClassVar[int]
    TEXT_STATUS_FIELD_NUMBER: _ClassVar[int]
    mark_index: int
    page_number: int
    kind: MarkKind
    box: BoundingBox
    detection_score: float
    nearby_text: _containers.RepeatedCompositeFieldContainer[TextSpan]
    text_status: TextStatus
    def __init__(self, mark_index: _Optional[int] = ..., page_number: _Optional[int] = ..., kind: _Optional[_Union[MarkKind, str]] = ..., box: _Optional[_Union[BoundingBox, _Mapping]] = ..., detection_score: _Optional[float] = ..., nearby_text: _Optional[_Iterable[_Union[TextSpan, _Mapping]]] = ..., text_status: _Optional[_Union[TextStatus, str]] = ...) -> None: ...

class DetectMarksRequest(_message.Message):
    __slots__ = ("document", "options")
    DOCUMENT_FIELD_NUMBER: _ClassVar[int]
    OPTIONS_FIELD_NUMBER: _ClassVar[int]
    document: DocumentData
    options: DetectOptions
    def __init__(self, document: _Optional[_Union[DocumentData, _Mapping]] = ..., options: _Optional[_Union[DetectOptions, _Mapping]] = ...) -> None: ...

class DetectMarksResponse(_message.Message):
    __slots__ = ("pages", "marks", "detector_version", "annotated_pages")
    PAGES_FIELD_NUMBER: _ClassVar[int]
    MARKS_FIELD_NUMBER: _ClassVar[int]
    DETECTOR_VERSION_FIELD_NUMBER: _ClassVar[int]
    ANNOTATED_PAGES_FIELD_NUMBER: _ClassVar[int]
    pages: _containers.RepeatedCompositeFieldContainer[PageInfo]
    marks: _containers.RepeatedCompositeFieldContainer[DetectedMark]
    detector_version: str
    annotated_pages: _containers.RepeatedScalarFieldContainer[bytes]
    def __init__(self, pages: _Optional[_Iterable[_Union[PageInfo, _Mapping]]] = ..., marks: _Optional[_Iterable[_Union[DetectedMark, _Mapping]]] = ..., detector_version: _Optional[str] = ..., annotated_pages: _Optional[_Iterable[bytes]] = ...) -> None: ...

class Claim(_message.Message):
    __slots__ = ("identity_id", "kind", "page_number", "region", "expected_text")
    IDENTITY_ID_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    PAGE_NUMBER_FIELD_NUMBER: _ClassVar[int]
    REGION_FIELD_NUMBER: _ClassVar[int]
    EXPECTED_TEXT_FIELD_NUMBER: _ClassVar[int]
    identity_id: str
    kind: MarkKind
    page_number: int
    region: BoundingBox
    expected_text: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, identity_id: _Optional[str] = ..., kind: _Optional[_Union[MarkKind, str]] = ..., page_number: _Optional[int] = ..., region: _Optional[_Union[BoundingBox, _Mapping]] = ..., expected_text: _Optional[_Iterable[str]] = ...) -> None: ...

class TextMatch(_message.Message):
    __slots__ = ("expected", "found", "score", "threshold", "matched", "position")
    EXPECTED_FIELD_NUMBER: _ClassVar[int]
    FOUND_FIELD_NUMBER: _ClassVar[int]
    SCORE_FIELD_NUMBER: _ClassVar[int]
    THRESHOLD_FIELD_NUMBER: _ClassVar[int]
    MATCHED_FIELD_NUMBER: _ClassVar[int]
    POSITION_FIELD_NUMBER: _ClassVar[int]
    expected: str
    found: str
    score: float
    threshold: float
    matched: bool
    position: str
    def __init__(self, expected: _Optional[str] = ..., found: _Optional[str] = ..., score: _Optional[float] = ..., threshold: _Optional[float] = ..., matched: _Optional[bool] = ..., position: _Optional[str] = ...) -> None: ...

class MarkVerification(_message.Message):
    __slots__ = ("mark", "identity_id", "decision", "text_match")
    MARK_FIELD_NUMBER: _ClassVar[int]
    IDENTITY_ID_FIELD_NUMBER: _ClassVar[int]
    DECISION_FIELD_NUMBER: _ClassVar[int]
    TEXT_MATCH_FIELD_NUMBER: _ClassVar[int]
    mark: DetectedMark
    identity_id: str
    decision: Decision
    text_match: TextMatch
    def __init__(self, mark: _Optional[_Union[DetectedMark, _Mapping]] = ..., identity_id: _Optional[str] = ..., decision: _Optional[_Union[Decision, _Mapping]] = ..., text_match: _Optional[_Union[TextMatch, _Mapping]] = ...) -> None: ...

class ClaimResult(_message.Message):
    __slots__ = ("claim", "verdict", "mark_index", "explanation", "outcome", "chosen_by_text")
    CLAIM_FIELD_NUMBER: _ClassVar[int]
    VERDICT_FIELD_NUMBER: _ClassVar[int]
    MARK_INDEX_FIELD_NUMBER: _ClassVar[int]
    EXPLANATION_FIELD_NUMBER: _ClassVar[int]
    OUTCOME_FIELD_NUMBER: _ClassVar[int]
    CHOSEN_BY_TEXT_FIELD_NUMBER: _ClassVar[int]
    claim: Claim
    verdict: Verdict
    mark_index: int
    explanation: str
    outcome: ClaimOutcome
    chosen_by_text: bool
    def __init__(self, claim: _Optional[_Union[Claim, _Mapping]] = ..., verdict: _Optional[_Union[Verdict, str]] = ..., mark_index: _Optional[int] = ..., explanation: _Optional[str] = ..., outcome: _Optional[_Union[ClaimOutcome, str]] = ..., chosen_by_text: _Optional[bool] = ...) -> None: ...

class VerifyDocumentRequest(_message.Message):
    __slots__ = ("document", "claims", "options")
    DOCUMENT_FIELD_NUMBER: _ClassVar[int]
    CLAIMS_FIELD_NUMBER: _ClassVar[int]
    OPTIONS_FIELD_NUMBER: _ClassVar[int]
    document: DocumentData
    claims: _containers.RepeatedCompositeFieldContainer[Claim]
    options: DetectOptions
    def __init__(self, document: _Optional[_Union[DocumentData, _Mapping]] = ..., claims: _Optional[_Iterable[_Union[Claim, _Mapping]]] = ..., options: _Optional[_Union[DetectOptions, _Mapping]] = ...) -> None: ...

class VerifyDocumentResponse(_message.Message):
    __slots__ = ("pages", "verifications", "claim_results", "detector_version", "all_claims_satisfied", "annotated_pages")
    PAGES_FIELD_NUMBER: _ClassVar[int]
    VERIFICATIONS_FIELD_NUMBER: _ClassVar[int]
    CLAIM_RESULTS_FIELD_NUMBER: _ClassVar[int]
    DETECTOR_VERSION_FIELD_NUMBER: _ClassVar[int]
    ALL_CLAIMS_SATISFIED_FIELD_NUMBER: _ClassVar[int]
    ANNOTATED_PAGES_FIELD_NUMBER: _ClassVar[int]
    pages: _containers.RepeatedCompositeFieldContainer[PageInfo]
    verifications: _containers.RepeatedCompositeFieldContainer[MarkVerification]
    claim_results: _containers.RepeatedCompositeFieldContainer[ClaimResult]
    detector_version: str
    all_claims_satisfied: bool
    annotated_pages: _containers.RepeatedScalarFieldContainer[bytes]
    def __init__(self, pages: _Optional[_Iterable[_Union[PageInfo, _Mapping]]] = ..., verifications: _Optional[_Iterable[_Union[MarkVerification, _Mapping]]] = ..., claim_results: _Optional[_Iterable[_Union[ClaimResult, _Mapping]]] = ..., detector_version: _Optional[str] = ..., all_claims_satisfied: _Optional[bool] = ..., annotated_pages: _Optional[_Iterable[bytes]] = ...) -> None: ...

class IdentifyMarkRequest(_message.Message):
    __slots__ = ("kind", "image", "top_k")
    KIND_FIELD_NUMBER: _ClassVar[int]
    IMAGE_FIELD_NUMBER: _ClassVar[int]
    TOP_K_FIELD_NUMBER: _ClassVar[int]
    kind: MarkKind
    image: ImageData
    top_k: int
    def __init__(self, kind: _Optional[_Union[MarkKind, str]] = ..., image: _Optional[_Union[ImageData, _Mapping]] = ..., top_k: _Optional[int] = ...) -> None: ...

class Candidate(_message.Message):
    __slots__ = ("identity", "decision")
    IDENTITY_FIELD_NUMBER: _ClassVar[int]
    DECISION_FIELD_NUMBER: _ClassVar[int]
    identity: Identity
    decision: Decision
    def __init__(self, identity: _Optional[_Union[Identity, _Mapping]] = ..., decision: _Optional[_Union[Decision, _Mapping]] = ...) -> None: ...

class IdentifyMarkResponse(_message.Message):
    __slots__ = ("candidates",)
    CANDIDATES_FIELD_NUMBER: _ClassVar[int]
    candidates: _containers.RepeatedCompositeFieldContainer[Candidate]
    def __init__(self, candidates: _Optional[_Iterable[_Union[Candidate, _Mapping]]] = ...) -> None: ...

class GetServerInfoRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class InputSpec(_message.Message):
    __slots__ = ("height", "width", "channels", "normalization")
    HEIGHT_FIELD_NUMBER: _ClassVar[int]
    WIDTH_FIELD_NUMBER: _ClassVar[int]
    CHANNELS_FIELD_NUMBER: _ClassVar[int]
    NORMALIZATION_FIELD_NUMBER: _ClassVar[int]
    height: int
    width: int
    channels: int
    normalization: str
    def __init__(self, height: _Optional[int] = ..., width: _Optional[int] = ..., channels: _Optional[int] = ..., normalization: _Optional[str] = ...) -> None: ...

class ModelInfo(_message.Message):
    __slots__ = ("name", "kind", "version", "input_spec", "embedding_dim", "score_kind", "threshold", "review_band", "score_normalization", "thresholds_by_references", "query_views", "decision_model_version", "pair_model_version")
    NAME_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    INPUT_SPEC_FIELD_NUMBER: _ClassVar[int]
    EMBEDDING_DIM_FIELD_NUMBER: _ClassVar[int]
    SCORE_KIND_FIELD_NUMBER: _ClassVar[int]
    THRESHOLD_FIELD_NUMBER: _ClassVar[int]
    REVIEW_BAND_FIELD_NUMBER: _ClassVar[int]
    SCORE_NORMALIZATION_FIELD_NUMBER: _ClassVar[int]
    THRESHOLDS_BY_REFERENCES_FIELD_NUMBER: _ClassVar[int]
    QUERY_VIEWS_FIELD_NUMBER: _ClassVar[int]
    DECISION_MODEL_VERSION_FIELD_NUMBER: _ClassVar[int]
    PAIR_MODEL_VERSION_FIELD_NUMBER: _ClassVar[int]
    name: str
    kind: MarkKind
    version: str
    input_spec: InputSpec
    embedding_dim: int
    score_kind: ScoreKind
    threshold: float
    review_band: float
    score_normalization: str
    thresholds_by_references: _containers.RepeatedCompositeFieldContainer[ReferenceThreshold]
    query_views: int
    decision_model_version: str
    pair_model_version: str
    def __init__(self, name: _Optional[str] = ..., kind: _Optional[_Union[MarkKind, str]] = ..., version: _Optional[str] = ..., input_spec: _Optional[_Union[InputSpec, _Mapping]] = ..., embedding_dim: _Optional[int] = ..., score_kind: _Optional[_Union[ScoreKind, str]] = ..., threshold: _Optional[float] = ..., review_band: _Optional[float] = ..., score_normalization: _Optional[str] = ..., thresholds_by_references: _Optional[_Iterable[_Union[ReferenceThreshold, _Mapping]]] = ..., query_views: _Optional[int] = ..., decision_model_version: _Optional[str] = ..., pair_model_version: _Optional[str] = ...) -> None: ...

class ReferenceThreshold(_message.Message):
    __slots__ = ("references", "threshold")
    REFERENCES_FIELD_NUMBER: _ClassVar[int]
    THRESHOLD_FIELD_NUMBER: _ClassVar[int]
    references: int
    threshold: float
    def __init__(self, references: _Optional[int] = ..., threshold: _Optional[float] = ...) -> None: ...

class Limits(_message.Message):
    __slots__ = ("max_document_bytes", "max_page_pixels", "max_pages", "default_pdf_dpi", "max_specimens_per_request", "default_ocr_budget_ms", "max_ocr_budget_ms", "max_message_bytes")
    MAX_DOCUMENT_BYTES_FIELD_NUMBER: _ClassVar[int]
    MAX_PAGE_PIXELS_FIELD_NUMBER: _ClassVar[int]
    MAX_PAGES_FIELD_NUMBER: _ClassVar[int]
    DEFAULT_PDF_DPI_FIELD_NUMBER: _ClassVar[int]
    MAX_SPECIMENS_PER_REQUEST_FIELD_NUMBER: _ClassVar[int]
    DEFAULT_OCR_BUDGET_MS_FIELD_NUMBER: _ClassVar[int]
    MAX_OCR_BUDGET_MS_FIELD_NUMBER: _ClassVar[int]
    MAX_MESSAGE_BYTES_FIELD_NUMBER: _ClassVar[int]
    max_document_bytes: int
    max_page_pixels: int
    max_pages: int
    default_pdf_dpi: int
    max_specimens_per_request: int
    default_ocr_budget_ms: int
    max_ocr_budget_ms: int
    max_message_bytes: int
    def __init__(self, max_document_bytes: _Optional[int] = ..., max_page_pixels: _Optional[int] = ..., max_pages: _Optional[int] = ..., default_pdf_dpi: _Optional[int] = ..., max_specimens_per_request: _Optional[int] = ..., default_ocr_budget_ms: _Optional[int] = ..., max_ocr_budget_ms: _Optional[int] = ..., max_message_bytes: _Optional[int] = ...) -> None: ...

class GetServerInfoResponse(_message.Message):
    __slots__ = ("server_version", "api_version", "models", "limits", "store_backend", "ocr_available", "unimplemented_methods", "detector", "ocr_languages")
    SERVER_VERSION_FIELD_NUMBER: _ClassVar[int]
    API_VERSION_FIELD_NUMBER: _ClassVar[int]
    MODELS_FIELD_NUMBER: _ClassVar[int]
    LIMITS_FIELD_NUMBER: _ClassVar[int]
    STORE_BACKEND_FIELD_NUMBER: _ClassVar[int]
    OCR_AVAILABLE_FIELD_NUMBER: _ClassVar[int]
    UNIMPLEMENTED_METHODS_FIELD_NUMBER: _ClassVar[int]
    DETECTOR_FIELD_NUMBER: _ClassVar[int]
    OCR_LANGUAGES_FIELD_NUMBER: _ClassVar[int]
    server_version: str
    api_version: str
    models: _containers.RepeatedCompositeFieldContainer[ModelInfo]
    limits: Limits
    store_backend: str
    ocr_available: bool
    unimplemented_methods: _containers.RepeatedScalarFieldContainer[str]
    detector: DetectorInfo
    ocr_languages: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, server_version: _Optional[str] = ..., api_version: _Optional[str] = ..., models: _Optional[_Iterable[_Union[ModelInfo, _Mapping]]] = ..., limits: _Optional[_Union[Limits, _Mapping]] = ..., store_backend: _Optional[str] = ..., ocr_available: _Optional[bool] = ..., unimplemented_methods: _Optional[_Iterable[str]] = ..., detector: _Optional[_Union[DetectorInfo, _Mapping]] = ..., ocr_languages: _Optional[_Iterable[str]] = ...) -> None: ...

class DetectorInfo(_message.Message):
    __slots__ = ("name", "version", "input_long_side", "score_thresholds", "stamp_one_ink_weight")
    NAME_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    INPUT_LONG_SIDE_FIELD_NUMBER: _ClassVar[int]
    SCORE_THRESHOLDS_FIELD_NUMBER: _ClassVar[int]
    STAMP_ONE_INK_WEIGHT_FIELD_NUMBER: _ClassVar[int]
    name: str
    version: str
    input_long_side: int
    score_thresholds: _containers.RepeatedCompositeFieldContainer[KindThreshold]
    stamp_one_ink_weight: float
    def __init__(self, name: _Optional[str] = ..., version: _Optional[str] = ..., input_long_side: _Optional[int] = ..., score_thresholds: _Optional[_Iterable[_Union[KindThreshold, _Mapping]]] = ..., stamp_one_ink_weight: _Optional[float] = ...) -> None: ...

class KindThreshold(_message.Message):
    __slots__ = ("kind", "threshold")
    KIND_FIELD_NUMBER: _ClassVar[int]
    THRESHOLD_FIELD_NUMBER: _ClassVar[int]
    kind: MarkKind
    threshold: float
    def __init__(self, kind: _Optional[_Union[MarkKind, str]] = ..., threshold: _Optional[float] = ...) -> None: ...
