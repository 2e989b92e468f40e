"""Training of the signature Siamese encoder (``stampauth train signature``).

* Data: a labelled set (``labels.csv``), split by writer; the validation writers never
  reach training.  Crops are cached once (cropped to ink, at twice the canvas size).
* Batches: P writers x (G genuine + F skilled forgeries).  Genuine marks carry their writer's
  label; each forgery carries a label of its own, so forgeries only ever act as negatives:
  the hard negatives of their writer.
* Objective: multi-similarity loss on the cosine similarities of all pairs in the batch
  (a Siamese objective over every pair the shared encoder sees).
* Checkpoints every ``--checkpoint-every`` steps; a restarted run resumes where it stopped and,
  because batch ``i`` is drawn from ``rng(seed, i)``, reproduces the same run.
* At the end the scoring (normalisation, threshold, review band, calibration) is chosen on the
  validation writers and written with the weights into the model card.
* ``stampauth train signature-ensemble --members A B``: runs of this recipe with other training seeds and one
  writer split (``--split-seed``) joined into one model whose similarity is the mean of theirs; its scoring is
  chosen the same way (:func:`ensemble`).
"""

from __future__ import annotations

import argparse
import hashlib
import logging
import pickle
from dataclasses import asdict, replace
from pathlib import Path

import cv2
import numpy as np

from stampauth.datasets import LabelledMark, read_gray, read_labels, split_writers
from stampauth.errors import InvalidInput
from stampauth.evaluation import make_trials, run_protocol, summarize
from stampauth.preprocess import PreprocessConfig, clean_ink_mask, ink_bbox, preprocess_mark
from stampauth.scoring import ScoringConfig, fewshot_score, fit_calibration
from stampauth.synth.signatures import forgery_of, random_style, render_signature
from stampauth.training import run_command, save_with_card
from stampauth.training.loop import train_siamese
from stampauth.training.augment import BINARIZE_SHARE, apply_writer_style, augment_mark, imitate, writer_style

log = logging.getLogger("stampauth.train")
PREPROCESS = PreprocessConfig(canvas_height=80, canvas_width=160, remove_rules=True)


def crop_for_cache(gray: np.ndarray, config: PreprocessConfig, margin: float = 0.08) -> np.ndarray:
    """Raw scan -> ink region with a margin, shrunk to fit twice the canvas.  ``(h, w) uint8``."""
    _, mask = clean_ink_mask(gray, config)
    box = ink_bbox(mask)
    if box is not None:
        x0, y0, x1, y1 = box
        pad = int(margin * max(x1 - x0, y1 - y0))
        gray = gray[max(0, y0 - pad) : y1 + pad, max(0, x0 - pad) : x1 + pad]
    h, w = gray.shape
    scale = min(1.0, 2 * config.canvas_height / h, 2 * config.canvas_width / w)
    if scale < 1.0:
        gray = cv2.resize(gray, (max(1, int(w * scale)), max(1, int(h * scale))), interpolation=cv2.INTER_AREA)
    return gray


def load_cached_crops(marks: list[LabelledMark], config: PreprocessConfig, cache_dir: Path | None) -> list[np.ndarray]:
    digest = hashlib.sha256("\n".join(str(m.path) for m in marks).encode()).hexdigest()[:12]
    settings = hashlib.sha256(repr(config).encode()).hexdigest()[:8]
    key = f"crops_{config.canvas_height}x{config.canvas_width}_{settings}_{digest}.pkl"
    if cache_dir is not None:
        cache_file = cache_dir / key
        if cache_file.exists():
            return pickle.loads(cache_file.read_bytes())
    crops = [crop_for_cache(read_gray(mark.path), config) for mark in marks]
    if cache_dir is not None:
        cache_dir.mkdir(parents=True, exist_ok=True)
        cache_file.write_bytes(pickle.dumps(crops))
    return crops


