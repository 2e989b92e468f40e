"""The ``stampauth`` command line."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from stampauth import __version__, cli_service
from stampauth.cli_service import exit_code_of, progress_bar
from stampauth.errors import StampAuthError


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
                            baselines=not args.no_baselines, heldout_only=args.heldout, overlay=not args.no_overlay,
                            draws=args.draws, by_writer=args.per_writer)
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(f"{kind} verification on {result['data']} (K={result['references']}, model {result['model_version']})")
        print(f"  {'scorer':<12} {'EER skilled':>12} {'EER random':>11} {'AUC':>7}")
        rows = [("model", result)] + ([("encoder", result["encoder_alone"])] if "encoder_alone" in result else []) \
            + list(result.get("baselines", {}).items())
        for name, row in rows:
            print(f"  {name:<12} {row['eer']:>12.4f} {row['eer_random']:>11.4f} {row['auc']:>7.4f}")
        print(f"  at threshold {result['threshold']:.4f}: FAR {result['far']:.4f}  FRR {result['frr']:.4f}"
              f"  ({result['n_genuine']} genuine, {result['n_forged']} forged)")
        if "draws" in result:
            spread = result["draws"]
            print(f"  model over {spread['n']} reference draws (seeds {spread['seeds'][0]}-{spread['seeds'][1]}): "
                  + "  ".join(f"{key} {row['mean']:.4f} +/- {row['std']:.4f} ({row['min']:.4f}-{row['max']:.4f})"
                              for key, row in spread.items() if key in ("eer", "eer_random")))
        if "per_writer" in result:
            print(f"  per {'writer' if kind == 'signature' else 'design'}, worst ranking first (AUC genuine vs skilled;"
                  " FRR / FAR at the threshold):")
            for row in result["per_writer"]:
                print(f"    {row['writer']:<12} AUC {row['auc']:.3f}  FRR {row['frr']:.2f}  FAR {row['far']:.2f}"
                      f"  mean genuine {row['mean_genuine']:.3f}  skilled {row['mean_skilled']:.3f}"
                      f"  ({row['n_genuine']} genuine, {row['n_skilled']} skilled)")
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
                                progress=progress_bar("pages") if sys.stderr.isatty() else None,
                                errors_dir=args.errors)
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
    if "errors" in result:
        for kind in ("signature", "stamp"):
            if kind in result["errors"]:
                e = result["errors"][kind]
                print(f"  errors     {kind:<10} {e['false']} false ({e['false_at_threshold']} at the threshold),"
                      f" {e['missed_at_threshold']} missed at the threshold: {', '.join(e['sheets'].values())}")
        print(f"  error sheets and errors.json in {result['errors']['dir']}")
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
    elif args.what == "detector-ensemble":
        from stampauth.training import detector

        detector.main_ensemble(args.extra)
    elif args.what == "stamp":
        from stampauth.training import stamp

        stamp.main(args.extra)
    elif args.what == "stamp-pairs":
        from stampauth.training import stamp_pairs

        stamp_pairs.main(args.extra)
    elif args.what == "stamp-overlay":
        from stampauth.training import stamp_overlay

        stamp_overlay.main(args.extra)
    elif args.what == "signature-ensemble":
        from stampauth.training import signature

        signature.main_ensemble(args.extra)
    else:
        from stampauth.training import signature

        signature.main(args.extra)
    return 0


def cmd_synth(args) -> int:
    if args.what == "ocr":
        from stampauth.synth.ocr_pages import write_ocr_set

        out = write_ocr_set(args.out, args.count, args.seed or 2026,
                            progress=progress_bar("layouts") if sys.stderr.isatty() else None)
        print(f"wrote {args.count} layouts (clean and noisy scans) and truth.jsonl to {out} ('stampauth eval ocr --data')")
        return 0
    if args.what == "stamps":
        from stampauth.synth.stamp_sets import write_stamp_set

        if not 0.0 <= args.other_stamp_share <= 1.0:
            print("error: --other-stamp-share is a share of impressions: give a number from 0 to 1", file=sys.stderr)
            return 2
        summary = write_stamp_set(args.out, args.count, args.seed, other_stamp_probability=args.other_stamp_share)
        print(json.dumps(summary, indent=2))
        return 0
    from stampauth.synth.documents import SignatureBank, write_dataset

    bank = None
    if args.signatures:
        card = json.loads(Path(args.signature_card).read_text())
        bank = SignatureBank.from_dir(args.signatures, set(card["training"]["train_writers"]))
    out = write_dataset(args.out, args.count, args.seed, bank, args.long_side,
                        progress=progress_bar("pages") if sys.stderr.isatty() else None, version=args.generator_version)
    print(f"wrote {args.count} pages to {out} (images/, labels/ in YOLO format, classes.txt)")
    return 0


def cmd_data(args) -> int:
    from stampauth.real_stamps import build_real_stamp_set

    counts = build_real_stamp_set(args.pages, args.out, args.groups)
    print(f"wrote {sum(counts.values())} stamp crops of {len(counts)} physical stamps to {args.out} "
          f"(labels.csv for 'stampauth eval stamps'): {json.dumps(counts)}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="stampauth", description="Authenticate stamps and signatures on documents. The commands that use the "
        "service (enroll, identities, compare, verify, detect, identify, info, batch) run it in this process, or call "
        "a server with --server HOST:PORT (token from $STAMPAUTH_TOKEN or --token-file).",
        epilog="exit codes: 0 done; 1 some files failed; 2 bad request or usage; 3 not every claim satisfied; "
        "4 server unavailable; 5 credentials refused; 130 interrupted", formatter_class=argparse.RawDescriptionHelpFormatter)
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
    evaluate.add_argument("--draws", type=int, default=1,
                          help="signatures/stamps: also score the model with N reference draws (seeds SEED..SEED+N-1)"
                               " and print their spread (the figures of --seed stay the headline)")
    evaluate.add_argument("--models-dir", default=None)
    evaluate.add_argument("--no-baselines", action="store_true", help="skip the ORB/correlation/SSIM baselines")
    evaluate.add_argument("--no-overlay", action="store_true",
                          help="stamps: score with the encoder's similarity alone, over every other design (the served"
                               " score adds the overlay check; see models/MODEL_CARD.md)")
    evaluate.add_argument("--heldout", action="store_true",
                          help="only the writers the model card lists as validation writers (never trained on)")
    evaluate.add_argument("--per-writer", action="store_true",
                          help="signatures/stamps: also break the errors down by writer (design): ranking within each"
                               " (AUC) against how the one threshold suits it (FRR / FAR)")
    evaluate.add_argument("--errors", default=None, metavar="DIR",
                          help="detection: also write the detector's errors to DIR: contact sheets of the most "
                               "confident false detections and of the missed marks per kind, and errors.json")
    evaluate.add_argument("--json", action="store_true", help="print one JSON object")
    evaluate.set_defaults(func=cmd_eval)

    cli_service.register(commands)

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

    train = commands.add_parser("train", help="train a model (see 'stampauth train signature|signature-ensemble|stamp|stamp-overlay|stamp-pairs|detector|detector-ensemble --help')",
                                add_help=False)
    train.add_argument("what", choices=["signature", "signature-ensemble", "stamp", "stamp-overlay", "stamp-pairs", "detector",
                                        "detector-ensemble"])
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
    synth.add_argument("--other-stamp-share", type=float, default=0.0,
                       help="stamps: share of impressions with another stamp (another design, another ink) pressed "
                            "across one side, as documents collect them (default 0: the evaluation set of the model card)")
    synth.add_argument("--generator-version", type=int, default=1, choices=[1, 2, 3, 4, 5, 6],
                       help="documents: page generator version (1: the first detector's pages, the default; 2: + script-font"
                            " and line-art logos, handwritten dates and form entries, larger and fainter signatures; 3: + invoices'"
                            " dense and coloured tables, totals boxes, barcodes; 4: + printed crests and seal-like badges, what the shipped"
                            " detector was last fine-tuned on; 5: + handwritten notes of several lines, figures and codes,"
                            " co-signers stacked)")
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
        field = f" (field {error.field})" if error.field else ""
        print(f"stampauth: error: {error.message}{field}", file=sys.stderr)
        return exit_code_of(error)
    except KeyboardInterrupt:
        print("stampauth: interrupted", file=sys.stderr)
        return cli_service.EXIT_INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
