"""Training of the mark detector on synthetic pages (``stampauth train detector``).

* Data: ``--pages`` synthetic pages (:mod:`stampauth.synth.documents`) rendered once at the model's
  input long side and cached as JPEG shards under ``--cache`` (two processes render them);
  ``--val-pages`` more from another seed for choosing thresholds. Real signatures come only from
  the training writers of the signature model's card (``--signatures``); without it the pages
  carry synthetic signatures only. No real document page is ever used.
* Batches: random crops with mild scale and photometric jitter; the target is the shrunk-box
  kernel map of :func:`stampauth.detection.model.kernel_targets`.
* Checkpoints every ``--checkpoint-every`` steps in ``--run-dir``; a restarted run resumes.
* At the end the confidence threshold per kind is chosen on the synthetic validation pages (best
  F1) and written with the weights into ``models/mark_detector.json``.
* ``stampauth train detector-ensemble --members A B``: detectors trained apart joined into one model whose
  output is the mean of theirs (:func:`ensemble`), its thresholds chosen afresh on synthetic validation pages.
"""

from __future__ import annotations

import argparse
import json
import logging
import pickle
import time
from collections import deque
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import asdict
from pathlib import Path

import cv2
import numpy as np

from stampauth.detection.types import DEFAULT_WIDTHS, KINDS
from stampauth.training import run_command, save_with_card
from stampauth.training.loop import resumable_run

log = logging.getLogger("stampauth.train")
SHARD = 100


def _render_shard(args) -> list[tuple[bytes, np.ndarray]]:
    """Pages ``start .. start+count`` of ``seed`` -> ``[(jpeg bytes, (n, 5) [class, x0, y0, x1, y1])]``."""
    seed, start, count, long_side, bank_source, version = args
    from stampauth.synth.documents import generate_page

    bank = _worker_bank(bank_source)
    out = []
    for index in range(start, start + count):
        page = generate_page(np.random.default_rng([seed, index]), bank, long_side, version=version)
        ok, data = cv2.imencode(".jpg", page.image, [cv2.IMWRITE_JPEG_QUALITY, 95])
        boxes = np.array([[KINDS.index(k), b.x0, b.y0, b.x1, b.y1] for k, b in page.marks], np.float32).reshape(-1, 5)
        out.append((data.tobytes(), boxes))
    return out


_BANK = {}


def _worker_bank(source):
    if source is None:
        return None
    if source not in _BANK:
        from stampauth.synth.documents import SignatureBank

        directory, writers = source
        _BANK.clear()
        _BANK[source] = SignatureBank.from_dir(directory, set(writers))
    return _BANK[source]


def load_pages(cache_dir: Path, seed: int, count: int, long_side: int, bank_source, workers: int = 2,
               version: int = 1) -> list:
    """The cached pages of ``seed`` made by generator ``version`` (rendering missing shards first)."""
    cache_dir.mkdir(parents=True, exist_ok=True)
    tag = f"{'real' if bank_source else 'synthetic'}-g{version}"
    jobs = []
    for start in range(0, count, SHARD):
        path = cache_dir / f"pages-{seed}-{long_side}-{tag}-{start:06d}-{min(SHARD, count - start)}.pkl"
        jobs.append((path, (seed, start, min(SHARD, count - start), long_side, bank_source, version)))
    missing = [(path, job) for path, job in jobs if not path.exists()]
    if missing:
        log.info("rendering %d of %d page shards into %s", len(missing), len(jobs), cache_dir)
        with ProcessPoolExecutor(max_workers=workers) as pool:
            for (path, _), pages in zip(missing, pool.map(_render_shard, [job for _, job in missing])):
                tmp = path.with_suffix(".tmp")
                tmp.write_bytes(pickle.dumps(pages))
                tmp.replace(path)  # a shard is either whole or absent
                log.info("cached %s", path.name)
    pages = []
    for path, _ in jobs:
        pages += pickle.loads(path.read_bytes())
    return pages


def signature_bank_source(signatures: str, signature_card: str):
    """``(signature set folder, training writers of the card)`` the page renderers take real signatures from, or
    None without ``signatures`` (pages then carry synthetic signatures only)."""
    if not signatures:
        return None
    writers = tuple(sorted(json.loads(Path(signature_card).read_text())["training"]["train_writers"]))
    log.info("real signatures from %d training writers of %s", len(writers), signatures)
    return str(Path(signatures).resolve()), writers