class BatchSampler:
    """Batch ``step`` = P writers x (G genuine + F forged), augmented; deterministic per step."""

    def __init__(self, marks, crops, writers, config, seed, writers_per_batch=8, genuine=4, forged=2, imitations=0,
                 new_writer_prob=0.0, synthetic_writers=0, forger_classes=False, binarize=BINARIZE_SHARE):
        self.crops, self.config, self.seed = crops, config, seed
        self.binarize = binarize  # chance that a scanned mark ends fax-like binarised (augment.scan_effects)
        self.synthetic_writers = synthetic_writers
        self.writers_per_batch, self.n_genuine, self.n_forged = writers_per_batch, genuine, forged
        self.n_imitations, self.new_writer_prob = imitations, new_writer_prob
        self.genuine = {w: [i for i, m in enumerate(marks) if m.writer == w and m.genuine] for w in writers}
        self.forged = {w: [i for i, m in enumerate(marks) if m.writer == w and not m.genuine] for w in writers}
        # forger_classes: a writer's forgeries come from one forger per batch and share a label of their own (still
        # never the writer's), so the loss also sees one hand imitating one signature several times: what tells
        # hands apart when the shape is the same
        self.forger_classes = forger_classes
        self.forgers = {i: m.forger for i, m in enumerate(marks) if not m.genuine}
        self.writers = sorted(writers)

    def canvas(self, index: int, rng: np.random.Generator, imitation: bool = False, style: dict | None = None) -> np.ndarray:
        try:
            crop = apply_writer_style(self.crops[index], style) if style else self.crops[index]
            crop = imitate(crop, rng) if imitation else crop
            return preprocess_mark(augment_mark(crop, rng, binarize=self.binarize), self.config)
        except InvalidInput:  # augmentation wiped the ink out (rare): use the clean crop
            return preprocess_mark(self.crops[index], self.config)

    def batch(self, step: int) -> tuple[np.ndarray, np.ndarray]:
        rng = np.random.default_rng([self.seed, step])
        chosen = rng.choice(self.writers, size=self.writers_per_batch, replace=False)
        images, labels = [], []
        next_negative = -1
        for writer_index, writer in enumerate(chosen):
            # sometimes the writer's marks are all restyled alike: a new identity (labels are per batch)
            style = writer_style(rng) if rng.random() < self.new_writer_prob else None
            genuine = rng.choice(self.genuine[writer], size=self.n_genuine, replace=len(self.genuine[writer]) < self.n_genuine)
            for index in genuine:
                images.append(self.canvas(int(index), rng, style=style))
                labels.append(writer_index)
            if self.forged[writer] and self.n_forged:
                pool = self.forged[writer]
                if self.forger_classes:
                    forgers = sorted({self.forgers[i] for i in pool})
                    forger = forgers[int(rng.integers(len(forgers)))]
                    pool = [i for i in pool if self.forgers[i] == forger]
                for index in rng.choice(pool, size=self.n_forged, replace=len(pool) < self.n_forged):
                    images.append(self.canvas(int(index), rng, style=style))
                    labels.append(next_negative)  # a class of its own: only ever a negative
                    if not self.forger_classes:
                        next_negative -= 1
                if self.forger_classes:
                    next_negative -= 1  # one class for this forger's imitations of this writer
            for index in rng.choice(self.genuine[writer], size=self.n_imitations):
                images.append(self.canvas(int(index), rng, imitation=True, style=style))
                labels.append(next_negative)
                next_negative -= 1
        for k in range(self.synthetic_writers):
            # a writer simulated from pen trajectories, with skilled forgeries of their style
            writer_style_ = random_style(rng)
            for _ in range(self.n_genuine):
                images.append(self.synthetic_canvas(writer_style_, rng))
                labels.append(self.writers_per_batch + k)
            for _ in range(self.n_forged):
                images.append(self.synthetic_canvas(forgery_of(writer_style_, rng), rng))
                labels.append(next_negative)
                next_negative -= 1
        return np.stack(images)[..., None].astype(np.float32), np.array(labels, np.int32)

    def synthetic_canvas(self, style, rng: np.random.Generator) -> np.ndarray:
        coverage = render_signature(style, rng, height_px=int(rng.integers(60, 150)))
        gray = (255.0 - coverage * rng.uniform(150, 235)).astype(np.uint8)
        gray = np.pad(gray, int(rng.integers(4, 20)), constant_values=255)
        try:
            return preprocess_mark(augment_mark(gray, rng, binarize=self.binarize), self.config)
        except InvalidInput:
            return preprocess_mark(gray, self.config)


