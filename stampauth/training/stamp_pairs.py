"""A pairwise stamp model on *registered* impressions (``stampauth train stamp-pairs``).

It writes a model and a report into ``--run-dir`` and compares it, on the same validation designs and trials, with
the shipped stamp encoder and with a classical score (:func:`stampauth.alignment.ink_outside`). With
``--models-dir`` it also ships it there in its served, one-input form (:mod:`stampauth.modeling.pair`:
``stamp_pair.keras``, its card ``stamp_pair.json`` with the report, and the LiteRT export); the overlay check
weights it once ``stampauth train stamp-overlay`` has fitted the weight.

* Data (:func:`design_pairs`): per design from ``rng(seed, i)``, 4 genuine impressions and 3 re-made copies at any
  angle and size, preprocessed onto ``--canvas`` pixels; 4 genuine pairs and 4 genuine/re-made pairs, each query
  registered onto its reference (:func:`stampauth.alignment.align_to`), and 2 pairs with an impression of another
  design as the negative (so the model also rejects a different stamp); with ``--other-stamp-share`` that share of
  impressions has another stamp overlapping it. Cached in ``--run-dir`` as ``uint8``.
* Model: :func:`stampauth.modeling.architectures.stamp_pair_model`, binary cross-entropy on "the same rubber",
  random quarter turns, mirror images and role swaps of a pair, +-1 pixel of registration jitter.
* Validation: ``--val-designs`` designs written by :func:`stampauth.synth.stamp_sets.write_stamp_set` with a seed
  no training design uses; the protocol of ``stampauth eval stamps`` (K references, seed 0) with ``--other-per-design``
  other designs' impressions per design instead of all of them (every pair costs a registration).
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from pathlib import Path

import numpy as np

log = logging.getLogger("stampauth.train")
VALIDATION_SEED_OFFSET = 10**6  # validation set seed = seed + this; training designs use rng([seed, i])
PAIRS_PER_DESIGN = 10


def _config(canvas: int):
    from stampauth.preprocess import PreprocessConfig

    return PreprocessConfig(canvas_height=canvas, canvas_width=canvas, pipeline="stamp", min_component_frac=0.0003)


def design_pairs(seed: int, index: int, canvas: int, other_stamp_share: float = 0.0
                 ) -> tuple[np.ndarray, np.ndarray] | None:
    """Design ``index`` of stream ``seed`` -> ``(pairs (10, S, S, 2) uint8, labels (10,) uint8)`` (channel 0 the
    reference, 1 the registered query; label 1 = the same rubber), or None when an impression showed no ink.
    ``other_stamp_share``: the share of impressions that another stamp overlaps
    (:func:`stampauth.synth.stamp_sets.place_on_paper`)."""
    import cv2

    from stampauth.alignment import align_to
    from stampauth.errors import InvalidInput
    from stampauth.preprocess import preprocess_stamp
    from stampauth.synth.stamp_sets import forge_design, impression, verification_design

    cv2.setNumThreads(1)
    config = _config(canvas)
    rng = np.random.default_rng([seed, index])
    design = verification_design(rng)

    def canvas_of(d):
        crop = impression(d, rng, int(rng.integers(180, 321)), float(rng.uniform(0, 360)),
                          other_stamp_probability=other_stamp_share)
        try:
            return preprocess_stamp(crop, config)
        except InvalidInput:
            return None

    genuine = [canvas_of(design) for _ in range(4)]
    forged = [canvas_of(forge_design(design, rng)[0]) for _ in range(3)]
    other = canvas_of(verification_design(rng))
    if any(c is None for c in genuine + forged + [other]):
        return None
    plan = [(genuine[a], genuine[b], 1) for a, b in ((0, 1), (0, 2), (1, 3), (2, 3))]
    plan += [(genuine[a], forged[b], 0) for a, b in ((0, 0), (1, 1), (2, 2), (3, 0))]
    plan += [(genuine[0], other, 0), (other, genuine[3], 0)]
    pairs = np.stack([np.stack([ref, align_to(query, ref).aligned], axis=-1) for ref, query, _ in plan])
    return np.clip(pairs * 255 + 0.5, 0, 255).astype(np.uint8), np.array([label for *_, label in plan], np.uint8)


def _pairs_worker(job):
    return design_pairs(*job)


def cached_pairs(path: Path, seed: int, designs: int, canvas: int, workers: int, other_stamp_share: float = 0.0
                 ) -> tuple[np.ndarray, np.ndarray]:
    """All designs' pairs, drawn once with ``workers`` processes and cached at ``path`` (``.npz``, named by the caller
    after seed, canvas, design count and the other-stamp share)."""
    if path.exists():  # the file name holds what the pairs depend on
        data = np.load(path)
        return data["pairs"], data["labels"]
    from multiprocessing import get_context

    started = time.perf_counter()
    with get_context("spawn").Pool(max(1, workers)) as pool:
        jobs = [(seed, i, canvas, other_stamp_share) for i in range(designs)]
        results = [r for r in pool.imap(_pairs_worker, jobs, chunksize=8)
                   if r is not None]
    pairs, labels = np.concatenate([r[0] for r in results]), np.concatenate([r[1] for r in results])
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, pairs=pairs, labels=labels)
    log.info("drew %d pairs of %d designs in %.0f s", len(labels), designs, time.perf_counter() - started)
    return pairs, labels


def augment_pairs(pairs: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """``(B, S, S, 2) uint8`` -> ``float32`` in [0, 1]: the same quarter turn and mirror for both canvases of a pair,
    the roles swapped half the time, the query shifted by up to a pixel (registration is never exact)."""
    out = np.empty(pairs.shape, np.float32)
    for b, pair in enumerate(pairs.astype(np.float32) / 255.0):
        pair = np.rot90(pair, int(rng.integers(4)))
        if rng.random() < 0.5:
            pair = pair[:, ::-1]
        if rng.random() < 0.5:
            pair = pair[..., ::-1]
        dy, dx = (int(v) for v in rng.integers(-1, 2, 2))
        out[b, ..., 0] = pair[..., 0]
        out[b, ..., 1] = np.roll(pair[..., 1], (dy, dx), axis=(0, 1))
    return out


def _fit(args, pairs: np.ndarray, labels: np.ndarray, run_dir: Path):
    import keras

    from stampauth.modeling.architectures import stamp_pair_model

    checkpoint, state_path = run_dir / "checkpoint.keras", run_dir / "checkpoint.json"
    start = 0
    if checkpoint.exists() and state_path.exists():
        model = keras.saving.load_model(checkpoint, compile=True)
        start = int(json.loads(state_path.read_text())["step"])
        log.info("resuming from step %d", start)
    else:
        model = stamp_pair_model(args.canvas)
        schedule = keras.optimizers.schedules.CosineDecay(0.0, args.steps, alpha=0.02, warmup_target=args.lr,
                                                          warmup_steps=min(150, args.steps // 5))
        model.compile(keras.optimizers.AdamW(schedule, weight_decay=1e-4),
                      keras.losses.BinaryCrossentropy(from_logits=True))
    started = time.perf_counter()
    for step in range(start, args.steps):
        rng = np.random.default_rng([args.seed, 7, step])  # batch i from rng(seed, i): a resumed run is the same run
        index = rng.integers(0, len(labels), args.batch)
        batch = augment_pairs(pairs[index], rng)
        loss = float(model.train_on_batch([batch[..., :1], batch[..., 1:]], labels[index].astype(np.float32)))
        if (step + 1) % args.log_every == 0:
            log.info("step %d/%d loss %.4f (%.2f s/step)", step + 1, args.steps, loss,
                     (time.perf_counter() - started) / (step + 1 - start))
        if (step + 1) % args.checkpoint_every == 0 or step + 1 == args.steps:
            model.save(checkpoint)
            state_path.write_text(json.dumps({"step": step + 1}))
    return model, time.perf_counter() - started


def compare_on_validation(model, val_dir: Path, canvas: int, references: int, other_per_design: int,
                          models_dir=None) -> dict:
    """The pair model, the classical ink-outside score and the shipped encoder on the same trials."""
    from stampauth.alignment import align_to, ink_outside
    from stampauth.datasets import read_colour, read_labels
    from stampauth.errors import InvalidInput
    from stampauth.evaluation import fewer_others, make_trials, run_protocol, summarize
    from stampauth.modeling.card import load_encoder
    from stampauth.preprocess import preprocess_stamp
    from stampauth.scoring import fewshot_score

    marks = read_labels(val_dir)
    images = [read_colour(mark.path) for mark in marks]
    config = _config(canvas)

    def canvas_of(image):
        try:
            return preprocess_stamp(image, config)
        except InvalidInput:
            return np.zeros((canvas, canvas), np.float32)

    canvases = [canvas_of(image) for image in images]
    trials = fewer_others(make_trials(marks, references, seed=0), other_per_design)

    pair_cache: dict[tuple[tuple[int, ...], int], tuple[float, float]] = {}
    registered_cache: dict[tuple[int, ...], np.ndarray] = {}

    def registered(refs: tuple[int, ...]) -> np.ndarray:
        """``(K, S, S)``: a trial's references registered onto its first one (shared by all its queries)."""
        if refs not in registered_cache:
            frame = canvases[refs[0]]
            registered_cache[refs] = np.stack([frame] + [align_to(canvases[r], frame).aligned for r in refs[1:]])
        return registered_cache[refs]

    def pair_scores(refs: tuple[int, ...], q: int) -> tuple[float, float]:
        if (refs, q) not in pair_cache:
            aligned = [align_to(canvases[q], canvases[r]).aligned for r in refs]
            batch = np.stack([np.stack([canvases[r], a], -1) for r, a in zip(refs, aligned)])
            batch = np.round(batch * 255) / 255  # as the training cache holds them
            logits = model.predict_on_batch([batch[..., :1], batch[..., 1:]])[:, 0]
            # aligned[0] is the query registered onto refs[0], the frame of registered(refs)
            pair_cache[(refs, q)] = (float(np.mean(logits)), -ink_outside(aligned[0], registered(refs)))
        return pair_cache[(refs, q)]

    started = time.perf_counter()
    pair = summarize(run_protocol(trials, lambda refs, q: pair_scores(refs, q)[0]))
    pair_seconds = time.perf_counter() - started
    classical = summarize(run_protocol(trials, lambda refs, q: pair_scores(refs, q)[1]))
    encoder = load_encoder("stamp", models_dir, with_pair_model=False)
    queries = encoder.embed_queries(np.stack([encoder.preprocess(image) for image in images]))
    embeddings = queries[:, 0, :]
    shipped = summarize(run_protocol(trials, lambda refs, q: fewshot_score(queries[q], embeddings[list(refs)],
                                                                            encoder.card.scoring)[0]))
    keys = ("eer", "eer_random", "auc", "n_genuine", "n_forged", "n_random")
    n_pairs = len(pair_cache)
    return {
        "references": references,
        "designs": len(trials),
        "pair_model": {k: pair[k] for k in keys},
        "classical_ink_outside": {k: classical[k] for k in keys},
        "shipped_encoder": {k: shipped[k] for k in keys} | {"version": encoder.version},
        "ms_per_query": round(1000 * pair_seconds / max(1, n_pairs), 1),
    }