def _decode(data: bytes) -> np.ndarray:
    return cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)


def training_sample(page, rng: np.random.Generator, crop: int, shrink: float) -> tuple[np.ndarray, np.ndarray]:
    """One cached page -> ``(crop, crop, 3) float32`` input and its ``(crop/4, crop/4, N_OUTPUTS)`` target."""
    from stampauth.detection.model import kernel_targets

    data, boxes = page
    image = _decode(data)
    scale = rng.uniform(0.8, 1.2)
    if abs(scale - 1) > 0.02:
        image = cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
    h, w = image.shape[:2]
    boxes = boxes.copy()
    boxes[:, 1:] *= scale
    # Prefer crops that hold a mark, so few batches are all paper and text.
    if len(boxes) and rng.random() < 0.7:
        b = boxes[int(rng.integers(len(boxes)))]
        cx, cy = rng.uniform(b[1], b[3]), rng.uniform(b[2], b[4])
        x0, y0 = int(cx - rng.uniform(0.1, 0.9) * crop), int(cy - rng.uniform(0.1, 0.9) * crop)
    else:
        x0, y0 = int(rng.uniform(0, max(1, w - crop))), int(rng.uniform(0, max(1, h - crop)))
    x0, y0 = min(max(0, x0), max(0, w - crop)), min(max(0, y0), max(0, h - crop))
    window = np.full((crop, crop, 3), 255, np.uint8)
    part = image[y0:y0 + crop, x0:x0 + crop]
    window[: part.shape[0], : part.shape[1]] = part
    shifted = [(int(c), (bx0 - x0, by0 - y0, bx1 - x0, by1 - y0)) for c, bx0, by0, bx1, by1 in boxes]
    target = kernel_targets(shifted, crop, crop, shrink)
    x = window.astype(np.float32)
    if rng.random() < 0.5:  # exposure and contrast of another scanner
        x = (x - 128.0) * rng.uniform(0.75, 1.25) + 128.0 + rng.uniform(-25, 20)
    if rng.random() < 0.15:
        x = np.repeat(x.mean(axis=2, keepdims=True), 3, axis=2)
    return np.clip(x, 0, 255) / 255.0, target


def validate(detector, pages, min_score: float = 0.05):
    """Cached pages (``[(jpeg, boxes)]``) -> their labels and ``detector``'s detections, decoding each page once."""
    from stampauth.detection.metrics import LabeledPage
    from stampauth.detection.types import Box

    labeled, predictions = [], []
    for i, (data, boxes) in enumerate(pages):
        image = _decode(data)
        h, w = image.shape[:2]
        labeled.append(LabeledPage(Path(f"val-{i}"), w, h, tuple((KINDS[int(c)], Box(*map(float, b))) for c, *b in boxes)))
        predictions.append(detector.detect(image, min_score=min_score))
    return labeled, predictions


def choose_thresholds(labeled, predictions) -> tuple[dict, dict]:
    """Per kind, the confidence threshold with the best F1 on the validation pages, and the metrics there."""
    from stampauth.detection.metrics import evaluate_detections, precision_recall_at

    ground_truth = {i: page.boxes for i, page in enumerate(labeled)}
    detections = dict(enumerate(predictions))
    thresholds = {}
    for kind in KINDS:
        best = (-1.0, 0.5)  # kinds without validation marks keep 0.5
        if any(k == kind for page in labeled for k, _ in page.boxes):
            for threshold in np.arange(0.2, 0.91, 0.05):
                p, r, *_ = precision_recall_at(detections, ground_truth, kind, float(threshold))
                p, r = round(p, 4), round(r, 4)  # as the report rounds them, so near-ties break the same way
                f1 = 2 * p * r / (p + r) if p + r > 0 else 0.0
                if f1 > best[0]:
                    best = (f1, round(float(threshold), 2))
        thresholds[kind] = best[1]
    return thresholds, evaluate_detections(labeled, predictions, thresholds)


#: One-ink weights :func:`choose_one_ink_weight` tries (``DetectorCard.stamp_one_ink_weight``; 0 = off).
ONE_INK_WEIGHTS = (0.0, 0.5, 1.0, 2.0)