def multi_similarity_loss(embeddings, labels, alpha=2.0, beta=40.0, base=0.5):
    """Wang et al. 2019, without mining.  ``embeddings (B, d)`` unit vectors, ``labels (B,)``."""
    import tensorflow as tf

    similarity = tf.matmul(embeddings, embeddings, transpose_b=True)
    same = tf.equal(labels[:, None], labels[None, :])
    eye = tf.eye(tf.shape(labels)[0], dtype=tf.bool)
    positive = tf.logical_and(same, tf.logical_not(eye))
    negative = tf.logical_not(same)
    pos_term = tf.reduce_sum(tf.where(positive, tf.exp(-alpha * (similarity - base)), 0.0), axis=1)
    neg_term = tf.reduce_sum(tf.where(negative, tf.exp(beta * (similarity - base)), 0.0), axis=1)
    has_positive = tf.cast(tf.reduce_any(positive, axis=1), tf.float32)
    loss_pos = tf.math.log1p(pos_term) / alpha * has_positive
    loss_neg = tf.math.log1p(neg_term) / beta
    return tf.reduce_mean(loss_pos + loss_neg)


def embed_clean(encoder, crops, indices, config) -> np.ndarray:
    canvases = np.stack([preprocess_mark(crops[i], config) for i in indices])[..., None]
    return encoder.predict(canvases, batch_size=64, verbose=0)


def choose_scoring(val_marks, val_embeddings, prior_mean, prior_std, seed, queries=None,
                   candidates=None) -> tuple[ScoringConfig, dict]:
    """Pick normalisation, thresholds, review band and calibration on the validation writers.

    ``val_embeddings (n, d)`` serve as references; queries are the same embeddings unless
    ``queries (n, views, d)`` gives several views of each (stamps at several rotations).

    Candidates (normalisation, references from which it applies, reference pooling) are compared by their mean
    skilled-forgery EER over K = 1, 2, 3 and 5 references.  The threshold for each K is that K's EER point (K = 3 also serves 4, and
    K = 5 every larger count); the calibration is fitted on all scores relative to their threshold.
    """
    report = {}
    best = None
    candidates = candidates or [(norm, start, pooling) for pooling in ("mean", "centroid")
                                for norm, start in [("none", 2)] + [(n, k) for n in ("shift", "zscore") for k in (2, 3)]]
    queries = val_embeddings if queries is None else queries
    ks = (1, 2, 3, 5)
    for normalization, normalize_from, pooling in candidates:
        config = ScoringConfig(normalization=normalization, normalize_from=normalize_from, reference_pooling=pooling,
                               prior_mean=prior_mean, prior_std=prior_std)
        per_k = {}
        for k in ks:
            trials = make_trials(val_marks, k, seed)
            scores = run_protocol(trials, lambda refs, q: fewshot_score(queries[q], val_embeddings[list(refs)], config)[0])
            per_k[k] = (summarize(scores), scores)
        report[f"{normalization}_from{normalize_from}" + ("_centroid" if pooling == "centroid" else "")] = {f"eer_k{k}": v[0]["eer"] for k, v in per_k.items()}
        mean_eer = float(np.mean([v[0]["eer"] for v in per_k.values()]))
        if best is None or mean_eer < best[0]:
            best = (mean_eer, config, per_k)
    _, config, per_k = best
    thresholds = {str(k): per_k[k][0]["eer_threshold"] for k in ks}
    scores, labels, offsets = [], [], []
    for k in ks:
        summary, protocol = per_k[k]
        scores += protocol.genuine + protocol.skilled
        labels += [1] * len(protocol.genuine) + [0] * len(protocol.skilled)
        offsets += [summary["eer_threshold"]] * (len(protocol.genuine) + len(protocol.skilled))
    slope, intercept = fit_calibration(scores, labels, offsets)
    # review band = where the calibrated probability of genuine is between 0.35 and 0.65
    band = float(np.log(0.65 / 0.35) / max(slope, 1e-6))
    config = replace(config, threshold=thresholds["5"], thresholds_by_references=thresholds, review_band=band,
                     calibration_slope=slope, calibration_intercept=intercept)
    return config, report


