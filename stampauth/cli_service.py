"""The command-line commands that use the service: in this process (the default) or on a server (``--server``).

``enroll``, ``identities``, ``compare``, ``verify``, ``detect``, ``identify``, ``info`` and ``batch`` call a
:class:`~stampauth.client.LocalClient` or a :class:`~stampauth.client.Client`: the same methods, the same
results, so the output is the same either way.

Exit codes: 0 done; 1 some files could not be processed (each is named on stderr); 2 a bad request or usage
(the message says what to fix); 3 verified, but not every claim is satisfied; 4 the server is unavailable;
5 the server refused the credentials; 130 interrupted (``batch`` resumes where it stopped).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from stampauth import errors
from stampauth.errors import InvalidInput, StampAuthError

EXIT_FILES_FAILED = 1
EXIT_BAD_REQUEST = 2
EXIT_NOT_SATISFIED = 3
EXIT_UNAVAILABLE = 4
EXIT_REFUSED = 5
EXIT_INTERRUPTED = 130


def exit_code_of(error: StampAuthError) -> int:
    if isinstance(error, (errors.Unavailable, errors.DeadlineExceeded)):
        return EXIT_UNAVAILABLE
    if isinstance(error, (errors.Unauthenticated, errors.PermissionDenied)):
        return EXIT_REFUSED
    return EXIT_BAD_REQUEST


# -- where the service is ----------------------------------------------------------------------------


def add_service_arguments(parser: argparse.ArgumentParser) -> None:
    """--server and its credentials; --store/--models-dir for the in-process service."""
    remote = parser.add_argument_group("server (default: run the service in this process)")
    remote.add_argument("--server", default=os.environ.get("STAMPAUTH_SERVER"), metavar="HOST:PORT",
                        help="call this stampauth server (default: $STAMPAUTH_SERVER; unset = in-process)")
    remote.add_argument("--token-file", default=None, help="file holding the bearer token "
                        "(default: $STAMPAUTH_TOKEN; never pass a token on the command line)")
    remote.add_argument("--tls", action="store_true", help="connect with TLS (system CA roots unless --tls-ca)")
    remote.add_argument("--tls-ca", default=None, help="PEM CA bundle that signed the server's certificate")
    remote.add_argument("--tls-cert", default=None, help="client certificate (PEM) for mutual TLS")
    remote.add_argument("--tls-key", default=None, help="client private key (PEM) for mutual TLS")
    remote.add_argument("--timeout", type=float, default=120.0, help="seconds per call, retries included")
    local = parser.add_argument_group("in-process service")
    local.add_argument("--store", default=None, help="reference store URL (as for 'stampauth serve'; default: "
                       "sqlite:///<data dir>/references.db, the data dir being $STAMPAUTH_DATA_DIR or ./data; "
                       "detect and compare need none)")
    local.add_argument("--models-dir", default=None, help="folder with the model files (default: the shipped models)")
    local.add_argument("--tesseract", default=None, help="path of the Tesseract binary (default: tesseract on PATH)")


def open_client(args, needs_store: bool = True):
    """A Client for ``--server``, else the service in this process (without a store when ``needs_store`` is
    False: detection needs no references)."""
    from stampauth.client import Client, LocalClient

    if args.server:
        token = None
        if args.token_file:
            try:
                token = Path(args.token_file).read_text().strip()
            except OSError as error:
                raise InvalidInput(f"cannot read --token-file {args.token_file}: {error.strerror}") from None
        return Client(args.server, token=token, tls=args.tls, ca_file=args.tls_ca, client_cert_file=args.tls_cert,
                      client_key_file=args.tls_key, timeout=args.timeout)
    if needs_store:
        return LocalClient.open(getattr(args, "store", None), args.models_dir, args.tesseract)
    from stampauth.detection.detector import load_detector
    from stampauth.service import StampAuth
    from stampauth.text.tesseract import Tesseract

    return LocalClient(StampAuth(store=None, encoders={}, detector=load_detector(args.models_dir),
                                 tesseract=Tesseract(args.tesseract)))


# -- JSON views of results (the same for both clients) ---------------------------------------------


def _finite(value: float, digits: int = 4):
    return None if value != value else round(float(value), digits)  # NaN (no reference) -> null


def _box(box) -> list[int]:
    return [round(box.x0), round(box.y0), round(box.x1), round(box.y1)]


def decision_json(d) -> dict:
    return {"verdict": d.verdict.value, "score": _finite(d.score), "score_kind": d.score_kind,
            "threshold": round(d.threshold, 4), "review_band": round(d.review_band, 4),
            "probability_genuine": _finite(d.probability_genuine), "references_used": d.references_used,
            "model_version": d.model_version} | (
        {} if d.outside_share is None else {"ink_outside_share": round(float(d.outside_share), 4)}) | (
        {} if d.registration_anisotropy is None else
        {"registration_anisotropy": round(float(d.registration_anisotropy), 4)}) | (
        {} if d.pair_logit is None else {"pair_logit": round(float(d.pair_logit), 4)})


def identity_json(record) -> dict:
    from datetime import datetime, timezone

    def when(seconds: float) -> str:
        return datetime.fromtimestamp(seconds, timezone.utc).isoformat(timespec="seconds")

    return {"identity_id": record.identity_id, "display_name": record.display_name, "metadata": record.metadata,
            "specimens": {kind: record.specimen_counts.get(kind, 0) for kind in ("signature", "stamp")}, "created": when(record.create_time),
            "updated": when(record.update_time)}


def specimen_json(s) -> dict:
    return {"specimen_id": s.specimen_id, "kind": s.kind, "width": s.width, "height": s.height,
            "sha256": s.content_sha256, "model_version": s.model_version, "note": s.note}


def mark_json(index: int, mark) -> dict:
    return {"mark_index": index, "page": mark.page_number, "kind": mark.kind, "score": round(mark.score, 4),
            "box": _box(mark.box)}


def text_json(text) -> dict:
    if text is None:
        return {}
    return {"text_status": text.status.value,
            "text": [{"text": s.text, "position": s.position, "confidence": round(s.confidence, 3), "source": s.source,
                      "box": _box(s.box)} for s in text.spans]}


def verification_json(v, text=None) -> dict:
    mark = mark_json(v.mark_index, v.mark)
    mark["detection_score"] = mark.pop("score")
    d = v.decision
    item = {**mark, "identity_id": v.identity_id, "verdict": d.verdict.value, "similarity": _finite(d.score),
            "threshold": round(d.threshold, 4), "probability_genuine": _finite(d.probability_genuine),
            "references_used": d.references_used, "model_version": d.model_version, **text_json(text)}
    if v.text_match is not None:
        t = v.text_match
        item["text_match"] = {"expected": t.expected, "found": t.found, "score": round(t.score, 3),
                              "matched": t.matched, "position": t.position}
    return item


def document_verification_json(result) -> dict:
    return {
        "all_claims_satisfied": result.all_claims_satisfied,
        "claims": [{"identity_id": r.claim.identity_id, "kind": r.claim.kind, "page": r.claim.page_number,
                    "outcome": r.outcome.value, "verdict": r.verdict.value, "mark_index": r.mark_index,
                    "chosen_by_text": r.chosen_by_text, "explanation": r.explanation}
                   for r in result.claim_results],
        "verifications": [verification_json(v, result.text_of(v.mark_index)) for v in result.verifications],
        "pages": [{"page": p.page_number, "width": p.width, "height": p.height} for p in result.pages],
        "detector_version": result.detector_version,
    }


def write_annotated(out_dir: str | None, name: str, images: list[bytes]) -> list[str]:
    """Annotated page PNGs as ``OUT/<name>.page<N>.png``; ``name`` may hold folders (kept, so names never clash)."""
    if not out_dir or not images:
        return []
    written = []
    for number, data in enumerate(images, start=1):
        path = Path(out_dir) / f"{name}.page{number}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        written.append(str(path))
    return written


def print_json(value) -> None:
    print(json.dumps(value, indent=2, ensure_ascii=False))


def progress_bar(what: str):
    """A one-line progress bar on stderr: ``progress(done, total, note='')``."""

    def update(done: int, total: int, note: str = "") -> None:
        filled = int(30 * done / max(total, 1))
        sys.stderr.write(f"\r{what} [{'#' * filled}{'.' * (30 - filled)}] {done}/{total} {note}")
        if done == total:
            sys.stderr.write("\n")
        sys.stderr.flush()

    return update


def _print_text(item: dict, indent: str = "      ") -> None:
    for span in item.get("text", []):
        print(f"{indent}{span['position']:>6}: {span['text']!r} ({span['source']}, {span['confidence']:.2f})")
    if item.get("text_status") == "BUDGET_EXCEEDED":
        print(f"{indent}(OCR time budget ran out: text missing or partial; raise --ocr-budget-ms)")


def _each_file(files: list[str], work) -> tuple[list[dict], int]:
    """``work(path) -> dict`` for every file, with a progress bar on a terminal; a file that fails is reported
    on stderr and counted, and the others still run (unless the server is unreachable: then it stops)."""
    progress = progress_bar("files") if len(files) > 1 and sys.stderr.isatty() else None
    results, failed = [], 0
    for done, path in enumerate(files, start=1):
        try:
            results.append({"file": path, **work(path)})
        except (errors.Unavailable, errors.Unauthenticated, errors.PermissionDenied):
            raise
        except StampAuthError as error:
            failed += 1
            results.append({"file": path, "error": error.message})
            print(f"stampauth: {path}: {error.message}", file=sys.stderr)
        if progress:
            progress(done, len(files))
    return results, failed


def _one_or_list(results: list[dict]):
    return results if len(results) > 1 else results[0]


def _ocr_kwargs(args) -> dict:
    return {"ocr": args.ocr, "ocr_languages": tuple(args.ocr_lang or ()), "ocr_budget_ms": args.ocr_budget_ms}


def add_ocr_arguments(parser) -> None:
    parser.add_argument("--ocr", action="store_true", help="read the text near and inside each mark "
                        "(the PDF's text layer, or Tesseract) and show it")
    parser.add_argument("--ocr-lang", action="append", default=None, metavar="LANG",
                        help="Tesseract language pack (repeatable; default eng)")
    parser.add_argument("--ocr-budget-ms", type=int, default=0, help="OCR time per page (0 = the default, 4000)")


def _document_arguments(parser) -> None:
    parser.add_argument("--kinds", nargs="+", choices=["signature", "stamp"], default=None,
                        help="only these kinds of mark (default both)")
    parser.add_argument("--min-score", type=float, default=0.0, help="detection confidence threshold "
                        "(0 = the model's default)")
    parser.add_argument("--pdf-dpi", type=int, default=0, help="PDF render resolution (0 = 200)")
    parser.add_argument("--annotate-dir", default=None, help="write an annotated PNG per page here")


# -- commands ----------------------------------------------------------------------------------------


def cmd_detect(args) -> int:
    with open_client(args, needs_store=False) as client:
        def work(path: str) -> dict:
            result = client.detect(path, kinds=args.kinds, min_score=args.min_score, pdf_dpi=args.pdf_dpi,
                                   annotate=bool(args.annotate_dir), **_ocr_kwargs(args))
            marks = [{**mark_json(i, m), **text_json(result.mark_texts[i] if result.mark_texts else None)}
                     for i, m in enumerate(result.marks)]
            return {"pages": [{"page": p.page_number, "width": p.width, "height": p.height} for p in result.pages],
                    "marks": marks, "detector_version": result.detector_version,
                    "annotated": write_annotated(args.annotate_dir, Path(path).stem, result.annotated_pages)}

        results, failed = _each_file(args.files, work)
    if args.json:
        print_json(_one_or_list(results))
        return EXIT_FILES_FAILED if failed else 0
    for item in (r for r in results if "error" not in r):
        print(f"{item['file']}: {len(item['pages'])} page(s), {len(item['marks'])} mark(s)")
        if item["marks"]:
            print(f"  {'#':>3} {'page':>4} {'kind':<10} {'score':>6}  box (x0, y0, x1, y1)")
        for m in item["marks"]:
            print(f"  {m['mark_index']:>3} {m['page']:>4} {m['kind']:<10} {m['score']:>6.3f}  {tuple(m['box'])}")
            _print_text(m)
        for path in item["annotated"]:
            print(f"  annotated: {path}")
    return EXIT_FILES_FAILED if failed else 0


def _print_verification(item: dict) -> None:
    status = "ALL CLAIMS SATISFIED" if item["all_claims_satisfied"] else (
        "NOT SATISFIED" if item["claims"] else "IDENTIFIED (no claims)")
    print(f"{item['file']}: {status}")
    for c in item["claims"]:
        print(f"  claim {c['identity_id']} ({c['kind'] or 'any kind'}): {c['outcome']} - {c['explanation']}")
    if item["verifications"]:
        print(f"  {'#':>3} {'page':>4} {'kind':<10} {'det':>5} {'identity':<16} {'similarity':>10} {'thresh':>7} verdict")
    for v in item["verifications"]:
        similarity = "-" if v["similarity"] is None else f"{v['similarity']:.3f}"
        match = v.get("text_match")
        named = "" if match is None else f"  text {'matches' if match['matched'] else 'differs'} ({match['score']:.2f})"
        print(f"  {v['mark_index']:>3} {v['page']:>4} {v['kind']:<10} {v['detection_score']:>5.2f}"
              f" {v['identity_id'] or '(unknown)':<16} {similarity:>10} {v['threshold']:>7.3f} {v['verdict']}{named}")
        _print_text(v)
    for path in item.get("annotated", []):
        print(f"  annotated: {path}")


def cmd_verify(args) -> int:
    from stampauth.documents import DocumentClaim

    if args.crop:
        return _verify_crops(args)
    claims = [DocumentClaim(identity, args.kind, args.page, expected_text=tuple(args.expect or ()))
              for identity in args.identity or ()]
    with open_client(args) as client:
        def work(path: str) -> dict:
            result = client.verify_document(path, claims, kinds=args.kinds, min_score=args.min_score,
                                            pdf_dpi=args.pdf_dpi, annotate=bool(args.annotate_dir), **_ocr_kwargs(args))
            return {**document_verification_json(result),
                    "annotated": write_annotated(args.annotate_dir, Path(path).stem, result.annotated_pages)}

        results, failed = _each_file(args.files, work)
    unsatisfied = sum(1 for r in results if "error" not in r and r["claims"] and not r["all_claims_satisfied"])
    if args.json:
        print_json(_one_or_list(results))
    else:
        for item in (r for r in results if "error" not in r):
            _print_verification(item)
    return EXIT_FILES_FAILED if failed else (EXIT_NOT_SATISFIED if unsatisfied else 0)


def _verify_crops(args) -> int:
    """``verify --crop``: each file is one cropped mark, verified against each claimed identity (VerifyImage)."""
    if not args.identity:
        raise InvalidInput("verify --crop needs --identity: the identity whose specimens the crops are compared with")
    kind = args.kind or "signature"
    with open_client(args) as client:
        def work(path: str) -> dict:
            return {"kind": kind, "decisions": [{"identity_id": identity, **decision_json(client.verify_image(
                identity, path, kind))} for identity in args.identity]}

        results, failed = _each_file(args.files, work)
    rejected = sum(1 for r in results for d in r.get("decisions", ()) if d["verdict"] != "GENUINE")
    if args.json:
        print_json(_one_or_list(results))
    else:
        for item in (r for r in results if "error" not in r):
            for d in item["decisions"]:
                score = "-" if d["score"] is None else f"{d['score']:.3f}"
                print(f"{item['file']}: {d['identity_id']} ({kind}) {d['verdict']}: {d['score_kind']} {score}, "
                      f"threshold {d['threshold']:.3f}, {d['references_used']} reference(s), model {d['model_version']}")
    return EXIT_FILES_FAILED if failed else (EXIT_NOT_SATISFIED if rejected else 0)


def cmd_compare(args) -> int:
    with _compare_client(args) as client:
        decision = client.compare(args.reference, args.query, args.kind)
    result = {"reference": args.reference, "query": args.query, "kind": args.kind, **decision_json(decision)}
    if args.json:
        print_json(result)
    else:
        print(f"{args.query} vs {args.reference} ({args.kind}): {decision.verdict.value}, {decision.score_kind} "
              f"{decision.score:.3f} (threshold {decision.threshold:.3f}, model {decision.model_version})")
    return 0


def _compare_client(args):
    """Comparing two crops needs the encoders, not the store."""
    from stampauth.client import LocalClient

    if args.server:
        return open_client(args)
    from stampauth.modeling.card import load_encoder
    from stampauth.service import StampAuth

    return LocalClient(StampAuth(store=None, encoders={args.kind: load_encoder(args.kind, args.models_dir)}))


def cmd_identify(args) -> int:
    with open_client(args) as client:
        def work(path: str) -> dict:
            return {"kind": args.kind, "candidates": [{**identity_json(identity), **decision_json(decision)}
                                                      for identity, decision in client.identify(path, args.kind, args.top_k)]}

        results, failed = _each_file(args.files, work)
    if args.json:
        print_json(_one_or_list(results))
    else:
        for item in (r for r in results if "error" not in r):
            print(f"{item['file']}: {len(item['candidates'])} candidate(s)")
            for rank, c in enumerate(item["candidates"], start=1):
                print(f"  {rank:>2}. {c['identity_id']:<20} {c['verdict']:<12} {c['score_kind']} {c['score']:.3f} "
                      f"(threshold {c['threshold']:.3f})")
    return EXIT_FILES_FAILED if failed else 0


def cmd_enroll(args) -> int:
    if not args.signature and not args.stamp:
        raise InvalidInput("name at least one specimen image: --signature FILE... and/or --stamp FILE...")
    metadata = {}
    for pair in args.meta or ():
        key, sep, value = pair.partition("=")
        if not sep:
            raise InvalidInput(f"--meta {pair!r}: write KEY=VALUE")
        metadata[key] = value
    with open_client(args) as client:
        try:
            client.get_identity(args.identity)
            exists = True
        except errors.NotFound:
            exists = False
        if exists:
            if args.name or metadata:
                raise InvalidInput(f"identity {args.identity!r} exists; --name and --meta only apply when enroll "
                                   "creates it (delete and re-create to change them)")
            identity, specimens = client.enroll(args.identity, signatures=args.signature or (),
                                                stamps=args.stamp or (), note=args.note)
        else:
            identity, specimens = client.create_identity(args.identity, args.name, metadata,
                                                         signatures=args.signature or (), stamps=args.stamp or (),
                                                         note=args.note)
    result = {"created": not exists, "identity": identity_json(identity),
              "enrolled": [specimen_json(s) for s in specimens]}
    if args.json:
        print_json(result)
    else:
        print(f"{'created' if not exists else 'updated'} identity {identity.identity_id}: "
              + ", ".join(f"{n} {k} specimen(s)" for k, n in sorted(identity.specimen_counts.items()) if n))
        for s in specimens:
            print(f"  + {s.specimen_id}  {s.kind:<9} {s.width}x{s.height}")
    return 0


def cmd_identities(args) -> int:
    with open_client(args) as client:
        if args.action == "list":
            if args.page_token or not args.all:
                page = client.list_identities(args.page_size, args.page_token or "")
                items, next_token = page.items, page.next_page_token
            else:
                items, next_token = list(client.iter_identities(args.page_size or 100)), ""
            result = {"identities": [identity_json(i) for i in items], "next_page_token": next_token}
            if args.json:
                print_json(result)
                return 0
            for i in items:
                counts = ", ".join(f"{n} {k}" for k, n in sorted(i.specimen_counts.items()) if n) or "no specimens"
                print(f"{i.identity_id:<24} {i.display_name or '-':<24} {counts}")
            if next_token:
                print(f"(more: --page-token {next_token}, or --all)")
            return 0
        if not args.identity:
            raise InvalidInput(f"identities {args.action} needs an identity id")
        if args.action == "show":
            identity = client.get_identity(args.identity)
            specimens = list(client.iter_specimens(args.identity))
            result = {**identity_json(identity), "specimen_list": [specimen_json(s) for s in specimens]}
            if args.json:
                print_json(result)
                return 0
            print(f"{identity.identity_id}  {identity.display_name}")
            for key, value in identity.metadata.items():
                print(f"  {key}: {value}")
            for s in specimens:
                print(f"  {s.specimen_id}  {s.kind:<9} {s.width}x{s.height}  {s.note}")
            return 0
        if args.action == "delete":
            count = client.delete_identity(args.identity)
            print_json({"deleted": args.identity, "specimens": count}) if args.json else print(
                f"deleted identity {args.identity} and its {count} specimen(s)")
            return 0
        if args.action == "delete-specimen":
            identity = client.delete_specimen(args.identity)
            print_json(identity_json(identity)) if args.json else print(
                f"deleted specimen {args.identity}; {identity.identity_id} keeps "
                + (", ".join(f"{n} {k}" for k, n in sorted(identity.specimen_counts.items()) if n) or "no specimens"))
            return 0
    raise InvalidInput(f"unknown action {args.action}")


def cmd_info(args) -> int:
    from dataclasses import asdict

    if not args.server:
        from stampauth.server.convert import server_info_to_proto
        from stampauth.client import server_description_from_proto

        with open_client(args) as client:
            description = server_description_from_proto(server_info_to_proto(client.core.server_info()))
    else:
        with open_client(args) as client:
            health = client.health()
            description = client.server_info()
    info = asdict(description) | ({"health": health} if args.server else {})
    if args.json:
        print_json(info)
        return 0
    where = args.server or "in-process"
    print(f"stampauth {description.server_version} (API {description.api_version}) {where}"
          + (f": {health}" if args.server else ""))
    for kind, model in description.models.items():
        print(f"  {kind:<9} {model['version']}  {model['score_kind']} threshold {model['threshold']:.3f}")
    if description.detector:
        detector = description.detector
        thresholds = ", ".join(f"{kind} {value:.2f}" for kind, value in sorted(detector["score_thresholds"].items()))
        print(f"  detector  {detector['version']}  input long side {detector['input_long_side']}; thresholds "
              f"{thresholds}; one-ink weight {detector['stamp_one_ink_weight']:g}")
    print(f"  store {description.store_backend}; OCR {'available' if description.ocr_available else 'not installed'}"
          f" ({', '.join(description.ocr_languages) or '-'})")
    if description.unimplemented_methods:
        print(f"  not implemented: {', '.join(description.unimplemented_methods)}")
    return 0


def cmd_batch(args) -> int:
    from stampauth.batch import run_batch

    with open_client(args) as client:
        return run_batch(client, args)


def register(commands) -> None:
    """Add the service commands to the ``stampauth`` parser's subcommands."""
    detect = commands.add_parser("detect", help="find the stamps and signatures on documents")
    detect.add_argument("files", nargs="+", help="documents: PNG, JPEG, TIFF (multi-page), BMP, WebP or PDF")
    _document_arguments(detect)
    detect.add_argument("--json", action="store_true", help="print JSON instead of a table")
    add_ocr_arguments(detect)
    add_service_arguments(detect)
    detect.set_defaults(func=cmd_detect)

    verify = commands.add_parser("verify", help="verify the marks of documents (or cropped marks, --crop) against "
                                 "claimed identities; without --identity each mark is identified")
    verify.add_argument("files", nargs="+", help="documents: PNG, JPEG, TIFF (multi-page), BMP, WebP or PDF "
                        "(with --crop: cropped marks)")
    verify.add_argument("--identity", action="append", default=None,
                        help="claimed identity id (repeat for several signers)")
    verify.add_argument("--kind", choices=["signature", "stamp"], default=None, help="claimed kind (default: either; "
                        "with --crop: signature)")
    verify.add_argument("--page", type=int, default=0, help="page the mark must be on (0 = any)")
    verify.add_argument("--crop", action="store_true", help="the files are cropped marks: verify each against the "
                        "identity's specimens (VerifyImage) instead of finding marks on pages")
    _document_arguments(verify)
    verify.add_argument("--json", action="store_true", help="print JSON instead of a table")
    verify.add_argument("--expect", action="append", default=None, metavar="TEXT",
                        help="with --ocr: a name or identifier the claimed marks' text should hold (repeatable; "
                             "default: the identity's display name)")
    add_ocr_arguments(verify)
    add_service_arguments(verify)
    verify.set_defaults(func=cmd_verify)

    compare = commands.add_parser("compare", help="compare two cropped marks of the same kind")
    compare.add_argument("reference", help="the known mark (image file)")
    compare.add_argument("query", help="the questioned mark (image file)")
    compare.add_argument("--kind", choices=["signature", "stamp"], default="signature")
    compare.add_argument("--json", action="store_true")
    add_service_arguments(compare)
    compare.set_defaults(func=cmd_compare)

    identify = commands.add_parser("identify", help="which enrolled identities does a cropped mark belong to (1:N)")
    identify.add_argument("files", nargs="+", help="cropped marks (image files)")
    identify.add_argument("--kind", choices=["signature", "stamp"], default="signature")
    identify.add_argument("--top-k", type=int, default=5, help="candidates to list (at most 100)")
    identify.add_argument("--json", action="store_true")
    add_service_arguments(identify)
    identify.set_defaults(func=cmd_identify)

    enroll = commands.add_parser("enroll", help="enroll reference specimens of an identity (created if new)")
    enroll.add_argument("identity", help="identity id: letters, digits and '._:@-' (e.g. an employee number)")
    enroll.add_argument("--signature", nargs="+", default=None, metavar="FILE", help="signature specimen images")
    enroll.add_argument("--stamp", nargs="+", default=None, metavar="FILE", help="stamp specimen images")
    enroll.add_argument("--name", default="", help="display name (when creating)")
    enroll.add_argument("--meta", action="append", default=None, metavar="KEY=VALUE", help="metadata (when creating)")
    enroll.add_argument("--note", default="", help="a note stored with each specimen (e.g. where it came from)")
    enroll.add_argument("--json", action="store_true")
    add_service_arguments(enroll)
    enroll.set_defaults(func=cmd_enroll)

    identities = commands.add_parser("identities", help="list, show or delete enrolled identities and specimens")
    identities.add_argument("action", choices=["list", "show", "delete", "delete-specimen"])
    identities.add_argument("identity", nargs="?", default=None,
                            help="identity id (show, delete) or specimen id (delete-specimen)")
    identities.add_argument("--page-size", type=int, default=0, help="list: identities per page (0 = the default, 50)")
    identities.add_argument("--page-token", default=None, help="list: the page after the one that printed this token")
    identities.add_argument("--all", action="store_true", help="list: every identity, page after page")
    identities.add_argument("--json", action="store_true")
    add_service_arguments(identities)
    identities.set_defaults(func=cmd_identities)

    info = commands.add_parser("info", help="what the service runs: versions, models and thresholds, limits, OCR")
    info.add_argument("--json", action="store_true")
    add_service_arguments(info)
    info.set_defaults(func=cmd_info)

    batch = commands.add_parser("batch", help="verify a folder of documents; resumes after an interruption",
                                description="Verify every document under DIR (recursively) against the claims in "
                                "--claims and write one record per document to --out. Run the same command again "
                                "after an interruption: finished documents are not redone.")
    batch.add_argument("dir", help="folder of documents (PNG, JPEG, TIFF, BMP, WebP, PDF; searched recursively)")
    batch.add_argument("--claims", default=None, help="CSV with a header: file,identity_id[,kind][,page][,expected_text]"
                       " (file relative to DIR; one row per claim; documents without a row have their marks identified)")
    batch.add_argument("--out", required=True, help="results file: .jsonl (one JSON object per document) or .csv "
                       "(one row per claim or mark)")
    batch.add_argument("--format", choices=["jsonl", "csv"], default=None, help="default: from --out's extension")
    batch.add_argument("--only-claimed", action="store_true", help="skip documents without a row in --claims")
    batch.add_argument("--retry-errors", action="store_true", help="redo documents whose earlier record is an error")
    batch.add_argument("--workers", type=int, default=2, help="documents in flight at once")
    batch.add_argument("--progress", action="store_true", help="show the progress bar even when stderr is not a "
                       "terminal")
    _document_arguments(batch)
    add_ocr_arguments(batch)
    add_service_arguments(batch)
    batch.set_defaults(func=cmd_batch)