def choose_one_ink_weight(model, draft, val_pages, weights=ONE_INK_WEIGHTS):
    """The one-ink weight with the best stamp AP50 on the synthetic validation pages (ties: the smaller weight),
    with the labels and detections at that weight and every weight's AP50 (``{weight: ap50}``)."""
    from dataclasses import replace

    from stampauth.detection.detector import MarkDetector
    from stampauth.detection.metrics import average_precision

    best, tried = None, {}
    for weight in sorted(set(float(w) for w in weights)):
        labeled, predictions = validate(MarkDetector(replace(draft, stamp_one_ink_weight=weight), model), val_pages)
        if not any(k == "stamp" for page in labeled for k, _ in page.boxes):
            return 0.0, labeled, predictions, {}  # nothing to judge the cue on: off
        ground_truth = {i: page.boxes for i, page in enumerate(labeled)}
        tried[weight] = round(average_precision(dict(enumerate(predictions)), ground_truth, "stamp"), 4)
        if best is None or tried[weight] > best[0]:
            best = (tried[weight], weight, labeled, predictions)
    log.info("stamp AP50 on synthetic validation pages by one-ink weight: %s; chosen %s", tried, best[1])
    return best[1], best[2], best[3], tried


#: A kind keeps its layout prior only if it lifts that kind's AP50 on held-out halves of the validation pages by this.
LAYOUT_PRIOR_MIN_GAIN = 0.005


def _layout_rows(labeled, predictions, kind: str, pages) -> tuple[np.ndarray, np.ndarray]:
    """``(N, 3)`` layout features and ``(N,)`` truth (IoU >= 0.5 with a labelled mark) of ``kind``'s detections
    on the validation pages numbered ``pages``."""
    from stampauth.detection.postprocess import layout_features

    rows, truth = [], []
    for index in pages:
        page = labeled[index]
        marks = [box for k, box in page.boxes if k == kind]
        for detection in predictions[index]:
            if detection.kind == kind:
                rows.append(layout_features(detection.score, (detection.box.y0 + detection.box.y1) / 2 / page.height))
                truth.append(max((detection.box.iou(box) for box in marks), default=0.0) >= 0.5)
    return np.array(rows).reshape(-1, 3), np.array(truth, bool)


def _with_priors(labeled, predictions, priors: dict, pages=None) -> list:
    """``predictions`` with the scores of the pages numbered ``pages`` (all by default) recalibrated by ``priors``."""
    from dataclasses import replace

    from stampauth.detection.postprocess import apply_layout_prior

    pages = set(range(len(labeled)) if pages is None else pages)
    return [[replace(d, score=round(apply_layout_prior(d.score, (d.box.y0 + d.box.y1) / 2 / page.height,
                                                       priors[d.kind]), 4))
             if index in pages and d.kind in priors else d
             for d in detections] for index, (page, detections) in enumerate(zip(labeled, predictions))]


def fit_layout_priors(labeled, predictions) -> tuple[dict, list, dict]:
    """Per kind, the layout prior (:func:`~stampauth.detection.postprocess.fit_layout_prior`) fitted on the
    validation pages' detections (true = IoU >= 0.5 with a labelled mark of that kind), kept only where it earns
    its place out of sample: fitted on the even pages and measured on the odd ones and the other way round, the
    AP50 of that kind must rise by at least ``LAYOUT_PRIOR_MIN_GAIN``. Returns the kept priors, the predictions
    rescored with them, and per kind the two-fold AP50 without and with a prior."""
    from stampauth.detection.metrics import average_precision
    from stampauth.detection.postprocess import fit_layout_prior

    ground_truth = {i: page.boxes for i, page in enumerate(labeled)}
    folds = [range(0, len(labeled), 2), range(1, len(labeled), 2)]
    priors, checks = {}, {}
    for kind in KINDS:
        rows, truth = _layout_rows(labeled, predictions, kind, range(len(labeled)))
        try:
            full = fit_layout_prior(rows, truth)
            held_out = predictions
            for fit_on, score_on in ((folds[0], folds[1]), (folds[1], folds[0])):
                fold_prior = fit_layout_prior(*_layout_rows(labeled, predictions, kind, fit_on))
                held_out = _with_priors(labeled, held_out, {kind: fold_prior}, score_on)
        except ValueError:
            log.info("no layout prior for %s: the validation pages lack true or false detections of it", kind)
            continue
        before = average_precision(dict(enumerate(predictions)), ground_truth, kind)
        after = average_precision(dict(enumerate(held_out)), ground_truth, kind)
        checks[kind] = {"two_fold_ap50_without": round(before, 4), "two_fold_ap50_with": round(after, 4)}
        if after >= before + LAYOUT_PRIOR_MIN_GAIN:
            priors[kind] = {**full, "fitted_on": {"detections": len(truth), "true": int(truth.sum())}}
    return priors, _with_priors(labeled, predictions, priors), checks


