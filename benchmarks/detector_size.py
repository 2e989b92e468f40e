"""The detector's accuracy/speed curve over its input size (the page's longer side after downscaling).

    python benchmarks/detector_size.py --data ../shared/data/documents/signature-detection \
        --data ../shared/data/documents/stamp-detection [--sizes 384 448 512 576 640 768] [--json]

For each input size: AP@0.5 per kind on each labelled set (``stampauth eval detection``'s protocol, no baseline)
and the milliseconds to detect on a generated 300-dpi A4 page decoded at the working size the service uses
(downscale + model + decoding of its output; median of 15 after a warm-up). The shipped size is the card's
``input_long_side``; this is the measurement it is chosen by.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def page_ms(sizes: list[int], repeats: int = 15) -> dict[int, float]:
    """ms per detection of a 300-dpi A4 JPEG page as the service decodes it (1/2 size)."""
    import cv2

    from stampauth.detection.detector import load_detector
    from stampauth.io import decode_document
    from stampauth.service import StampAuth
    from stampauth.synth.documents import generate_page

    page = generate_page(np.random.default_rng(7), None, long_side=3508, square_probability=0.0).image
    page = cv2.resize(page, (2480, 3508))
    content = cv2.imencode(".jpg", page, [cv2.IMWRITE_JPEG_QUALITY, 90])[1].tobytes()
    image = decode_document(content, working_long_side=StampAuth.WORKING_LONG_SIDE)[0].image
    detector = load_detector()
    card = detector.card
    result = {}
    for size in sizes:
        detector.card = replace(card, input_long_side=size)
        detector.detect(image)
        times = []
        for _ in range(repeats):
            started = time.perf_counter()
            detector.detect(image)
            times.append(1000 * (time.perf_counter() - started))
        result[size] = round(float(np.median(times)), 1)
    detector.card = card
    return result


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", action="append", default=[], help="a labelled page set (repeatable)")
    parser.add_argument("--sizes", type=int, nargs="+", default=[384, 448, 512, 576, 640, 768])
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)

    from stampauth.detection.detector import load_detector
    from stampauth.detection.evaluate import evaluate_detection

    shipped = load_detector().card.input_long_side
    speed = page_ms(args.sizes)
    rows = []
    for size in args.sizes:
        row = {"input_long_side": size, "ms_per_a4_page": speed[size], "shipped": size == shipped}
        for data in args.data:
            result = evaluate_detection(data, baseline=False, input_long_side=size)
            name = Path(data).name
            for kind, figures in result.items():
                if isinstance(figures, dict) and "ap50" in figures and figures.get("n_boxes", 0):
                    row[f"{name}/{kind}/ap50"] = round(figures["ap50"], 4)
        rows.append(row)
        if not args.json:
            print(json.dumps(row))
    if args.json:
        print(json.dumps({"shipped_input_long_side": shipped, "curve": rows}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
