"""Documents sent in chunks (DetectMarksUpload, VerifyDocumentUpload): same results as the unary methods, beyond the
message size limit, and every way an upload can go wrong answered with INVALID_ARGUMENT or RESOURCE_EXHAUSTED."""

import hashlib

import cv2
import grpc
import numpy as np
import pytest
from helpers import encode

from stampauth.detection.detector import load_detector
from stampauth.io import InputLimits
from stampauth.modeling.card import load_encoder
from stampauth.server.app import build_server
from stampauth.service import ServiceLimits, StampAuth
from stampauth.store import open_store
from stampauth.synth.documents import generate_page
from stampauth.v1 import stampauth_pb2 as pb
from stampauth.v1 import stampauth_pb2_grpc as pb_grpc

MESSAGE_LIMIT = 512 * 1024  # small, so a generated page is "too big" for one message


@pytest.fixture(scope="module")
def stub(tmp_path_factory):
    limits = ServiceLimits(input=InputLimits(max_bytes=8 * 1024 * 1024), max_message_bytes=MESSAGE_LIMIT)
    core = StampAuth(open_store(f"sqlite:///{tmp_path_factory.mktemp('upload') / 'refs.db'}"),
                     {"signature": load_encoder("signature")}, limits, detector=load_detector())
    running = build_server(core, port=0, host="127.0.0.1", max_message_bytes=MESSAGE_LIMIT)
    channel = grpc.insecure_channel(f"127.0.0.1:{running.port}")
    yield pb_grpc.StampAuthServiceStub(channel)
    channel.close()
    running.stop(grace=1)


@pytest.fixture(scope="module")
def page():
    return generate_page(np.random.default_rng(3), long_side=1600).image


@pytest.fixture(scope="module")
def document(page):
    noisy = np.clip(page.astype(np.int16) + np.random.default_rng(0).integers(-6, 7, page.shape), 0, 255)
    data = encode(noisy.astype(np.uint8), ".png")  # noise keeps the PNG large
    assert len(data) > MESSAGE_LIMIT
    return data


def chunks(data: bytes, header, request_type, size: int = 256 * 1024):
    yield request_type(header=header)
    for start in range(0, len(data), size):
        yield request_type(chunk=data[start:start + size])


def detect_header(data: bytes, **document):
    fields = {"total_size": len(data), "sha256": hashlib.sha256(data).hexdigest(), **document}
    return pb.DetectMarksUploadHeader(document=pb.UploadedDocument(**fields))


def test_a_document_over_the_message_limit_goes_through_the_upload_method(stub, document):
    with pytest.raises(grpc.RpcError) as caught:
        stub.DetectMarks(pb.DetectMarksRequest(document=pb.DocumentData(content=document)), timeout=60)
    assert caught.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED  # grpc's own message limit
    uploaded = stub.DetectMarksUpload(chunks(document, detect_header(document), pb.DetectMarksUploadRequest),
                                      timeout=60).result
    assert uploaded.pages[0].width == 1600 or uploaded.pages[0].height == 1600


def test_an_uploaded_document_gets_exactly_the_unary_result(stub, page):
    small = cv2.imencode(".jpg", page, [cv2.IMWRITE_JPEG_QUALITY, 80])[1].tobytes()
    assert len(small) < MESSAGE_LIMIT
    unary = stub.DetectMarks(pb.DetectMarksRequest(document=pb.DocumentData(content=small)), timeout=60)
    uploaded = stub.DetectMarksUpload(chunks(small, detect_header(small), pb.DetectMarksUploadRequest, size=10_000),
                                      timeout=60).result
    assert uploaded == unary
    info = stub.GetServerInfo(pb.GetServerInfoRequest(), timeout=10)
    assert info.limits.max_message_bytes == MESSAGE_LIMIT and info.limits.max_document_bytes == 8 * 1024 * 1024


def test_verify_document_upload_carries_the_claims_in_its_header(stub, document):
    stub.CreateIdentity(pb.CreateIdentityRequest(identity=pb.Identity(identity_id="uploader")), timeout=30)
    header = pb.VerifyDocumentUploadHeader(
        document=pb.UploadedDocument(total_size=len(document), sha256=hashlib.sha256(document).hexdigest()),
        claims=[pb.Claim(identity_id="uploader", kind=pb.MARK_KIND_SIGNATURE)])
    result = stub.VerifyDocumentUpload(chunks(document, header, pb.VerifyDocumentUploadRequest), timeout=60).result
    assert len(result.claim_results) == 1 and result.claim_results[0].outcome in (
        pb.CLAIM_OUTCOME_NO_REFERENCE, pb.CLAIM_OUTCOME_MISSING_MARK)


def test_broken_uploads_are_refused_with_what_to_do(stub, document):
    Request = pb.DetectMarksUploadRequest
    good = detect_header(document)
    wrong_sum = detect_header(document, sha256="0" * 64)
    too_big = pb.DetectMarksUploadHeader(document=pb.UploadedDocument(total_size=10**9, sha256="0" * 64))
    cases = [
        ("no header", [Request(chunk=document[:100])], grpc.StatusCode.INVALID_ARGUMENT, "header first"),
        ("nothing at all", [], grpc.StatusCode.INVALID_ARGUMENT, "header first"),
        ("fewer bytes", list(chunks(document[:-10], good, Request)), grpc.StatusCode.INVALID_ARGUMENT, "ended after"),
        ("more bytes", list(chunks(document + b"x", good, Request)), grpc.StatusCode.INVALID_ARGUMENT, "more bytes"),
        ("checksum", list(chunks(document, wrong_sum, Request)), grpc.StatusCode.INVALID_ARGUMENT, "SHA-256"),
        ("second header", [Request(header=good), Request(header=good)], grpc.StatusCode.INVALID_ARGUMENT, "second header"),
        ("too big", [Request(header=too_big)], grpc.StatusCode.RESOURCE_EXHAUSTED, "over the limit"),
        ("bad checksum text", [Request(header=detect_header(document, sha256="xyz"))], grpc.StatusCode.INVALID_ARGUMENT,
         "64 hexadecimal"),
    ]
    for name, messages, code, words in cases:
        with pytest.raises(grpc.RpcError) as caught:
            stub.DetectMarksUpload(iter(messages), timeout=60)
        assert caught.value.code() == code and words in caught.value.details(), (name, caught.value.details())
    assert stub.DetectMarksUpload(chunks(document, good, Request), timeout=60).result.pages  # still serving
