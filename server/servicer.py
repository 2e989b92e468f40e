"""The StampAuthService servicer: protos in, core call, protos out.

Every method runs inside :meth:`StampAuthServicer.call` (applied by ``handle_errors``): the caller is
authenticated and authorised, the call waits for a slot of the admission gate, and the core sees only the
caller's tenant and stops when the caller cancels or the deadline passes.
"""

from __future__ import annotations

from contextlib import contextmanager, nullcontext
from contextvars import ContextVar

from stampauth.cancellation import watching
from stampauth.errors import Cancelled, DeadlineExceeded, Unavailable
from stampauth.service import StampAuth
from stampauth.server import convert
from stampauth.server.admission import AdmissionGate
from stampauth.server.auth import ANONYMOUS, Authenticator, Principal
from stampauth.server.errors import handle_errors
from stampauth.v1 import stampauth_pb2 as pb
from stampauth.v1 import stampauth_pb2_grpc as pb_grpc

UNGATED = frozenset({"GetServerInfo"})  # answers from memory: never queued behind heavy calls
_principal: ContextVar[Principal] = ContextVar("stampauth_principal", default=ANONYMOUS)


def _stop_reason(context):
    """None while the call should go on; otherwise the error that stops its work."""
    if context.is_active():
        return None
    remaining = context.time_remaining()
    if remaining is not None and remaining <= 0:
        return DeadlineExceeded("the call's deadline passed; its work was stopped")
    return Cancelled("the call was cancelled; its work was stopped")


class StampAuthServicer(pb_grpc.StampAuthServiceServicer):
    """``core`` may be attached after the server starts (models load while health says NOT_SERVING).

    ``authenticator`` None: authentication disabled (every call is the default tenant). ``gate`` None: no limit
    beyond the server's thread pool.
    """

    def __init__(self, core: StampAuth | None = None, authenticator: Authenticator | None = None,
                 gate: AdmissionGate | None = None):
        self._core = core
        self.authenticator = authenticator or Authenticator(None)
        self.gate = gate

    def attach(self, core: StampAuth) -> None:
        self._core = core

    @contextmanager
    def call(self, method: str, context):
        """Authenticate, wait for a slot, and watch for cancellation around one call of ``method``."""
        principal = self.authenticator.authenticate(context.invocation_metadata(), method)
        token = _principal.set(principal)
        try:
            gate = nullcontext() if self.gate is None or method in UNGATED else self.gate.slot(context.time_remaining())
            with gate, watching(lambda: _stop_reason(context)):
                yield principal
        finally:
            _principal.reset(token)

    @property
    def core(self) -> StampAuth:
        """The core as the current caller's tenant sees it."""
        if self._core is None:
            raise Unavailable("the server is still loading its models; retry in a few seconds")
        return self._core.for_tenant(_principal.get().tenant)

    @handle_errors
    def CompareImages(self, request, context):
        decision = self.core.compare_images(
            convert.kind_from_proto(request.kind),
            convert.image_bytes(request.reference, "reference"),
            convert.image_bytes(request.query, "query"),
        )
        return pb.CompareImagesResponse(decision=convert.decision_to_proto(decision))

    @handle_errors
    def CreateIdentity(self, request, context):
        identity, specimens = self.core.create_identity(
            request.identity.identity_id,
            request.identity.display_name,
            dict(request.identity.metadata),
            convert.specimens_from_proto(request.specimens),
        )
        return pb.CreateIdentityResponse(
            identity=convert.identity_to_proto(identity),
            specimens=[convert.specimen_to_proto(s) for s in specimens],
        )

    @handle_errors
    def GetIdentity(self, request, context):
        return pb.GetIdentityResponse(identity=convert.identity_to_proto(self.core.get_identity(request.identity_id)))

    @handle_errors
    def ListIdentities(self, request, context):
        page = self.core.list_identities(request.page_size, request.page_token)
        return pb.ListIdentitiesResponse(
            identities=[convert.identity_to_proto(i) for i in page.items], next_page_token=page.next_page_token
        )

    @handle_errors
    def DeleteIdentity(self, request, context):
        return pb.DeleteIdentityResponse(deleted_specimen_count=self.core.delete_identity(request.identity_id))

    @handle_errors
    def EnrollSpecimens(self, request, context):
        identity, specimens = self.core.enroll_specimens(
            request.identity_id, convert.specimens_from_proto(request.specimens)
        )
        return pb.EnrollSpecimensResponse(
            identity=convert.identity_to_proto(identity),
            specimens=[convert.specimen_to_proto(s) for s in specimens],
        )

    @handle_errors
    def GetSpecimen(self, request, context):
        return pb.GetSpecimenResponse(specimen=convert.specimen_to_proto(self.core.get_specimen(request.specimen_id)))

    @handle_errors
    def ListSpecimens(self, request, context):
        page = self.core.list_specimens(
            request.identity_id,
            convert.kind_from_proto(request.kind, required=False),
            request.page_size,
            request.page_token,
        )
        return pb.ListSpecimensResponse(
            specimens=[convert.specimen_to_proto(s) for s in page.items], next_page_token=page.next_page_token
        )

    @handle_errors
    def DeleteSpecimen(self, request, context):
        return pb.DeleteSpecimenResponse(identity=convert.identity_to_proto(self.core.delete_specimen(request.specimen_id)))

    @handle_errors
    def VerifyImage(self, request, context):
        decision, identity = self.core.verify_image(
            request.identity_id, convert.kind_from_proto(request.kind), convert.image_bytes(request.image, "image")
        )
        return pb.VerifyImageResponse(
            decision=convert.decision_to_proto(decision), identity=convert.identity_to_proto(identity)
        )

    @handle_errors
    def DetectMarks(self, request, context):
        content, pdf_dpi = convert.document_bytes(request.document)
        result = self.core.detect_marks(content, pdf_dpi, **convert.options_from_proto(request.options))
        return convert.detection_to_proto(result)

    @handle_errors
    def VerifyDocument(self, request, context):
        content, pdf_dpi = convert.document_bytes(request.document)
        claims = convert.claims_from_proto(request.claims)
        result = self.core.verify_document(content, claims, pdf_dpi, **convert.options_from_proto(request.options))
        return convert.verification_to_proto(result)

    @handle_errors
    def DetectMarksUpload(self, request_iterator, context):
        core = self.core
        header, content = convert.assemble_upload(request_iterator, core.limits.input.max_bytes)
        result = core.detect_marks(content, int(header.document.pdf_dpi),
                                   **convert.options_from_proto(header.options, "header.options"))
        return pb.DetectMarksUploadResponse(result=convert.detection_to_proto(result))

    @handle_errors
    def VerifyDocumentUpload(self, request_iterator, context):
        core = self.core
        header, content = convert.assemble_upload(request_iterator, core.limits.input.max_bytes)
        claims = convert.claims_from_proto(header.claims)
        result = core.verify_document(content, claims, int(header.document.pdf_dpi),
                                      **convert.options_from_proto(header.options, "header.options"))
        return pb.VerifyDocumentUploadResponse(result=convert.verification_to_proto(result))

    @handle_errors
    def IdentifyMark(self, request, context):
        candidates = self.core.identify_mark(convert.kind_from_proto(request.kind),
                                             convert.image_bytes(request.image, "image"), int(request.top_k))
        return pb.IdentifyMarkResponse(candidates=[
            pb.Candidate(identity=convert.identity_to_proto(identity), decision=convert.decision_to_proto(decision))
            for identity, decision in candidates])

    @handle_errors
    def GetServerInfo(self, request, context):
        return convert.server_info_to_proto(self.core.server_info())