def _choose_thresholds_and_save(model, draft, val_pages, out, make_training, one_ink_weights=ONE_INK_WEIGHTS,
                                layout_prior: bool = True):
    """Run ``model`` (as ``draft`` configures it) on the synthetic validation pages, choose the one-ink weight
    (:func:`choose_one_ink_weight`), fit the layout priors (:func:`fit_layout_priors`, unless ``layout_prior`` is
    False) and then choose the confidence threshold per kind there (best F1), and write the weights with their card
    to ``out``; ``make_training()`` gives the card's training record once validation is done (so its times include
    it). Returns the card."""
    from dataclasses import replace

    from stampauth.detection.detector import DETECTOR_FILE
    from stampauth.detection.metrics import evaluate_detections

    weight, labeled, predictions, tried = choose_one_ink_weight(model, draft, val_pages, one_ink_weights)
    metrics = {"synthetic_validation_stamp_ap50_by_one_ink_weight": {str(w): ap for w, ap in tried.items()}}
    priors = {}
    if layout_prior:
        metrics["synthetic_validation_before_layout_prior"] = evaluate_detections(
            labeled, predictions, {kind: 0.5 for kind in KINDS})
        priors, predictions, metrics["layout_prior_checks"] = fit_layout_priors(labeled, predictions)
        log.info("layout priors: two-fold AP50 without / with on synthetic validation pages %s; kept %s",
                 metrics["layout_prior_checks"], priors)
    thresholds, metrics["synthetic_validation"] = choose_thresholds(labeled, predictions)
    log.info("thresholds chosen on synthetic validation pages: %s; metrics %s", thresholds,
             metrics["synthetic_validation"])
    training = make_training()
    return save_with_card(model, out, DETECTOR_FILE, "detector", lambda version: replace(
        draft, version=version, score_thresholds=thresholds, stamp_one_ink_weight=weight, layout_prior=priors,
        training=training, metrics=metrics))


