"""Training data pipelines and training loops (used by ``stampauth train``)."""

from __future__ import annotations

import argparse
import json
import logging
import os


def run_command(what: str, description: str, add_arguments, train, report: str, argv=None) -> None:
    """``stampauth train WHAT``: parse ``argv``, log to stderr, train, print the card's ``report`` section."""
    parser = argparse.ArgumentParser(prog=f"stampauth train {what}", description=description)
    add_arguments(parser)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    print(json.dumps(train(args)[report], indent=2))


def save_with_card(model, out_dir, file_stem: str, version_prefix: str, make_card):
    """Write ``out_dir/<file_stem>.keras`` and its card ``<file_stem>.json``; returns the card.

    The version is ``<prefix>-<date>-<first 12 hex of the weights' SHA-256>``; ``make_card(version)``
    builds the card (anything with ``to_json``) once the weights, and so the version, exist.
    """
    import time
    from pathlib import Path

    from stampauth.modeling.card import weights_digest

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    weights = out / f"{file_stem}.keras"
    model.save(weights)
    card = make_card(f"{version_prefix}-{time.strftime('%Y%m%d')}-{weights_digest(weights)}")
    (out / f"{file_stem}.json").write_text(card.to_json() + "\n")
    logging.getLogger("stampauth.train").info("wrote %s and its card, version %s", weights, card.version)
    export_litert(out, file_stem)
    return card


def export_litert(out_dir, file_stem: str) -> None:
    """The LiteRT export the server runs the model with (recorded in the card); without it the model is served by
    Keras, which works but is slower, so a failed export is a warning, not a failed training."""
    from stampauth.modeling.litert import export_model, export_specs

    log = logging.getLogger("stampauth.train")
    for spec in export_specs(out_dir):
        if spec.stem == file_stem:
            try:
                record = export_model(out_dir, spec)
                log.info("exported %s (max abs difference to Keras %.2g)", record["file"], record["max_abs_diff"])
            except Exception:  # noqa: BLE001 - serving falls back to Keras
                log.warning("LiteRT export of %s failed; it will be served with Keras (run "
                            "'python -m stampauth.modeling.litert export --models-dir %s' to retry)",
                            file_stem, out_dir, exc_info=True)
