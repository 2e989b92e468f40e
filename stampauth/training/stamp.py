"""Training of the stamp Siamese encoder (``stampauth train stamp``).

* Data: synthetic only, drawn fresh for every batch (:mod:`stampauth.synth.stamp_sets`): batch ``i``
  holds P new designs from ``rng(seed, i)``, each with G genuine impressions and F re-made forgeries
  (each forgery its own re-made rubber).  No design is ever seen twice, and the validation designs
  come from a stream of their own.
* Rotation: every design gets a random base angle per batch and each impression turns a little
  around it (``--jitter``).  The model learns only small-angle invariance; any angle is handled at
  inference by comparing each reference with the best of ``--views`` rotations of the query
  (:meth:`stampauth.modeling.card.MarkEncoder.embed_queries`), so fine detail is not traded for
  rotation invariance.
* Objective: multi-similarity loss over all pairs in the batch; forgeries carry labels of their own
  so they only ever act as negatives (the hard negatives of their design).
* Checkpoints every ``--checkpoint-every`` steps; a restarted run resumes where it stopped and,
  because batch ``i`` is drawn from ``rng(seed, i)``, reproduces the same run.
* At the end the thresholds (per reference count), review band and calibration are chosen on the
  validation designs, with queries at any rotation, and written with the weights into the model card.
"""

from __future__ import annotations

import argparse
import logging
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np

from stampauth.datasets import LabelledMark
from stampauth.errors import InvalidInput
from stampauth.evaluation import make_trials, run_protocol, summarize
from stampauth.preprocess import PreprocessConfig, preprocess_stamp
from stampauth.scoring import ScoringConfig, fewshot_score
from stampauth.training import run_command, save_with_card
from stampauth.training.loop import train_siamese

log = logging.getLogger("stampauth.train")
PREPROCESS = PreprocessConfig(canvas_height=128, canvas_width=128, pipeline="stamp", rotation_views=48,
                              margin_frac=0.02, min_component_frac=0.0003)
VALIDATION_STREAM = 10**9  # validation designs come from rng(seed, VALIDATION_STREAM + i): never a training batch


def stamp_canvas(design, rng: np.random.Generator, rotation_deg: float, diameter_range=(150, 300),
                 clutter: bool = True) -> np.ndarray:
    """One impression of ``design`` at ``rotation_deg``, scanned and preprocessed: ``(S, S) float32``."""
    from stampauth.synth.stamp_sets import impression

    for _ in range(3):
        crop = impression(design, rng, float(rng.uniform(*diameter_range)), rotation_deg, clutter=clutter)
        try:
            return preprocess_stamp(crop, PREPROCESS)
        except InvalidInput:  # an impression too faint to find (rare): make another
            continue
    return np.zeros((PREPROCESS.canvas_height, PREPROCESS.canvas_width), np.float32)


class StampBatches:
    """Batch ``step`` = P fresh designs x (G genuine + F forged) canvases; deterministic per step."""

    def __init__(self, seed: int, designs: int = 10, genuine: int = 3, forged: int = 3, jitter: float = 2.0,
                 clean_share: float = 0.0):
        self.seed, self.designs, self.genuine, self.forged, self.jitter = seed, designs, genuine, forged, jitter
        self.clean_share = clean_share

    def batch(self, step: int) -> tuple[np.ndarray, np.ndarray]:
        from stampauth.synth.stamp_sets import forge_design, verification_design

        rng = np.random.default_rng([self.seed, step])
        images, labels = [], []
        next_negative = -1
        for index in range(self.designs):
            design = verification_design(rng)
            base = rng.uniform(0, 360)
            # some designs on clean paper: the geometry that tells a re-made rubber apart is easier to find
            # there first, and the print-covered ones then teach the model to look past the print
            clutter = bool(rng.random() >= self.clean_share)
            for _ in range(self.genuine):
                images.append(stamp_canvas(design, rng, base + rng.uniform(-self.jitter, self.jitter), clutter=clutter))
                labels.append(index)
            for _ in range(self.forged):
                forged, _ = forge_design(design, rng)
                images.append(stamp_canvas(forged, rng, base + rng.uniform(-self.jitter, self.jitter), clutter=clutter))
                labels.append(next_negative)  # a class of its own: only ever a negative
                next_negative -= 1
        return np.stack(images)[..., None].astype(np.float32), np.array(labels, np.int32)


def validation_set(seed: int, designs: int, genuine: int = 5, forged: int = 4) -> tuple[list[LabelledMark], np.ndarray]:
    """Held-out designs at any rotation: ``(marks, canvases (n, S, S))`` in the evaluation protocol's terms."""
    from stampauth.synth.stamp_sets import forge_design, verification_design

    marks, canvases = [], []
    for index in range(designs):
        rng = np.random.default_rng([seed, VALIDATION_STREAM + index])
        design = verification_design(rng)
        name = f"v{index:04d}"
        for k in range(genuine + forged):
            made = design if k < genuine else forge_design(design, rng)[0]
            canvases.append(stamp_canvas(made, rng, rng.uniform(0, 360), (180, 320)))
            marks.append(LabelledMark(Path(f"{name}/{k}"), name, k < genuine, name if k < genuine else f"{name}-remade"))
    return marks, np.stack(canvases)


def embed_views(encoder, canvases: np.ndarray, views: int) -> tuple[np.ndarray, np.ndarray]:
    """``(n, S, S)`` -> ``(reference embeddings (n, d), query embeddings (n, views, d))`` with a Keras encoder."""
    from stampauth.modeling.card import embed_rotation_views

    queries = embed_rotation_views(lambda batch: encoder.predict(batch[..., None], batch_size=128, verbose=0),
                                   canvases, views)
    return queries[:, 0, :], queries


