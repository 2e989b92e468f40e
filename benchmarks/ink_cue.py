"""Does the signature model lean on how dark the ink is, rather than on the shape of the writing?

In a collection where the forgers wrote with other pens than the writers (or were scanned otherwise), the ink's
darkness alone tells forgeries apart; a model can learn that and look better on that collection than it will be
on documents, where one writer's genuine signatures come from many pens. This prints, for a labelled set:

* ``ink_statistic_eer``: the EER of one number per crop, the spread (standard deviation) of the ink's darkness
  relative to the paper, genuine against skilled forgeries over the whole set (no references): near 0.5 when the
  ink says nothing, near 0 when the collection gives forgeries away by their ink;
* ``model``: the shipped model's skilled-forgery EER (mean over reference draws) on the crops as they are, and on
  the same crops with the ink made uniform (Otsu binarised, every ink pixel black): how much of its accuracy
  rests on the grey levels.

    python benchmarks/ink_cue.py --data ../shared/data/signatures/sigcomp2011-dutch --heldout --json
"""

from __future__ import annotations

import argparse
import json

import cv2
import numpy as np


def ink_darkness_spread(gray: np.ndarray) -> float:
    """``(H, W) uint8`` crop -> standard deviation of the ink pixels' darkness, as a share of the paper's level."""
    _, ink = cv2.threshold(gray, 0, 255, cv2.THRESH_BINARY_INV + cv2.THRESH_OTSU)
    mask = cv2.morphologyEx(ink, cv2.MORPH_OPEN, np.ones((2, 2), np.uint8)) > 0
    if not mask.any() or mask.all():
        return 0.0
    paper = float(np.median(gray[~mask]))
    darkness = (paper - gray[mask].astype(np.float32)) / max(paper, 1.0)
    return float(darkness.std())


def binarised(gray: np.ndarray) -> np.ndarray:
    """The crop with uniform ink: Otsu threshold, ink 0, paper 255."""
    _, out = cv2.threshold(gray, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    return out


def main(argv=None) -> dict:
    from stampauth.datasets import read_gray, read_labels
    from stampauth.evaluation import make_trials, run_protocol
    from stampauth.modeling.card import load_encoder
    from stampauth.scoring import equal_error_rate, fewshot_score

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", required=True, help="a labelled signature set (labels.csv: path,writer,label,forger)")
    parser.add_argument("--heldout", action="store_true", help="only the model card's validation writers")
    parser.add_argument("--references", type=int, nargs="+", default=[1, 5])
    parser.add_argument("--draws", type=int, default=5, help="reference draws (seeds 0..N-1) averaged")
    parser.add_argument("--models-dir", default=None)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)

    marks = read_labels(args.data)
    encoder = load_encoder("signature", args.models_dir)
    if args.heldout:
        heldout = set(encoder.card.training.get("validation_writers", []))
        marks = [mark for mark in marks if mark.writer in heldout]
    images = [read_gray(mark.path) for mark in marks]
    genuine = np.array([mark.genuine for mark in marks])
    spread = np.array([ink_darkness_spread(image) for image in images])
    # one global statistic, no references: a darker, more varied ink counts as "forged" (the sign that the
    # collection's forgeries show, if any; the lower of the two signs' EERs is reported)
    statistic_eer = min(equal_error_rate(list(-spread[genuine]), list(-spread[~genuine]))[0],
                        equal_error_rate(list(spread[genuine]), list(spread[~genuine]))[0])
    report = {"data": args.data, "n_genuine": int(genuine.sum()), "n_forged": int((~genuine).sum()),
              "ink_spread_genuine_mean": round(float(spread[genuine].mean()), 4),
              "ink_spread_forged_mean": round(float(spread[~genuine].mean()), 4),
              "ink_statistic_eer": round(float(statistic_eer), 4), "model": {}}
    for name, transform in (("as_scanned", lambda g: g), ("uniform_ink", binarised)):
        canvases = np.stack([encoder.preprocess(transform(image)) for image in images])
        embeddings = encoder.embed_queries(canvases)[:, 0, :]
        row = {}
        for k in args.references:
            eers = []
            for seed in range(args.draws):
                scores = run_protocol(make_trials(marks, k, seed), lambda refs, q: fewshot_score(
                    embeddings[q], embeddings[list(refs)], encoder.card.scoring)[0])
                eers.append(equal_error_rate(scores.genuine, scores.skilled)[0])
            row[f"eer_k{k}"] = round(float(np.mean(eers)), 4)
        report["model"][name] = row
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        for key, value in report.items():
            print(f"{key}: {value}")
    return report


if __name__ == "__main__":
    main()