def train(args) -> dict:
    import keras

    from stampauth.modeling.architectures import ARCHITECTURES, mark_encoder

    if args.architecture not in ARCHITECTURES:
        raise InvalidInput(f"--architecture {args.architecture!r}: choose one of {', '.join(ARCHITECTURES)}")
    keras.utils.set_random_seed(args.seed)
    marks = read_labels(args.data)
    # the writer split has a seed of its own, so runs that differ only in their training seed (an ensemble, a
    # measure of run-to-run spread) keep the same validation writers
    split_seed = args.seed if args.split_seed is None else args.split_seed
    train_writers, val_writers = split_writers([m.writer for m in marks], args.val_writers, split_seed)
    log.info("writers: %d training, %d validation %s", len(train_writers), len(val_writers), val_writers)
    config = canvas_config(args.canvas)
    crops = load_cached_crops(marks, config, Path(args.cache) if args.cache else None)
    sampler = BatchSampler(marks, crops, train_writers, config, args.seed,
                           args.writers_per_batch, args.genuine_per_writer, args.forged_per_writer,
                           args.imitations_per_writer, args.new_writer_prob, args.synthetic_writers_per_batch,
                           args.forger_classes, args.binarize)
    val_indices = [i for i, m in enumerate(marks) if m.writer in set(val_writers)]
    val_marks = [marks[i] for i in val_indices]

    encoder = mark_encoder(config.canvas_height, config.canvas_width, embedding_dim=args.embedding_dim,
                           **ARCHITECTURES[args.architecture])

    def monitor(step: int) -> None:
        val_embeddings = embed_clean(encoder, crops, val_indices, config)
        k5 = summarize(run_protocol(make_trials(val_marks, 5, args.seed),
                                    lambda r, q: fewshot_score(val_embeddings[q], val_embeddings[list(r)], ScoringConfig(normalization="none"))[0]))
        log.info("step %d validation (monitoring only) K=5 eer %.4f eer_random %.4f", step, k5["eer"], k5["eer_random"])

    train_seconds = train_siamese(encoder, sampler.batch, args.steps, args.lr, args.run_dir, args.checkpoint_every,
                                  args.log_every, monitor)

    training = {
        "data": Path(args.data).name,
        "seed": args.seed,
        "split_seed": split_seed,
        "steps": args.steps,
        "train_writers": train_writers,
        "validation_writers": val_writers,
        "batch": f"{args.writers_per_batch} writers x ({args.genuine_per_writer} genuine + {args.forged_per_writer} forged"
                 f" + {args.imitations_per_writer} synthetic imitations) + {args.synthetic_writers_per_batch} simulated"
                 f" writers x ({args.genuine_per_writer} genuine + {args.forged_per_writer} forged)",
        "loss": "multi-similarity (alpha 2, beta 40, base 0.5), forgeries as negatives only"
                + (", a writer's forgeries in a batch from one forger, sharing a label" if args.forger_classes else ""),
        "optimizer": f"AdamW lr {args.lr} cosine decay, weight decay 1e-4",
        "parameters": int(encoder.count_params()),
        "architecture": args.architecture,
        "train_seconds": round(train_seconds, 1),
        "command": (f"stampauth train signature --data {Path(args.data).name} --seed {args.seed} --split-seed {split_seed}"
                    f" --steps {args.steps} --canvas {config.canvas_height}x{config.canvas_width}"
                    f" --architecture {args.architecture}"
                    f" --lr {args.lr} --val-writers {args.val_writers} --writers-per-batch {args.writers_per_batch}"
                    f" --genuine-per-writer {args.genuine_per_writer} --forged-per-writer {args.forged_per_writer}"
                    f" --imitations-per-writer {args.imitations_per_writer} --new-writer-prob {args.new_writer_prob}"
                    f" --synthetic-writers-per-batch {args.synthetic_writers_per_batch}"
                    + (" --forger-classes" if args.forger_classes else "")
                    + (f" --binarize {args.binarize}" if args.binarize != BINARIZE_SHARE else "")),
    }
    return finish(encoder, args.out, args.embedding_dim, marks, crops, train_writers, val_writers, args.seed, training,
                  config)


def canvas_config(canvas: str) -> PreprocessConfig:
    """``"HxW"`` -> this recipe's preprocessing onto that canvas (only the canvas differs between members)."""
    try:
        height, width = (int(part) for part in canvas.lower().split("x"))
    except ValueError:
        raise InvalidInput(f"--canvas takes HEIGHTxWIDTH, e.g. 80x160, not {canvas!r}") from None
    if not (32 <= height <= 512 and 32 <= width <= 1024):
        raise InvalidInput(f"--canvas {canvas}: height 32-512 and width 32-1024 pixels")
    return replace(PREPROCESS, canvas_height=height, canvas_width=width)