def protocol_eer(marks, references: np.ndarray, queries: np.ndarray, k: int, seed: int) -> dict:
    config = ScoringConfig(normalization="none")
    return summarize(run_protocol(make_trials(marks, k, seed),
                                  lambda refs, q: fewshot_score(queries[q], references[list(refs)], config)[0]))


def train(args) -> dict:
    import keras

    from stampauth.modeling.architectures import mark_encoder
    from stampauth.modeling.card import ModelCard
    from stampauth.training.signature import choose_scoring

    keras.utils.set_random_seed(args.seed)
    config = PreprocessConfig(**{**asdict(PREPROCESS), "rotation_views": args.views})
    sampler = StampBatches(args.seed, args.designs_per_batch, args.genuine_per_design, args.forged_per_design, args.jitter,
                           args.clean_share)
    started = time.time()
    val_marks, val_canvases = validation_set(args.seed, args.val_designs)
    log.info("validation: %d held-out designs, %d impressions (%.0f s)", args.val_designs, len(val_marks),
             time.time() - started)

    encoder = mark_encoder(config.canvas_height, config.canvas_width, embedding_dim=args.embedding_dim,
                           name="stamp_encoder")

    def monitor(step: int) -> None:
        quick = slice(0, 9 * min(40, args.val_designs))  # a quick look; the full set decides at the end
        refs, queries = embed_views(encoder, val_canvases[quick], args.views)
        k3 = protocol_eer(val_marks[quick], refs, queries, 3, args.seed)
        log.info("step %d validation (monitoring only) K=3 eer %.4f eer_random %.4f", step, k3["eer"], k3["eer_random"])

    train_seconds = train_siamese(encoder, sampler.batch, args.steps, args.lr, args.run_dir, args.checkpoint_every,
                                  args.log_every, monitor, args.workers)

    references, queries = embed_views(encoder, val_canvases, args.views)
    # References of a stamp are pressed at different angles, so their mutual similarities say little:
    # plain mean similarity (no normalisation by the references' spread).
    scoring, report = choose_scoring(val_marks, references, 0.8, 0.1, args.seed, queries=queries,
                                     candidates=[("none", 2, "mean")])
    log.info("scoring chosen on validation designs: %s; %s", scoring, report)

    card = save_with_card(encoder, args.out, "stamp_encoder", "stamp", lambda version: ModelCard(
        name="stamp_encoder",
        kind="stamp",
        version=version,
        embedding_dim=args.embedding_dim,
        preprocess=config,
        scoring=scoring,
        input_normalization="stamp ink (one colour, chroma-separated; darkness for black stamps) in [0, 1], "
                            "paper = 0; the ink's minimum enclosing circle scaled to the canvas, centred",
        training={
            "data": "synthetic stamps (stampauth.synth.stamp_sets), fresh designs every batch",
            "seed": args.seed,
            "steps": args.steps,
            "batch": f"{args.designs_per_batch} designs x ({args.genuine_per_design} genuine + "
                     f"{args.forged_per_design} re-made forgeries), rotation base + U(-{args.jitter}, {args.jitter}) deg, "
                     f"{args.clean_share:.0%} of designs on clean paper",
            "validation": f"{args.val_designs} held-out designs x (5 genuine + 4 forged), any rotation",
            "loss": "multi-similarity (alpha 2, beta 40, base 0.5), forgeries as negatives only",
            "optimizer": f"AdamW lr {args.lr} cosine decay, weight decay 1e-4",
            "parameters": int(encoder.count_params()),
            "train_seconds": round(train_seconds, 1),
            "command": (f"stampauth train stamp --seed {args.seed} --steps {args.steps} --lr {args.lr}"
                        f" --designs-per-batch {args.designs_per_batch} --genuine-per-design {args.genuine_per_design}"
                        f" --forged-per-design {args.forged_per_design} --jitter {args.jitter} --views {args.views}"
                        f" --clean-share {args.clean_share}"
                        f" --val-designs {args.val_designs}"),
            "scoring_on_validation": report,
        },
    ))
    return asdict(card)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", default="models", help="where the .keras file and its card go")
    parser.add_argument("--run-dir", default="runs/stamp", help="checkpoints (resume from here)")
    parser.add_argument("--seed", type=int, default=4321)
    parser.add_argument("--steps", type=int, default=2800)
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--designs-per-batch", type=int, default=10)
    parser.add_argument("--genuine-per-design", type=int, default=3)
    parser.add_argument("--forged-per-design", type=int, default=3)
    parser.add_argument("--jitter", type=float, default=2.0, help="+- degrees each impression turns around its design's angle")
    parser.add_argument("--views", type=int, default=48, help="rotations of a query compared with each reference "
                        "(48: 7.5 degrees apart, so the best view is within 3.75 degrees)")
    parser.add_argument("--clean-share", type=float, default=0.35, help="share of designs per batch on clean paper")
    parser.add_argument("--val-designs", type=int, default=120)
    parser.add_argument("--embedding-dim", type=int, default=128)
    parser.add_argument("--workers", type=int, default=2, help="threads drawing batches ahead")
    parser.add_argument("--log-every", type=int, default=25)
    parser.add_argument("--checkpoint-every", type=int, default=250)


def main(argv=None) -> None:
    run_command("stamp", __doc__.splitlines()[0], add_arguments, train, "scoring", argv)


if __name__ == "__main__":
    main()