def train(args) -> dict:
    from stampauth.synth.stamp_sets import write_stamp_set

    run_dir = Path(args.run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    overlap = f"-other{args.other_stamp_share:g}" if args.other_stamp_share else ""  # older caches keep their names
    pairs, labels = cached_pairs(run_dir / f"pairs-{args.canvas}-{args.seed}-{args.designs}{overlap}.npz", args.seed,
                                 args.designs, args.canvas, args.workers, args.other_stamp_share)
    log.info("%d pairs, %.0f %% of the same rubber", len(labels), 100 * labels.mean())
    model, seconds = _fit(args, pairs, labels, run_dir)
    model.save(run_dir / "stamp_pair.keras")
    val_dir = run_dir / f"validation-{args.seed + VALIDATION_SEED_OFFSET}-{args.val_designs}"
    if not (val_dir / "labels.csv").exists():
        write_stamp_set(val_dir, args.val_designs, args.seed + VALIDATION_SEED_OFFSET)
    report_path = run_dir / "report.json"
    command = (f"stampauth train stamp-pairs --seed {args.seed} --designs {args.designs} --canvas {args.canvas}"
               f" --steps {args.steps} --batch {args.batch} --lr {args.lr} --val-designs {args.val_designs}"
               + (f" --other-stamp-share {args.other_stamp_share:g}" if args.other_stamp_share else ""))
    report = json.loads(report_path.read_text()) if report_path.exists() else {}
    if report.get("command") != command:  # a finished run asked again (e.g. with --eval-data) keeps its validation
        report = {
            "command": command,
            "pairs": int(len(labels)),
            "parameters": int(model.count_params()),
            "train_seconds": round(seconds, 1),
            "validation": [compare_on_validation(model, val_dir, args.canvas, k, args.other_per_design)
                           for k in args.references],
        }
    if args.eval_data:  # a held-out set in the layout of 'stampauth eval stamps'
        report.setdefault("evaluation", {})[str(args.eval_data)] = [
            compare_on_validation(model, Path(args.eval_data), args.canvas, k, args.other_per_design)
            for k in args.references]
    report_path.write_text(json.dumps(report, indent=2) + "\n")
    if args.models_dir:
        report["shipped"] = ship(model, Path(args.models_dir), args.canvas, report)
    return {"report": report}


def ship(model, models_dir: Path, canvas: int, report: dict) -> str:
    """``model`` (two inputs) -> ``models_dir/stamp_pair.{keras,json,tflite}`` in its served one-input form; returns
    the version."""
    from stampauth.modeling.architectures import one_input_pair_model
    from stampauth.modeling.pair import PAIR_STEM, PairCard
    from stampauth.training import save_with_card

    training = {"command": f"{report['command']} --models-dir {models_dir}", "pairs": report["pairs"], "parameters": report["parameters"],
                "train_seconds": report["train_seconds"], "date": time.strftime("%Y-%m-%d"),
                "data": "synthetic stamp designs (stampauth.synth.stamp_sets), none of them in any evaluation set"}
    card = save_with_card(one_input_pair_model(model), models_dir, PAIR_STEM, "stamp-pair",
                          lambda version: PairCard(name=PAIR_STEM, version=version, canvas=canvas, training=training,
                                                   metrics={"validation": report["validation"]}))
    return card.version


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--run-dir", default="runs/stamp-pairs", help="pair cache, checkpoints, model and report")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--designs", type=int, default=2400, help="training designs (10 pairs each)")
    parser.add_argument("--canvas", type=int, default=192)
    parser.add_argument("--other-stamp-share", type=float, default=0.0,
                        help="share of training impressions that another stamp (another ink) overlaps")
    parser.add_argument("--steps", type=int, default=3000)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--val-designs", type=int, default=120)
    parser.add_argument("--references", type=int, nargs="+", default=[1, 3])
    parser.add_argument("--other-per-design", type=int, default=8, help="other designs' impressions scored per design")
    parser.add_argument("--eval-data", default="", help="also compare on this set (labels.csv, as 'eval stamps' reads); "
                        "a finished run only evaluates")
    parser.add_argument("--models-dir", default="", help="also ship the model there (e.g. models): weights, card, "
                        "LiteRT export")
    parser.add_argument("--workers", type=int, default=2, help="processes drawing the pairs")
    parser.add_argument("--log-every", type=int, default=50)
    parser.add_argument("--checkpoint-every", type=int, default=250)


def main(argv=None) -> None:
    from stampauth.training import run_command

    run_command("stamp-pairs", __doc__.splitlines()[0], add_arguments, train, "report", argv)


if __name__ == "__main__":
    main()