def finish(encoder, out, embedding_dim: int, marks, crops, train_writers, val_writers, seed: int, training: dict,
           config: PreprocessConfig = PREPROCESS) -> dict:
    """Choose the scoring of a trained ``encoder`` and write it with its card to ``out``; returns the card.

    Priors (the mean and spread of same-writer similarities) come from the training writers' genuine marks; the
    normalisation, thresholds per reference count, review band and calibration are chosen on the validation
    writers (:func:`choose_scoring`).
    """
    from stampauth.modeling.card import ModelCard

    val_indices = [i for i, m in enumerate(marks) if m.writer in set(val_writers)]
    val_marks = [marks[i] for i in val_indices]
    train_indices = [i for i, m in enumerate(marks) if m.writer in set(train_writers) and m.genuine]
    train_embeddings = embed_clean(encoder, crops, train_indices, config)
    pair_similarities = []
    for writer in train_writers:
        rows = [j for j, i in enumerate(train_indices) if marks[i].writer == writer]
        block = train_embeddings[rows] @ train_embeddings[rows].T
        pair_similarities += block[np.triu_indices(len(rows), 1)].tolist()
    prior_mean, prior_std = float(np.mean(pair_similarities)), float(np.std(pair_similarities))
    val_embeddings = embed_clean(encoder, crops, val_indices, config)
    scoring, report = choose_scoring(val_marks, val_embeddings, prior_mean, prior_std, seed)
    log.info("scoring chosen on validation writers: %s; candidates %s", scoring, report)

    card = save_with_card(encoder, out, "signature_encoder", "signature", lambda version: ModelCard(
        name="signature_encoder",
        kind="signature",
        version=version,
        embedding_dim=embedding_dim,
        preprocess=config,
        scoring=scoring,
        training={**training, "scoring_candidates_on_validation": report},
    ))
    return asdict(card)


def ensemble(args) -> dict:
    """``stampauth train signature-ensemble``: signature encoders trained apart (same writer split, other seeds)
    -> one encoder scoring the mean of their cosine similarities (:func:`~stampauth.modeling.architectures.
    ensemble_encoder`), with its scoring chosen afresh on the validation writers."""
    from stampauth.modeling.architectures import ensemble_encoder

    cards, models = [], []
    for directory in args.members:
        for card, model in _members_in(Path(directory)):
            cards.append(card)
            models.append(model)
    if len(cards) < 2:
        raise InvalidInput("an ensemble needs at least two --members")
    first = cards[0].training
    for card in cards:
        if card.training.get("validation_writers") != first.get("validation_writers"):
            raise InvalidInput(f"{card.version} was trained on another writer split than {cards[0].version}: train "
                               f"members with the same --split-seed")
        if replace(card.preprocess, canvas_height=PREPROCESS.canvas_height, canvas_width=PREPROCESS.canvas_width) != PREPROCESS:
            raise InvalidInput(f"{card.version} was trained with other preprocessing than this version's: retrain it")
    # the joined model takes the largest canvas; smaller members resize it to theirs (ensemble_encoder)
    config = max((card.preprocess for card in cards), key=lambda c: c.canvas_height * c.canvas_width)
    marks = read_labels(args.data)
    crops = load_cached_crops(marks, config, Path(args.cache) if args.cache else None)
    encoder = ensemble_encoder(models)
    embedding_dim = int(sum(card.embedding_dim for card in cards))
    training = {
        "data": Path(args.data).name,
        "seed": first.get("split_seed", first.get("seed")),
        "split_seed": first.get("split_seed", first.get("seed")),
        "train_writers": first["train_writers"],
        "validation_writers": first["validation_writers"],
        "ensemble_of": [{"version": card.version, "seed": card.training.get("seed"),
                         "train_seconds": card.training.get("train_seconds"), "command": card.training.get("command")}
                        for card in cards],
        "parameters": int(encoder.count_params()),
        "train_seconds": round(sum(float(card.training.get("train_seconds") or 0) for card in cards), 1),
        "command": (f"stampauth train signature-ensemble --data {Path(args.data).name} --members "
                    + " ".join(f"<seed {card.training.get('seed')}>" for card in cards)),
    }
    return finish(encoder, args.out, embedding_dim, marks, crops, first["train_writers"], first["validation_writers"],
                  int(training["seed"]), training, config)


