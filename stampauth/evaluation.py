"""The verification protocol behind ``stampauth eval signatures``.

For each writer, K genuine marks are enrolled (seeded choice, at most all but one of that
writer's genuine marks) and every other mark is scored against them:

* genuine: the writer's remaining genuine marks;
* skilled: forgeries of that writer (``eer`` = genuine vs skilled);
* random: one genuine mark of every other writer (``eer_random`` = genuine vs random).

Scorers are pluggable so the model and the baselines run through the very same protocol.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np

from stampauth.datasets import LabelledMark
from stampauth.scoring import equal_error_rate, error_rates_at, roc_auc

# scorer(reference indices, query index) -> similarity
Scorer = Callable[[Sequence[int], int], float]


@dataclass
class ProtocolScores:
    genuine: list[float] = field(default_factory=list)
    skilled: list[float] = field(default_factory=list)
    random: list[float] = field(default_factory=list)
    references: int = 0
    writers: int = 0
    # how many references each score above was made with (trials cap K per writer)
    genuine_refs: list[int] = field(default_factory=list)
    skilled_refs: list[int] = field(default_factory=list)
    random_refs: list[int] = field(default_factory=list)


@dataclass(frozen=True)
class Trial:
    writer: str
    references: tuple[int, ...]
    genuine: tuple[int, ...]
    skilled: tuple[int, ...]
    random: tuple[int, ...]


def make_trials(marks: Sequence[LabelledMark], references: int, seed: int = 0) -> list[Trial]:
    """The enrolments and queries of the protocol, as indices into ``marks``."""
    rng = np.random.default_rng(seed)
    genuine_by_writer: dict[str, list[int]] = defaultdict(list)
    forged_by_writer: dict[str, list[int]] = defaultdict(list)
    for index, mark in enumerate(marks):
        (genuine_by_writer if mark.genuine else forged_by_writer)[mark.writer].append(index)
    writers = sorted(genuine_by_writer)
    trials = []
    for writer in writers:
        genuine = genuine_by_writer[writer]
        if len(genuine) < 2:
            continue  # nothing left to score once a reference is enrolled
        k = min(references, len(genuine) - 1)
        chosen = set(rng.choice(genuine, size=k, replace=False).tolist())
        others = [w for w in writers if w != writer]
        random = tuple(int(rng.choice(genuine_by_writer[w])) for w in others)
        trials.append(
            Trial(
                writer=writer,
                references=tuple(sorted(chosen)),
                genuine=tuple(i for i in genuine if i not in chosen),
                skilled=tuple(forged_by_writer.get(writer, [])),
                random=random,
            )
        )
    return trials


def fewer_others(trials: Sequence[Trial], per_writer: int) -> list[Trial]:
    """``trials`` with ``per_writer`` of the other writers' marks each (drawn with rng(0), in trial order) instead of
    all: for scorers that cost a registration per query."""
    from dataclasses import replace

    rng = np.random.default_rng(0)
    return [replace(t, random=tuple(int(i) for i in rng.choice(t.random, min(per_writer, len(t.random)), replace=False)))
            for t in trials]


def run_protocol(trials: Sequence[Trial], scorer: Scorer) -> ProtocolScores:
    scores = ProtocolScores(writers=len(trials))
    for trial in trials:
        k = len(trial.references)
        scores.references = max(scores.references, k)
        for queries, values, counts in ((trial.genuine, scores.genuine, scores.genuine_refs),
                                        (trial.skilled, scores.skilled, scores.skilled_refs),
                                        (trial.random, scores.random, scores.random_refs)):
            values += [scorer(trial.references, q) for q in queries]
            counts += [k] * len(queries)
    return scores


def per_writer(trials: Sequence[Trial], scores: ProtocolScores, threshold_of: Callable[[int], float]) -> list[dict]:
    """Each writer's share of the errors: ``scores`` as :func:`run_protocol` made them from ``trials`` (trial by
    trial, each trial's genuine, then skilled, then random queries), ``threshold_of(K)`` the served threshold.

    Per writer: counts, ``auc`` (genuine vs that writer's skilled forgeries: how well the model ranks within the
    writer), the mean genuine and skilled scores, and FRR / FAR at the threshold (how the one threshold for every
    writer suits this one). Sorted worst ranking first. A pooled EER well above the writers' own rankings says the
    errors come from score levels that differ from writer to writer, not from ranking within a writer.
    """
    rows, g, f = [], 0, 0
    for trial in trials:
        genuine = scores.genuine[g: g + len(trial.genuine)]
        skilled = scores.skilled[f: f + len(trial.skilled)]
        g, f = g + len(trial.genuine), f + len(trial.skilled)
        threshold = threshold_of(len(trial.references))
        row = {"writer": trial.writer, "references": len(trial.references), "n_genuine": len(genuine),
               "n_skilled": len(skilled), "mean_genuine": float(np.mean(genuine)) if genuine else float("nan"),
               "mean_skilled": float(np.mean(skilled)) if skilled else float("nan"),
               "frr": float(np.mean([v < threshold for v in genuine])) if genuine else float("nan"),
               "far": float(np.mean([v >= threshold for v in skilled])) if skilled else float("nan")}
        row["auc"] = roc_auc(genuine, skilled) if genuine and skilled else float("nan")
        rows.append(row)
    return sorted(rows, key=lambda row: (np.nan_to_num(row["auc"], nan=2.0), row["writer"]))


def summarize(scores: ProtocolScores, threshold: float | None = None) -> dict:
    """Metrics of one protocol run; ``far``/``frr`` (skilled forgeries) need a threshold."""
    eer, eer_threshold = equal_error_rate(scores.genuine, scores.skilled)
    eer_random, _ = equal_error_rate(scores.genuine, scores.random)
    result = {
        "eer": eer,
        "eer_threshold": eer_threshold,
        "eer_random": eer_random,
        "auc": roc_auc(scores.genuine, scores.skilled),
        "auc_random": roc_auc(scores.genuine, scores.random),
        "n_genuine": len(scores.genuine),
        "n_forged": len(scores.skilled),
        "n_random": len(scores.random),
        "writers": scores.writers,
        "references": scores.references,
    }
    if threshold is not None:
        far, frr = error_rates_at(threshold, scores.genuine, scores.skilled)
        far_random, _ = error_rates_at(threshold, scores.genuine, scores.random)
        result.update(threshold=threshold, far=far, frr=frr, far_random=far_random)
    return result


OVERLAY_OTHER_PER_DESIGN = 8  # with the overlay check, other designs' impressions scored per design


def evaluate_marks(data_dir, kind: str, references: int, seed: int = 0, models_dir=None, baselines: bool = True,
                   heldout_only: bool = False, overlay: bool = True, draws: int = 1, by_writer: bool = False) -> dict:
    """``stampauth eval signatures``: the shipped model and the baselines through one protocol.

    ``heldout_only`` keeps only the writers that the model card lists as validation writers
    (never seen in training), for honest figures on the set the model was trained on.

    Stamps whose card has an overlay check (:mod:`stampauth.overlay`) are scored as the server scores them, the
    encoder's similarity fused with the overlay; every query costs a registration, so each design then meets
    :data:`OVERLAY_OTHER_PER_DESIGN` other designs' impressions (seeded), not all of them, and the encoder alone is
    reported on the same trials under ``encoder_alone``. ``overlay=False`` scores the encoder alone, on all.

    ``draws`` > 1 repeats the model's protocol with the reference draws of seeds ``seed .. seed + draws - 1`` and
    adds their spread under ``draws`` (mean, standard deviation, min and max of ``eer``, ``eer_random``, ``far`` and
    ``frr``): which K specimens a writer enrolled moves the EER by several points on sets of this size, so one
    draw is a sample, not the model's figure. The top-level figures and the baselines stay those of ``seed``.

    ``by_writer`` adds ``per_writer`` (:func:`per_writer`, the draw of ``seed``): which writers (designs) the errors
    come from.
    """
    import time

    from stampauth.baselines import BASELINES
    from stampauth.datasets import read_colour, read_gray, read_labels
    from stampauth.errors import InvalidInput
    from stampauth.modeling.card import load_encoder
    from stampauth.scoring import error_rates_at, fewshot_score, threshold_for

    if references < 1:
        raise InvalidInput("--references must be at least 1")
    if draws < 1:
        raise InvalidInput("--draws must be at least 1")
    marks = read_labels(data_dir)
    encoder = load_encoder(kind, models_dir)
    if heldout_only:
        heldout = set(encoder.card.training.get("validation_writers", []))
        marks = [mark for mark in marks if mark.writer in heldout]
        if not marks:
            raise InvalidInput("none of the model card's validation writers is in this data set; drop --heldout")
    # stamps are separated from the print under them by colour: read them in colour
    images = [(read_colour if kind == "stamp" else read_gray)(mark.path) for mark in marks]
    overlay_config = encoder.overlay if overlay else None
    trials = make_trials(marks, references, seed)
    if overlay_config is not None:
        trials = fewer_others(trials, OVERLAY_OTHER_PER_DESIGN)
    started = time.perf_counter()
    canvases = np.stack([encoder.preprocess(image) for image in images])
    preprocess_s = time.perf_counter() - started
    started = time.perf_counter()
    queries = encoder.embed_queries(canvases)  # (n, views, d): a stamp query at every rotation
    embed_s = time.perf_counter() - started
    embeddings = queries[:, 0, :]  # the unturned view serves as the reference embedding
    encoder_scoring = scoring = encoder.card.scoring  # scoring: the served score's (the overlay's when it has one)

    def similarity(refs, q) -> float:
        return fewshot_score(queries[q], embeddings[list(refs)], encoder_scoring)[0]

    overlay_s = 0.0
    if overlay_config is None:
        model_score = similarity
        scores = run_protocol(trials, model_score)
    else:
        from stampauth.overlay import OverlayTrials, fused_score

        started = time.perf_counter()
        overlay_trials = OverlayTrials(images, overlay_config, encoder.pair_model)

        def model_score(refs, q) -> float:
            return fused_score(similarity(refs, q), overlay_trials.measures(refs, q), overlay_config)

        scores = run_protocol(trials, model_score)
        overlay_s = time.perf_counter() - started
        encoder_alone = summarize(run_protocol(trials, similarity))
        scoring = overlay_config.scoring
    # FAR/FRR at the shipped operating point: each score against the threshold for its reference count
    def margins(values, counts):
        return [value - threshold_for(k, scoring) for value, k in zip(values, counts)]

    def summarize_served(protocol: ProtocolScores) -> dict:
        summary = summarize(protocol)
        genuine_margins = margins(protocol.genuine, protocol.genuine_refs)
        far, frr = error_rates_at(0.0, genuine_margins, margins(protocol.skilled, protocol.skilled_refs))
        far_random, _ = error_rates_at(0.0, genuine_margins, margins(protocol.random, protocol.random_refs))
        summary.update(threshold=threshold_for(protocol.references, scoring), far=far, frr=frr, far_random=far_random)
        return summary

    result = summarize_served(scores)
    if draws > 1:
        runs = [result]
        for draw_seed in range(seed + 1, seed + draws):
            draw_trials = make_trials(marks, references, draw_seed)
            if overlay_config is not None:
                draw_trials = fewer_others(draw_trials, OVERLAY_OTHER_PER_DESIGN)
            runs.append(summarize_served(run_protocol(draw_trials, model_score)))
        spread = {}
        for key in ("eer", "eer_random", "far", "frr"):
            values = np.array([run[key] for run in runs])
            spread[key] = {"mean": float(values.mean()), "std": float(values.std()), "min": float(values.min()),
                           "max": float(values.max())}
        result["draws"] = {"n": draws, "seeds": [seed, seed + draws - 1], **spread}
    result.update(
        data=str(data_dir),
        heldout_only=heldout_only,
        kind=kind,
        model_version=encoder.version if overlay_config is None else f"{encoder.version}+{overlay_config.version}",
        score_kind="similarity",
        score_normalization=scoring.normalization_label,
        seed=seed,
        preprocess_ms_per_crop=round(1000 * preprocess_s / len(images), 3),
        embed_ms_per_crop=round(1000 * embed_s / len(images), 3),
        query_views=encoder.views,
    )
    if overlay_config is not None:
        n_scored = len(scores.genuine) + len(scores.skilled) + len(scores.random)
        result.update(
            score="encoder similarity fused with the overlay check (stampauth.overlay)",
            other_per_design=OVERLAY_OTHER_PER_DESIGN,
            overlay_ms_per_query=round(1000 * overlay_s / max(1, n_scored), 3),
            encoder_alone={key: encoder_alone[key] for key in ("eer", "eer_random", "auc", "eer_threshold")},
        )
    if by_writer:
        result["per_writer"] = per_writer(trials, scores, lambda k: threshold_for(k, scoring))
    if kind == "stamp":
        # run_protocol scored the skilled queries trial by trial, in this order
        skilled = [q for trial in trials for q in trial.skilled]
        result["eer_by_change"] = eer_by_forgery_change(marks, dict(zip(skilled, scores.skilled)), scores.genuine)
    if baselines:
        result["baselines"] = {}
        for baseline_class in BASELINES[kind]:
            baseline = baseline_class(kind)
            features = [baseline.features(image) for image in images]
            baseline_scores = run_protocol(
                trials, lambda refs, q: float(np.mean([baseline.similarity(features[r], features[q]) for r in refs]))
            )
            summary = summarize(baseline_scores)
            result["baselines"][baseline.name] = {
                key: summary[key] for key in ("eer", "eer_random", "auc", "eer_threshold")
            }
    return result


def eer_by_forgery_change(marks: Sequence[LabelledMark], skilled_scores: dict[int, float],
                          genuine_scores: Sequence[float]) -> dict:
    """Genuine-versus-forged EER for each kind of change a re-made stamp has (the ``forger`` column's
    ``-remade-<change>+<change>`` suffix; a forgery with two changes counts for both)."""
    groups: dict[str, list[float]] = defaultdict(list)
    for index, score in skilled_scores.items():
        forger = marks[index].forger
        changes = forger.split("-remade-", 1)[1] if "-remade-" in forger else "unknown"
        for change in changes.split("+"):
            groups[change].append(score)
    return {change: {"n": len(values), "eer": equal_error_rate(genuine_scores, values)[0]}
            for change, values in sorted(groups.items())}
