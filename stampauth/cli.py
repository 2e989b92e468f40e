"""The ``stampauth`` command line."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from pathlib import Path

from stampauth import __version__
from stampauth.errors import StampAuthError


def _quiet_tensorflow() -> None:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def cmd_serve(args) -> int:
    from stampauth.server.app import serve

    serve(port=args.port, store_url=args.store, host=args.host, models_dir=args.models_dir, grace=args.grace)
    return 0


def cmd_eval(args) -> int:
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


def cmd_preprocess(args) -> int:
    from stampauth.io import decode_image
    from stampauth.modeling.card import ModelCard, models_dir
    from stampauth.preprocess import dump_stages, preprocess_mark

    card_path = Path(args.models_dir or models_dir()) / f"{args.kind}_encoder.json"
    config = ModelCard.from_json(card_path.read_text()).preprocess
    with open(args.image, "rb") as handle:
        image = decode_image(handle.read())
    debug: dict = {}
    preprocess_mark(image, config, debug)
    for path in dump_stages(debug, args.out):
        print(path)
    return 0


def cmd_train(args) -> int:
    if args.what == "detector":
        from stampauth.training import detector

        detector.main(args.extra)
    else:
        from stampauth.training import signature

        signature.main(args.extra)
    return 0


def cmd_synth(args) -> int:
    from stampauth.synth.documents import SignatureBank, write_dataset

    bank = None
    if args.signatures:
        card = json.loads(Path(args.signature_card).read_text())
        bank = SignatureBank.from_dir(args.signatures, set(card["training"]["train_writers"]))
    out = write_dataset(args.out, args.count, args.seed, bank, args.long_side,
                        progress=_progress("pages") if sys.stderr.isatty() else None)
    print(f"wrote {args.count} pages to {out} (images/, labels/ in YOLO format, classes.txt)")
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
    serve.add_argument("--port", type=int, default=50051, help="port to listen on (0 = any free port)")
    serve.add_argument("--host", default="[::]", help="address to bind")
    serve.add_argument("--store", default=None, help="reference store URL (default: sqlite:///<data dir>/references.db; "
                                                     "the data dir is $STAMPAUTH_DATA_DIR or ./data)")
    serve.add_argument("--models-dir", default=None, help="folder with the model files (default: shipped models/)")
    serve.add_argument("--grace", type=float, default=10.0, help="seconds calls in flight get on SIGTERM")
    serve.set_defaults(func=cmd_serve)

    evaluate = commands.add_parser("eval", help="measure verification accuracy on a labelled set")
    evaluate.add_argument("what", choices=["signatures", "stamps"])
    evaluate.add_argument("--data", required=True, help="folder with labels.csv (path,writer,label,forger)")
    evaluate.add_argument("--references", type=int, default=5, help="genuine specimens enrolled per writer")
    evaluate.add_argument("--seed", type=int, default=0)
    evaluate.add_argument("--models-dir", default=None)
    evaluate.add_argument("--no-baselines", action="store_true", help="skip the ORB/correlation/SSIM baselines")
    evaluate.add_argument("--heldout", action="store_true",
                          help="only the writers the model card lists as validation writers (never trained on)")
    evaluate.add_argument("--json", action="store_true", help="print one JSON object")
    evaluate.set_defaults(func=cmd_eval)

    preprocess = commands.add_parser("preprocess", help="write every preprocessing stage of a crop as PNGs")
    preprocess.add_argument("image", help="a cropped mark (PNG, JPEG, TIFF, BMP, WebP)")
    preprocess.add_argument("--kind", default="signature", choices=["signature"])
    preprocess.add_argument("--out", required=True, help="folder for the stage images")
    preprocess.add_argument("--models-dir", default=None)
    preprocess.set_defaults(func=cmd_preprocess)

    train = commands.add_parser("train", help="train a model (see 'stampauth train signature|detector --help')",
                                add_help=False)
    train.add_argument("what", choices=["signature", "detector"])
    train.set_defaults(func=cmd_train)

    synth = commands.add_parser("synth", help="generate synthetic training data to look at or train on")
    synth.add_argument("what", choices=["documents"])
    synth.add_argument("--out", required=True, help="folder for images/, labels/ (YOLO) and classes.txt")
    synth.add_argument("--count", type=int, default=20, help="number of pages")
    synth.add_argument("--seed", type=int, default=0)
    synth.add_argument("--long-side", type=int, default=1280, help="pixels of the longer page side")
    synth.add_argument("--signatures", default="", help="a labelled signature set to take real signatures from")
    synth.add_argument("--signature-card", default="models/signature_encoder.json",
                       help="only this card's training writers are taken from --signatures")
    synth.set_defaults(func=cmd_synth)
    return parser


def main(argv=None) -> int:
    _quiet_tensorflow()
    parser = build_parser()
    args, unknown = parser.parse_known_args(argv)
    if unknown and args.command != "train":
        parser.error(f"unrecognized arguments: {' '.join(unknown)}")
    args.extra = unknown
    logging.basicConfig(level=getattr(logging, str(args.log_level).upper(), logging.INFO),
                        format="%(asctime)s %(levelname)s %(name)s %(message)s")
    try:
        return args.func(args)
    except StampAuthError as error:
        print(f"stampauth: error: {error.message}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
