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