def _members_in(base: Path) -> list:
    """``[(card, Keras model)]`` of a folder written by ``train signature`` (one encoder) or by ``train
    signature-ensemble`` (each of its members, with the card it had, so an ensemble grows member by member)."""
    from stampauth.modeling.card import ModelCard, load_keras_model

    if not (base / "signature_encoder.json").is_file():
        raise InvalidInput(f"{base} holds no signature_encoder.json: give folders written by stampauth train signature")
    card = ModelCard.from_json((base / "signature_encoder.json").read_text())
    model = load_keras_model(base / "signature_encoder.keras")
    members = card.training.get("ensemble_of")
    if not members:
        return [(card, model)]
    width = card.embedding_dim // len(members)
    found = []
    for index, member in enumerate(members):
        layer = model.get_layer(f"member{index}")
        height, canvas_width = layer.input_shape[1:3]  # a member may have a smaller canvas than the ensemble
        found.append((replace(card, version=member["version"], embedding_dim=width, training={**card.training, **member},
                              preprocess=replace(card.preprocess, canvas_height=height, canvas_width=canvas_width)),
                      layer))
    return found


def add_ensemble_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", required=True, help="the labelled signature set the members were trained on")
    parser.add_argument("--members", nargs="+", required=True,
                        help="folders of trained signature encoders (stampauth train signature --out), same --split-seed;"
                             " a folder holding an ensemble adds its members one by one (how an ensemble grows)")
    parser.add_argument("--out", default="models", help="where the ensemble's .keras file and its card go")
    parser.add_argument("--cache", default=".cache", help="preprocessed crop cache ('' disables)")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", required=True, help="labelled signature set (DIR/labels.csv)")
    parser.add_argument("--out", default="models", help="where the .keras file and its card go")
    parser.add_argument("--run-dir", default="runs/signature", help="checkpoints (resume from here)")
    parser.add_argument("--cache", default=".cache", help="preprocessed crop cache ('' disables)")
    parser.add_argument("--seed", type=int, default=1234)
    parser.add_argument("--split-seed", type=int, default=None,
                        help="seed of the training/validation writer split (default: --seed)")
    parser.add_argument("--steps", type=int, default=1500)
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--val-writers", type=int, default=16)
    parser.add_argument("--writers-per-batch", type=int, default=8)
    parser.add_argument("--genuine-per-writer", type=int, default=4)
    parser.add_argument("--forged-per-writer", type=int, default=3)
    parser.add_argument("--imitations-per-writer", type=int, default=2,
                        help="synthetic skilled forgeries (slant/proportion/stroke changes of a genuine) per writer")
    parser.add_argument("--new-writer-prob", type=float, default=0.5,
                        help="chance that a batch restyles all of a writer's marks alike (a synthetic new writer)")
    parser.add_argument("--synthetic-writers-per-batch", type=int, default=0,
                        help="extra writers per batch simulated by stampauth.synth.signatures (genuine + forgeries)")
    parser.add_argument("--embedding-dim", type=int, default=128)
    parser.add_argument("--canvas", default=f"{PREPROCESS.canvas_height}x{PREPROCESS.canvas_width}",
                        help="HEIGHTxWIDTH of the model's input canvas (a larger one keeps more stroke detail; "
                             "members of one ensemble may differ in it)")
    parser.add_argument("--architecture", default="base",
                        help="encoder variant (stampauth.modeling.architectures.ARCHITECTURES): base, or fine (full "
                             "resolution and full convolutions first: more stroke detail, about 3x the compute)")
    parser.add_argument("--forger-classes", action="store_true",
                        help="a writer's skilled forgeries in a batch come from one forger and share a label (never the "
                             "writer's): one hand imitating one signature is a class the loss pulls together")
    parser.add_argument("--binarize", type=float, default=BINARIZE_SHARE,
                        help=f"chance that a mark's scan effects end in fax-like binarisation (the shipped members: "
                             f"{BINARIZE_SHARE}; black-and-white scans drop the grey levels the model otherwise leans on)")
    parser.add_argument("--log-every", type=int, default=25)
    parser.add_argument("--checkpoint-every", type=int, default=150)


def main(argv=None) -> None:
    run_command("signature", __doc__.splitlines()[0], add_arguments, train, "scoring", argv)


def main_ensemble(argv=None) -> None:
    run_command("signature-ensemble", ensemble.__doc__.splitlines()[0], add_ensemble_arguments, ensemble, "scoring", argv)


if __name__ == "__main__":
    main()