def git_commit() -> str:
    """The checkout's commit (with ``+dirty`` when files differ from it), or "" outside a git checkout."""
    import subprocess

    root = Path(__file__).resolve().parents[2]
    try:
        commit = subprocess.run(["git", "rev-parse", "--short=12", "HEAD"], cwd=root, capture_output=True, text=True,
                                check=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root, capture_output=True,
                               text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""
    return commit + ("+dirty" if dirty else "")


def train(args) -> dict:
    import keras
    import tensorflow as tf

    from stampauth.detection.detector import DETECTOR_FILE, DetectorCard
    from stampauth.detection.model import N_OUTPUTS, detection_loss, detector_model

    widths = parse_widths(args.widths)  # before any page is rendered
    keras.utils.set_random_seed(args.seed)
    code_commit = git_commit()  # read now: the checkout may move on while a long run trains
    bank_source = signature_bank_source(args.signatures, args.signature_card)
    cache = Path(args.cache)
    started_all = time.time()
    # pages have a seed of their own, so runs that differ only in initialisation and batch order (an ensemble's
    # members) can share one rendered set
    page_seed = args.seed if args.page_seed is None else args.page_seed
    pages = load_pages(cache, page_seed, args.pages, args.long_side, bank_source, args.workers, args.generator_version)
    val_pages = load_pages(cache, page_seed + 1, args.val_pages, args.long_side, bank_source, args.workers,
                           args.generator_version)
    log.info("%d training pages, %d validation pages (%.0f s)", len(pages), len(val_pages), time.time() - started_all)

    model = detector_model(widths)
    init_version = None
    if args.init_from:  # fine-tuning: start from a trained detector's weights (a checkpoint in --run-dir still wins)
        from stampauth.errors import InvalidInput

        members = _detector_members(Path(args.init_from))
        if not 0 <= args.init_member < len(members):
            raise InvalidInput(f"--init-member {args.init_member}: {args.init_from} holds {len(members)} detector(s); "
                               f"give 0 to {len(members) - 1}")
        card, source_model = members[args.init_member]
        model.set_weights(source_model.get_weights())
        init_version = card.version
        log.info("starting from the weights of %s", init_version)
    optimizer, step_var, train_seconds, manager = resumable_run(model, args.lr, args.steps, min(300, args.steps // 10),
                                                                args.run_dir)

    crop = args.crop
    spec = [tf.TensorSpec([None, crop, crop, 3], tf.float32), tf.TensorSpec([None, crop // 4, crop // 4, N_OUTPUTS], tf.float32)]

    @tf.function(input_signature=spec)
    def train_step(images, targets):
        with tf.GradientTape() as tape:
            loss = detection_loss(targets, model(images, training=True))
        gradients = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(gradients, model.trainable_variables))
        return loss

    def make_batch(step: int):
        rng = np.random.default_rng([args.seed, step])
        picks = rng.integers(len(pages), size=args.batch)
        samples = [training_sample(pages[int(i)], rng, crop, args.shrink) for i in picks]
        return np.stack([s[0] for s in samples]), np.stack([s[1] for s in samples])

    start_step = int(step_var.numpy())
    pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="batches")
    pending: deque = deque(pool.submit(make_batch, s) for s in range(start_step, min(start_step + 6, args.steps)))
    next_to_submit = start_step + len(pending)
    started, losses = time.time(), []
    for step in range(start_step, args.steps):
        step_started = time.time()
        images, targets = pending.popleft().result()
        if next_to_submit < args.steps:
            pending.append(pool.submit(make_batch, next_to_submit))
            next_to_submit += 1
        losses.append(float(train_step(images, targets)))
        step_var.assign(step + 1)
        train_seconds.assign_add(time.time() - step_started)
        if (step + 1) % args.log_every == 0:
            log.info("step %d/%d loss %.4f (%.2f s/step)", step + 1, args.steps, np.mean(losses[-args.log_every:]),
                     (time.time() - started) / (step + 1 - start_step))
        if (step + 1) % args.checkpoint_every == 0 or step + 1 == args.steps:
            manager.save(checkpoint_number=step + 1)
    pool.shutdown(cancel_futures=True)

    draft = DetectorCard(name=DETECTOR_FILE, version="draft", input_long_side=args.long_side, shrink=args.shrink)
    card = _choose_thresholds_and_save(model, draft, val_pages, args.out, one_ink_weights=args.one_ink_weights,
                                       layout_prior=args.layout_prior, make_training=lambda: {
        "data": "synthetic pages (stampauth.synth.documents)"
                + (f" with real signatures of the signature model's training writers from {Path(args.signatures).name}" if args.signatures else ""),
        "pages": args.pages,
        "validation_pages": args.val_pages,
        "seed": args.seed,
        "page_seed": page_seed,
        "steps": args.steps,
        "batch": f"{args.batch} crops of {crop}x{crop}",
        "loss": "BCE (positives x4) + 0.5 soft Dice per kind on shrunk-box kernels + L1 on log edge distances",
        "optimizer": f"AdamW lr {args.lr} cosine decay, weight decay 1e-4",
        "parameters": int(model.count_params()),
        "widths": list(widths),
        "train_seconds": round(float(train_seconds.numpy()), 1),
        "wall_seconds_this_run": round(time.time() - started_all, 1),
        "code_commit": code_commit,
        "generator_version": args.generator_version,
        "init_from": init_version,
        "command": (f"stampauth train detector{' --signatures ' + Path(args.signatures).name if args.signatures else ''}"
                    f" --pages {args.pages} --val-pages {args.val_pages} --seed {args.seed} --page-seed {page_seed}"
                    f" --steps {args.steps}"
                    f" --batch {args.batch} --crop {crop} --lr {args.lr} --long-side {args.long_side}"
                    f" --generator-version {args.generator_version} --widths {args.widths}"
                    + (f" --init-from <{init_version}>" if init_version else "")
                    + f" --one-ink-weights {' '.join(f'{w:g}' for w in args.one_ink_weights)}"
                    + ("" if args.layout_prior else " --no-layout-prior")),
    })
    return asdict(card)


def parse_widths(text: str) -> tuple[int, int, int, int, int]:
    """``"32,56,96,160,224"`` -> the detector's channel widths at strides 2, 4, 8, 16 and 32."""
    from stampauth.errors import InvalidInput

    try:
        widths = tuple(int(part) for part in text.split(","))
    except ValueError:
        widths = ()
    if len(widths) != 5 or not all(8 <= w <= 512 for w in widths):
        raise InvalidInput(f"--widths takes five channel counts (8-512) for strides 2-32, e.g. {','.join(map(str, DEFAULT_WIDTHS))}; "
                           f"not {text!r}")
    return widths


def _detector_members(base: Path) -> list:
    """``[(card, Keras model)]`` of a folder holding a detector, or each member of a detector ensemble (with the
    card it had), so an ensemble grows member by member."""
    from stampauth.detection.detector import DETECTOR_FILE, DetectorCard
    from stampauth.errors import InvalidInput
    from stampauth.modeling.card import load_keras_model

    if not (base / f"{DETECTOR_FILE}.json").is_file():
        raise InvalidInput(f"{base} holds no {DETECTOR_FILE}.json: give folders written by stampauth train detector")
    card = DetectorCard.from_json((base / f"{DETECTOR_FILE}.json").read_text())
    model = load_keras_model(base / f"{DETECTOR_FILE}.keras")
    members = card.training.get("ensemble_of")
    if not members:
        return [(card, model)]
    return [(DetectorCard(name=card.name, version=member["version"], input_long_side=card.input_long_side,
                          shrink=card.shrink, map_threshold=card.map_threshold, training=member),
             model.get_layer(f"member{index}")) for index, member in enumerate(members)]


def ensemble(args) -> dict:
    """``stampauth train detector-ensemble``: detectors trained apart -> one detector whose output maps are the
    mean of theirs (:func:`~stampauth.detection.model.detector_ensemble`), with its confidence thresholds chosen
    afresh on synthetic validation pages (never a real page)."""
    from stampauth.detection.detector import DETECTOR_FILE, DetectorCard
    from stampauth.detection.model import detector_ensemble
    from stampauth.errors import InvalidInput

    cards, models = [], []
    for directory in args.members:
        for card, model in _detector_members(Path(directory)):
            cards.append(card)
            models.append(model)
    if len(cards) < 2:
        raise InvalidInput("an ensemble needs at least two detectors: give two or more --members")
    for card in cards[1:]:
        if (card.input_long_side, card.shrink, card.map_threshold) != (cards[0].input_long_side, cards[0].shrink,
                                                                        cards[0].map_threshold):
            raise InvalidInput(f"{card.version} runs at another input size, kernel shrink or map threshold than "
                               f"{cards[0].version}: members must share them")
    started = time.time()
    bank_source = signature_bank_source(args.signatures, args.signature_card)
    val_pages = load_pages(Path(args.cache), args.val_seed, args.val_pages, cards[0].input_long_side, bank_source,
                           args.workers, args.generator_version)
    model = detector_ensemble(models)
    draft = DetectorCard(name=DETECTOR_FILE, version="draft", input_long_side=cards[0].input_long_side,
                         shrink=cards[0].shrink, map_threshold=cards[0].map_threshold)
    members = [{"version": card.version, **{key: card.training.get(key) for key in
                ("seed", "steps", "generator_version", "init_from", "train_seconds", "code_commit", "command")}}
               for card in cards]
    card = _choose_thresholds_and_save(model, draft, val_pages, args.out, one_ink_weights=args.one_ink_weights,
                                       layout_prior=args.layout_prior, make_training=lambda: {
        "data": "synthetic pages (stampauth.synth.documents), as each member's record says",
        "ensemble_of": members,
        "parameters": int(model.count_params()),
        "train_seconds": round(sum(float(m.get("train_seconds") or 0) for m in members), 1),
        "wall_seconds_this_run": round(time.time() - started, 1),
        "code_commit": git_commit(),
        "validation_pages": args.val_pages,
        "validation_seed": args.val_seed,
        "generator_version": args.generator_version,
        "command": (f"stampauth train detector-ensemble --members " + " ".join(f"<{c.version}>" for c in cards)
                    + f"{' --signatures ' + Path(args.signatures).name if args.signatures else ''}"
                    f" --val-pages {args.val_pages} --val-seed {args.val_seed}"
                    f" --generator-version {args.generator_version}"
                    f" --one-ink-weights {' '.join(f'{w:g}' for w in args.one_ink_weights)}"
                    + ("" if args.layout_prior else " --no-layout-prior")),
    })
    return asdict(card)


def add_ensemble_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--members", nargs="+", required=True,
                        help="folders of trained detectors (stampauth train detector --out); a folder holding an "
                             "ensemble adds its members one by one")
    parser.add_argument("--out", default="models", help="where the ensemble's mark_detector.keras and its card go")
    parser.add_argument("--signatures", default="", help="the labelled signature set the validation pages take real "
                        "signatures from (only the training writers of --signature-card)")
    parser.add_argument("--signature-card", default="models/signature_encoder.json")
    parser.add_argument("--cache", default=".cache/detector", help="rendered page shards")
    parser.add_argument("--val-pages", type=int, default=200, help="synthetic pages the thresholds are chosen on")
    parser.add_argument("--val-seed", type=int, default=8,
                        help="their seed (8: the validation pages of a training run with the default --seed 7)")
    parser.add_argument("--generator-version", type=int, default=3, choices=[1, 2, 3, 4, 5, 6],
                        help="page generator of the validation pages (default 3; the shipped ensemble was joined on 4)")
    parser.add_argument("--one-ink-weights", type=float, nargs="+", default=list(ONE_INK_WEIGHTS),
                        help="one-ink weights tried on the validation pages (the best stamp AP50 is kept; "
                             "0 alone turns the cue off)")
    parser.add_argument("--no-layout-prior", dest="layout_prior", action="store_false",
                        help="keep the network's confidences (do not fit the layout prior on the validation pages)")
    parser.add_argument("--workers", type=int, default=2, help="processes rendering pages")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--signatures", default="", help="a labelled signature set; only the training writers of --signature-card are used")
    parser.add_argument("--signature-card", default="models/signature_encoder.json", help="card whose training writers may appear on pages")
    parser.add_argument("--out", default="models", help="where mark_detector.keras and its card go")
    parser.add_argument("--run-dir", default="runs/detector", help="checkpoints (resume from here)")
    parser.add_argument("--cache", default=".cache/detector", help="rendered page shards")
    parser.add_argument("--pages", type=int, default=3000)
    parser.add_argument("--val-pages", type=int, default=200)
    parser.add_argument("--seed", type=int, default=7, help="initialisation and batch order (and the pages' seed unless"
                        " --page-seed is given)")
    parser.add_argument("--page-seed", type=int, default=None,
                        help="seed of the rendered training pages (validation pages: this + 1); default --seed")
    parser.add_argument("--steps", type=int, default=6000)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--crop", type=int, default=384)
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--long-side", type=int, default=640)
    parser.add_argument("--init-from", default="", help="a folder with a trained mark_detector.keras to fine-tune from")
    parser.add_argument("--init-member", type=int, default=0,
                        help="when --init-from holds an ensemble (the shipped models/ does): which member to start from")
    parser.add_argument("--generator-version", type=int, default=1, choices=[1, 2, 3, 4, 5, 6],
                        help="page generator version (stampauth.synth.documents.GENERATOR_VERSIONS); the shipped weights were last "
                             "fine-tuned on 4")
    parser.add_argument("--widths", default=",".join(map(str, DEFAULT_WIDTHS)),
                        help="channels at strides 2, 4, 8, 16, 32 (the shipped members: the default; a wider model "
                             "costs more per step and per page)")
    parser.add_argument("--shrink", type=float, default=0.5)
    parser.add_argument("--one-ink-weights", type=float, nargs="+", default=list(ONE_INK_WEIGHTS),
                        help="one-ink weights tried on the validation pages (the best stamp AP50 is kept; "
                             "0 alone turns the cue off)")
    parser.add_argument("--no-layout-prior", dest="layout_prior", action="store_false",
                        help="keep the network's confidences (do not fit the layout prior on the validation pages)")
    parser.add_argument("--workers", type=int, default=2, help="processes rendering pages")
    parser.add_argument("--log-every", type=int, default=50)
    parser.add_argument("--checkpoint-every", type=int, default=250)


def main(argv=None) -> None:
    run_command("detector", __doc__.splitlines()[0], add_arguments, train, "metrics", argv)


def main_ensemble(argv=None) -> None:
    run_command("detector-ensemble", ensemble.__doc__.splitlines()[0], add_ensemble_arguments, ensemble, "metrics", argv)


if __name__ == "__main__":
    main()
