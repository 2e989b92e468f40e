"""The ``stampauth`` command line."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from stampauth import __version__
from stampauth.errors import InvalidInput, StampAuthError


def _quiet_tensorflow() -> None:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def _settings(args):
    """The server settings: --config (or $STAMPAUTH_CONFIG) < STAMPAUTH_* environment < flags."""
    from stampauth.settings import load_settings

    flags = {
        "server": {"port": args.port, "host": args.host, "grace_seconds": args.grace,
                   "insecure": True if args.insecure else None},
        "auth": {"enabled": False if args.no_auth else None},
        "tls": {"cert_file": args.tls_cert, "key_file": args.tls_key, "client_ca_file": args.tls_client_ca},
        "store": args.store, "models_dir": args.models_dir, "tesseract": args.tesseract,
        "metrics_port": args.metrics_port, "log_format": args.log_format,
    }
    return load_settings(args.config or os.environ.get("STAMPAUTH_CONFIG"), flags)


def cmd_serve(args) -> int:
    from stampauth.server.app import serve

    serve(_settings(args))
    return 0


def cmd_config(args) -> int:
    print(json.dumps(_settings(args).masked(), indent=2))
    return 0


def cmd_token(args) -> int:
    from stampauth.settings import new_token

    token, entry = new_token(args.name, args.tenant, args.roles)
    print(f"token (give it to the client; it is not stored anywhere): {token}")
    print("add to the server's configuration file:")
    print(f'[[auth.tokens]]\nname = "{entry.name}"\nsha256 = "{entry.sha256}"\ntenant = "{entry.tenant}"\n'
          f"roles = {json.dumps(entry.roles)}")
    return 0


def cmd_eval(args) -> int:
    if args.what == "detection":
        return _eval_detection(args)
    if args.what == "ocr":
        return _eval_ocr(args)
    if args.data is None:
        raise SystemExit(f"stampauth eval {args.what}: --data DIR is required")
    from stampauth.evaluation import evaluate_marks

    kind = {"signatures": "signature", "stamps": "stamp"}[args.what]
    result = evaluate_marks(args.data, kind, args.references, args.seed, args.models_dir,
                            baselines=not args.no_baselines, heldout_only=args.heldout)
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(f"{kind} verification on {result['data']} (K={result['references']}, model {result['model_version']})")
        print(f"  {'scorer':<12} {'EER skilled':>12} {'EER random':>11} {'AUC':>7}")
        rows = [("model", result)] + list(result.get("baselines", {}).items())
        for name, row in rows:
            print(f"  {name:<12} {row['eer']:>12.4f} {row['eer_random']:>11.4f} {row['auc']:>7.4f}")
        print(f"  at threshold {result['threshold']:.4f}: FAR {result['far']:.4f}  FRR {result['frr']:.4f}"
              f"  ({result['n_genuine']} genuine, {result['n_forged']} forged)")
    return 0


def _eval_ocr(args) -> int:
    from stampauth.text.evaluation import run_ocr_evaluation

    result = run_ocr_evaluation(args.data, args.count, args.seed or 2026, language=args.ocr_lang)
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    source = result["data"] or f"{result['count']} generated layouts (seed {result['seed']}), clean and noisy"
    print(f"OCR on {source}; Tesseract {result['tesseract_version']}, {result['cpu_cores']} CPU cores")
    for key, limit in result["targets"].items():
        value = result[key]
        shown = "-" if value is None else (f"{value:.1f}" if key.startswith("ms") else f"{100 * value:.2f} %")
        target = f"{limit:.0f}" if key.startswith("ms") else f"{100 * limit:.0f} %"
        print(f"  {key:<18} {shown:>10}  (target <= {target}: {'met' if result['passed'][key] else 'NOT met'})")
    return 0


def _eval_detection(args) -> int:
    from stampauth.detection.evaluate import evaluate_detection

    result = evaluate_detection(args.data, args.models_dir, baseline=not args.no_baselines,
                                progress=_progress("pages") if sys.stderr.isatty() else None)
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    print(f"detection on {result['data']} ({result['n_images']} pages, detector {result['detector_version']})")
    print(f"  {'detector':<10} {'kind':<10} {'AP50':>7} {'precision':>10} {'recall':>7} {'threshold':>10} {'boxes':>6}")
    for name, rows in [("model", result)] + ([("baseline", result["baseline"])] if "baseline" in result else []):
        for kind in ("signature", "stamp"):
            if kind in rows:
                r = rows[kind]
                print(f"  {name:<10} {kind:<10} {r['ap50']:>7.4f} {r['precision']:>10.4f} {r['recall']:>7.4f}"
                      f" {r['threshold']:>10.2f} {r['n_boxes']:>6}")
        print(f"  {name:<10} {'time':<10} {rows['ms_per_page']:>7.1f} ms per page (after decoding)")
    return 0


def cmd_bench(args) -> int:
    """Detection time per page at a given resolution, after decoding (pages are generated)."""
    import time

    import cv2
    import numpy as np

    from stampauth.detection.detector import load_detector
    from stampauth.synth.documents import generate_page

    detector = load_detector(args.models_dir)
    width, height = round(8.27 * args.dpi), round(11.69 * args.dpi)
    pages = []
    for index in range(args.pages):
        page = generate_page(np.random.default_rng([args.seed, index]), None, long_side=height, square_probability=0.0)
        pages.append(cv2.resize(page.image, (width, height), interpolation=cv2.INTER_LINEAR))
    detector.detect(pages[0])  # warm-up: the first call pays for graph set-up
    timings = []
    for _ in range(args.repeat):
        for page in pages:
            started = time.perf_counter()
            detector.detect(page)
            timings.append(1000 * (time.perf_counter() - started))
    result = {
        "what": f"detection of one A4 page at {args.dpi} dpi ({width}x{height}), after decoding",
        "detector_version": detector.version,
        "pages": len(timings),
        "ms_median": round(float(np.median(timings)), 1),
        "ms_p90": round(float(np.percentile(timings, 90)), 1),
        "ms_max": round(float(np.max(timings)), 1),
        "cpu_threads": os.cpu_count(),
    }
    print(json.dumps(result, indent=2) if args.json else
          f"{result['what']}: median {result['ms_median']} ms, p90 {result['ms_p90']} ms over {result['pages']} pages")
    return 0


def _read_file(path: str) -> bytes:
    try:
        with open(path, "rb") as handle:
            return handle.read()
    except OSError as error:
        raise InvalidInput(f"cannot read {path}: {error.strerror}") from None


def _write_annotated(out_dir: str | None, source: str, images: list[bytes]) -> list[str]:
    if not out_dir or not images:
        return []
    Path(out_dir).mkdir(parents=True, exist_ok=True)
    written = []
    for number, data in enumerate(images, start=1):
        path = Path(out_dir) / f"{Path(source).stem}.page{number}.png"
        path.write_bytes(data)
        written.append(str(path))
    return written


def _mark_json(index: int, mark) -> dict:
    b = mark.box
    return {"mark_index": index, "page": mark.page_number, "kind": mark.kind, "score": mark.score,
            "box": [round(b.x0), round(b.y0), round(b.x1), round(b.y1)]}


def _ocr_options(args):
    """``--ocr`` and its options -> OcrOptions, or None without ``--ocr``."""
    if not args.ocr:
        return None
    from stampauth.text.types import OcrOptions

    return OcrOptions(languages=tuple(args.ocr_lang or ("eng",)), budget_ms=args.ocr_budget_ms)


def _text_json(text) -> dict:
    return {"text_status": text.status.value,
            "text": [{"text": s.text, "position": s.position, "confidence": round(s.confidence, 3), "source": s.source,
                      "box": [round(s.box.x0), round(s.box.y0), round(s.box.x1), round(s.box.y1)]} for s in text.spans]}


def _print_text(mark: dict, indent: str = "      ") -> None:
    """The text read for a mark, one line per span, under its table row."""
    for span in mark.get("text", []):
        print(f"{indent}{span['position']:>6}: {span['text']!r} ({span['source']}, {span['confidence']:.2f})")
    if mark.get("text_status") == "BUDGET_EXCEEDED":
        print(f"{indent}(OCR time budget ran out: text missing or partial; raise --ocr-budget-ms)")


def _add_ocr_arguments(parser) -> None:
    parser.add_argument("--ocr", action="store_true", help="read the text near and inside each mark "
                        "(the PDF's text layer, or Tesseract) and show it")
    parser.add_argument("--ocr-lang", action="append", default=None, metavar="LANG",
                        help="Tesseract language pack (repeatable; default eng)")
    parser.add_argument("--ocr-budget-ms", type=int, default=0, help="OCR time per page (0 = the default, 4000)")
    parser.add_argument("--tesseract", default=None, help="path of the Tesseract binary (default: tesseract on PATH)")


def _each_file(files: list[str], work) -> tuple[list[dict], int]:
    """``work(path) -> dict`` for every file, with a progress bar on a terminal; a file that fails is
    reported on stderr and counted, and the others still run. Returns (results, number failed)."""
    progress = _progress("files") if len(files) > 1 and sys.stderr.isatty() else None
    results, failed = [], 0
    for done, path in enumerate(files, start=1):
        try:
            results.append({"file": path, **work(path)})
        except StampAuthError as error:
            failed += 1
            results.append({"file": path, "error": error.message})
            print(f"stampauth: {path}: {error.message}", file=sys.stderr)
        if progress:
            progress(done, len(files))
    return results, failed


def _print_json(results: list[dict]) -> None:
    print(json.dumps(results if len(results) > 1 else results[0], indent=2))


def cmd_detect(args) -> int:
    from stampauth.detection.detector import load_detector
    from stampauth.service import StampAuth
    from stampauth.text.tesseract import Tesseract

    core = StampAuth(store=None, encoders={}, detector=load_detector(args.models_dir), tesseract=Tesseract(args.tesseract))
    ocr = _ocr_options(args)

    def work(path: str) -> dict:
        result = core.detect_marks(_read_file(path), args.pdf_dpi, args.kinds, args.min_score, bool(args.annotate_dir),
                                   ocr)
        marks = [_mark_json(i, m) for i, m in enumerate(result.marks)]
        for mark, text in zip(marks, result.mark_texts):
            mark.update(_text_json(text))
        return {
            "pages": [{"page": p.page_number, "width": p.width, "height": p.height} for p in result.pages],
            "marks": marks,
            "detector_version": result.detector_version,
            "annotated": _write_annotated(args.annotate_dir, path, result.annotated_pages),
        }

    results, failed = _each_file(args.files, work)
    if args.json:
        _print_json(results)
        return 1 if failed else 0
    for item in (r for r in results if "error" not in r):
        print(f"{item['file']}: {len(item['pages'])} page(s), {len(item['marks'])} mark(s)")
        if item["marks"]:
            print(f"  {'#':>3} {'page':>4} {'kind':<10} {'score':>6}  box (x0, y0, x1, y1)")
        for m in item["marks"]:
            print(f"  {m['mark_index']:>3} {m['page']:>4} {m['kind']:<10} {m['score']:>6.3f}  {tuple(m['box'])}")
            _print_text(m)
        for path in item["annotated"]:
            print(f"  annotated: {path}")
    return 1 if failed else 0


def cmd_verify(args) -> int:
    from stampauth.documents import DocumentClaim
    from stampauth.service import StampAuth

    claims = [DocumentClaim(identity, args.kind, args.page, expected_text=tuple(args.expect or ()))
              for identity in args.identity]
    ocr = _ocr_options(args)
    with StampAuth.open(args.store, args.models_dir, tesseract_command=args.tesseract) as core:
        def work(path: str) -> dict:
            result = core.verify_document(_read_file(path), claims, args.pdf_dpi, None, args.min_score,
                                          bool(args.annotate_dir), ocr)
            verifications = [_verification_json(v) for v in result.verifications]
            for item, v in zip(verifications, result.verifications):
                if result.mark_texts:
                    item.update(_text_json(result.mark_texts[v.mark_index]))
                if v.text_match is not None:
                    t = v.text_match
                    item["text_match"] = {"expected": t.expected, "found": t.found, "score": round(t.score, 3),
                                          "matched": t.matched, "position": t.position}
            return {
                "all_claims_satisfied": result.all_claims_satisfied,
                "claims": [{"identity_id": r.claim.identity_id, "kind": r.claim.kind, "page": r.claim.page_number,
                            "outcome": r.outcome.value, "verdict": r.verdict.value, "mark_index": r.mark_index,
                            "chosen_by_text": r.chosen_by_text, "explanation": r.explanation}
                           for r in result.claim_results],
                "verifications": verifications,
                "detector_version": result.detector_version,
                "annotated": _write_annotated(args.annotate_dir, path, result.annotated_pages),
            }

        results, failed = _each_file(args.files, work)
    unsatisfied = sum(1 for r in results if "error" not in r and not r["all_claims_satisfied"])
    if args.json:
        _print_json(results)
    else:
        for item in (r for r in results if "error" not in r):
            status = "ALL CLAIMS SATISFIED" if item["all_claims_satisfied"] else "NOT SATISFIED"
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
                      f" {v['identity_id']:<16} {similarity:>10} {v['threshold']:>7.3f} {v['verdict']}{named}")
                _print_text(v)
            for path in item["annotated"]:
                print(f"  annotated: {path}")
    return 1 if failed else (3 if unsatisfied else 0)


def _verification_json(v) -> dict:
    d = v.decision
    mark = _mark_json(v.mark_index, v.mark)
    mark["detection_score"] = mark.pop("score")
    finite = lambda x: None if x != x else round(float(x), 4)  # NaN (no reference) -> null
    return {**mark, "identity_id": v.identity_id, "verdict": d.verdict.value, "similarity": finite(d.score),
            "threshold": round(d.threshold, 4), "probability_genuine": finite(d.probability_genuine),
            "references_used": d.references_used, "model_version": d.model_version}


def cmd_preprocess(args) -> int:
    from stampauth.io import decode_image
    from stampauth.modeling.card import ModelCard, models_dir
    from stampauth.preprocess import dump_stages, preprocess_any

    card_path = Path(args.models_dir or models_dir()) / f"{args.kind}_encoder.json"
    config = ModelCard.from_json(card_path.read_text()).preprocess
    with open(args.image, "rb") as handle:
        image = decode_image(handle.read())
    debug: dict = {}
    preprocess_any(image, config, debug)
    for path in dump_stages(debug, args.out):
        print(path)
    return 0


def cmd_train(args) -> int:
    if args.what == "detector":
        from stampauth.training import detector

        detector.main(args.extra)
    elif args.what == "stamp":
        from stampauth.training import stamp

        stamp.main(args.extra)
    else:
        from stampauth.training import signature

        signature.main(args.extra)
    return 0


def cmd_synth(args) -> int:
    if args.what == "ocr":
        from stampauth.synth.ocr_pages import write_ocr_set

        out = write_ocr_set(args.out, args.count, args.seed or 2026,
                            progress=_progress("layouts") if sys.stderr.isatty() else None)
        print(f"wrote {args.count} layouts (clean and noisy scans) and truth.jsonl to {out} ('stampauth eval ocr --data')")
        return 0
    if args.what == "stamps":
        from stampauth.synth.stamp_sets import write_stamp_set

        summary = write_stamp_set(args.out, args.count, args.seed)
        print(json.dumps(summary, indent=2))
        return 0
    from stampauth.synth.documents import SignatureBank, write_dataset

    bank = None
    if args.signatures:
        card = json.loads(Path(args.signature_card).read_text())
        bank = SignatureBank.from_dir(args.signatures, set(card["training"]["train_writers"]))
    out = write_dataset(args.out, args.count, args.seed, bank, args.long_side,
                        progress=_progress("pages") if sys.stderr.isatty() else None)
    print(f"wrote {args.count} pages to {out} (images/, labels/ in YOLO format, classes.txt)")
    return 0


def cmd_data(args) -> int:
    from stampauth.real_stamps import build_real_stamp_set

    counts = build_real_stamp_set(args.pages, args.out, args.groups)
    print(f"wrote {sum(counts.values())} stamp crops of {len(counts)} physical stamps to {args.out} "
          f"(labels.csv for 'stampauth eval stamps'): {json.dumps(counts)}")
    return 0


def _progress(what: str):
    """A one-line progress bar on stderr: ``progress(done, total)``."""

    def update(done: int, total: int) -> None:
        filled = int(30 * done / max(total, 1))
        sys.stderr.write(f"\r{what} [{'#' * filled}{'.' * (30 - filled)}] {done}/{total}")
        if done == total:
            sys.stderr.write("\n")
        sys.stderr.flush()

    return update


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="stampauth", description="Authenticate stamps and signatures on documents.")
    parser.add_argument("--version", action="version", version=f"stampauth {__version__}")
    parser.add_argument("--log-level", default="INFO", help="DEBUG, INFO, WARNING or ERROR")
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="run the gRPC server")
    config = commands.add_parser("config", help="print the server's effective configuration (secrets masked)")
    for parser_ in (serve, config):
        parser_.add_argument("--config", default=None, help="TOML or JSON settings file (default: $STAMPAUTH_CONFIG)")
        parser_.add_argument("--port", type=int, default=None, help="port to listen on (default 50051; 0 = any free port)")
        parser_.add_argument("--host", default=None, help="address to bind (default [::])")
        parser_.add_argument("--store", default=None, help="reference store URL (default: sqlite:///<data dir>/"
                             "references.db; the data dir is $STAMPAUTH_DATA_DIR or ./data)")
        parser_.add_argument("--models-dir", default=None, help="folder with the model files (default: shipped models/)")
        parser_.add_argument("--grace", type=float, default=None, help="seconds calls in flight get on SIGTERM (default 10)")
        parser_.add_argument("--tesseract", default=None, help="path of the Tesseract binary (default: tesseract on PATH)")
        parser_.add_argument("--tls-cert", default=None, help="PEM certificate chain of the server")
        parser_.add_argument("--tls-key", default=None, help="PEM private key of the server")
        parser_.add_argument("--tls-client-ca", default=None, help="PEM CA bundle: require client certificates (mTLS)")
        parser_.add_argument("--insecure", action="store_true", help="serve plaintext gRPC (local use only)")
        parser_.add_argument("--no-auth", action="store_true", help="no authentication: every caller is the default "
                             "tenant with every role (local use only)")
        parser_.add_argument("--metrics-port", type=int, default=None, help="serve Prometheus metrics on this port")
        parser_.add_argument("--log-format", choices=["text", "json"], default=None)
    serve.set_defaults(func=cmd_serve)
    config.set_defaults(func=cmd_config)

    token = commands.add_parser("token", help="make a bearer token and the configuration entry for it")
    token.add_argument("action", choices=["new"])
    token.add_argument("--tenant", required=True, help="the tenant whose identities the token reaches")
    token.add_argument("--roles", nargs="+", choices=["verify", "admin"], default=["verify"])
    token.add_argument("--name", default="client", help="a name for logs (not secret)")
    token.set_defaults(func=cmd_token)

    evaluate = commands.add_parser("eval", help="measure verification accuracy on a labelled set")
    evaluate.add_argument("what", choices=["signatures", "stamps", "detection", "ocr"])
    evaluate.add_argument("--data", default=None, help="signatures/stamps: folder with labels.csv "
                          "(path,writer,label,forger); detection: folder with images/, labels/ (YOLO) and classes.txt; "
                          "ocr: a set from 'stampauth synth ocr' (default: generate pages in memory)")
    evaluate.add_argument("--count", type=int, default=12, help="ocr: generated layouts (each scanned clean and noisy)")
    evaluate.add_argument("--ocr-lang", default="eng", help="ocr: Tesseract language")
    evaluate.add_argument("--references", type=int, default=5, help="genuine specimens enrolled per writer")
    evaluate.add_argument("--seed", type=int, default=0, help="sampling seed (ocr: page seed, 0 = 2026)")
    evaluate.add_argument("--models-dir", default=None)
    evaluate.add_argument("--no-baselines", action="store_true", help="skip the ORB/correlation/SSIM baselines")
    evaluate.add_argument("--heldout", action="store_true",
                          help="only the writers the model card lists as validation writers (never trained on)")
    evaluate.add_argument("--json", action="store_true", help="print one JSON object")
    evaluate.set_defaults(func=cmd_eval)

    detect = commands.add_parser("detect", help="find the stamps and signatures on documents")
    detect.add_argument("files", nargs="+", help="documents: PNG, JPEG, TIFF (multi-page), BMP, WebP or PDF")
    detect.add_argument("--kinds", nargs="+", choices=["signature", "stamp"], default=None)
    detect.add_argument("--min-score", type=float, default=0.0, help="confidence threshold (0 = the model's default)")
    detect.add_argument("--pdf-dpi", type=int, default=0, help="PDF render resolution (0 = 200)")
    detect.add_argument("--annotate-dir", default=None, help="write an annotated PNG per page here")
    detect.add_argument("--json", action="store_true", help="print JSON instead of a table")
    detect.add_argument("--models-dir", default=None)
    _add_ocr_arguments(detect)
    detect.set_defaults(func=cmd_detect)

    verify = commands.add_parser("verify", help="verify the marks of documents against claimed identities")
    verify.add_argument("files", nargs="+", help="documents: PNG, JPEG, TIFF (multi-page), BMP, WebP or PDF")
    verify.add_argument("--identity", action="append", required=True,
                        help="claimed identity id (repeat for several signers)")
    verify.add_argument("--kind", choices=["signature", "stamp"], default=None, help="claimed kind (default: either)")
    verify.add_argument("--page", type=int, default=0, help="page the mark must be on (0 = any)")
    verify.add_argument("--store", default=None, help="reference store URL (as for 'stampauth serve')")
    verify.add_argument("--min-score", type=float, default=0.0)
    verify.add_argument("--pdf-dpi", type=int, default=0)
    verify.add_argument("--annotate-dir", default=None, help="write an annotated PNG per page here")
    verify.add_argument("--json", action="store_true", help="print JSON instead of a table")
    verify.add_argument("--models-dir", default=None)
    verify.add_argument("--expect", action="append", default=None, metavar="TEXT",
                        help="with --ocr: a name or identifier the claimed marks' text should hold (repeatable; "
                             "default: the identity's display name)")
    _add_ocr_arguments(verify)
    verify.set_defaults(func=cmd_verify)

    bench = commands.add_parser("bench", help="measure speed")
    bench.add_argument("what", choices=["detection"])
    bench.add_argument("--dpi", type=int, default=300, help="A4 page resolution")
    bench.add_argument("--pages", type=int, default=5, help="generated pages")
    bench.add_argument("--repeat", type=int, default=4)
    bench.add_argument("--seed", type=int, default=0)
    bench.add_argument("--json", action="store_true")
    bench.add_argument("--models-dir", default=None)
    bench.set_defaults(func=cmd_bench)

    preprocess = commands.add_parser("preprocess", help="write every preprocessing stage of a crop as PNGs")
    preprocess.add_argument("image", help="a cropped mark (PNG, JPEG, TIFF, BMP, WebP)")
    preprocess.add_argument("--kind", default="signature", choices=["signature", "stamp"])
    preprocess.add_argument("--out", required=True, help="folder for the stage images")
    preprocess.add_argument("--models-dir", default=None)
    preprocess.set_defaults(func=cmd_preprocess)

    train = commands.add_parser("train", help="train a model (see 'stampauth train signature|stamp|detector --help')",
                                add_help=False)
    train.add_argument("what", choices=["signature", "stamp", "detector"])
    train.set_defaults(func=cmd_train)

    synth = commands.add_parser("synth", help="generate synthetic training data to look at or train on")
    synth.add_argument("what", choices=["documents", "stamps", "ocr"])
    synth.add_argument("--out", required=True, help="documents: folder for images/, labels/ (YOLO) and classes.txt; "
                       "stamps: folder for <design>/genuine|forged/ images and labels.csv (as 'eval stamps' reads); "
                       "ocr: 300-dpi pages with known text beside marks and truth.jsonl (as 'eval ocr --data' reads)")
    synth.add_argument("--count", type=int, default=20, help="number of pages (documents), stamp designs (stamps) "
                       "or layouts (ocr)")
    synth.add_argument("--seed", type=int, default=0)
    synth.add_argument("--long-side", type=int, default=1280, help="pixels of the longer page side")
    synth.add_argument("--signatures", default="", help="a labelled signature set to take real signatures from")
    synth.add_argument("--signature-card", default="models/signature_encoder.json",
                       help="only this card's training writers are taken from --signatures")
    synth.set_defaults(func=cmd_synth)

    data = commands.add_parser("data", help="build evaluation sets from public data")
    data.add_argument("what", choices=["real-stamps"], help="real-stamps: same/different physical stamp crops "
                      "from the stamp-detection pages, grouped by the committed grouping file")
    data.add_argument("--pages", required=True, help="the stamp-detection folder (images/, labels/)")
    data.add_argument("--out", required=True, help="folder for the crops and labels.csv")
    data.add_argument("--groups", default=None, help="another grouping CSV (page,box,stamp); default: the shipped one")
    data.set_defaults(func=cmd_data)
    return parser


def main(argv=None) -> int:
    _quiet_tensorflow()
    parser = build_parser()
    args, unknown = parser.parse_known_args(argv)
    if unknown and args.command != "train":
        parser.error(f"unrecognized arguments: {' '.join(unknown)}")
    args.extra = unknown
    from stampauth.server.observability import configure_logging

    configure_logging(getattr(args, "log_format", None) or "text", str(args.log_level).upper())
    try:
        return args.func(args)
    except StampAuthError as error:
        print(f"stampauth: error: {error.message}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
