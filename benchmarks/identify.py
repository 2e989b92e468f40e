"""Identification index: recall and latency on galleries of synthetic embeddings.

Builds :class:`stampauth.identification.GalleryIndex` over ``--size`` reference embeddings (128-d unit vectors,
five specimens per identity; identities lie near a 24-dimensional subspace, as a trained encoder's embeddings do,
plus isotropic noise) and measures, for ``--queries`` new specimens of enrolled identities:

* ``recall_at_10``: the share of the 10 nearest references by exact search (brute force) that the index returns
  among its 10 nearest (galleries above the exact-search limit use the HNSW graph; below it the figure is 1);
* ``p50_ms`` / ``p99_ms``: one query's search time on one thread; ``build_s``: loading the whole gallery;
* ``sync_ms``: applying one identity's enrollment (5 references) to the built index, as a replica does for each
  change another replica makes; ``rss_mb``: this process's peak resident memory.

    python benchmarks/identify.py --size 1000000 [--queries 500] [--json]
"""

from __future__ import annotations

import argparse
import json
import resource
import time

import numpy as np


def synthetic_gallery(size: int, dim: int = 128, per: int = 5, seed: int = 0):
    rng = np.random.default_rng(seed)
    identities = max(1, size // per)
    basis = np.linalg.qr(rng.normal(size=(dim, 24)))[0].T.astype(np.float32)
    centres = rng.normal(size=(identities, 24)).astype(np.float32) @ basis
    centres += rng.normal(0, 0.05, centres.shape).astype(np.float32)
    owner = np.repeat(np.arange(identities), per)[:size]
    vectors = centres[owner] + rng.normal(0, 0.04, (size, dim)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors, owner, centres, rng


def main(argv=None) -> dict:
    from stampauth.identification import EXACT_LIMIT, GalleryIndex

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=100_000, help="references in the gallery")
    parser.add_argument("--queries", type=int, default=500)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)

    vectors, owner, centres, rng = synthetic_gallery(args.size)
    galleries: dict[str, list[np.ndarray]] = {}
    for row, identity in enumerate(owner):
        galleries.setdefault(f"id{identity}", []).append(vectors[row])
    index = GalleryIndex(vectors.shape[1])
    started = time.perf_counter()
    index.load(galleries)
    build_s = time.perf_counter() - started

    picks = rng.integers(0, len(centres), args.queries)
    queries = centres[picks] + rng.normal(0, 0.04, (args.queries, vectors.shape[1])).astype(np.float32)
    queries /= np.linalg.norm(queries, axis=1, keepdims=True)
    times, hits = [], 0
    for query in queries:
        begun = time.perf_counter()
        found = index.search(query, 10)
        times.append((time.perf_counter() - begun) * 1000.0)
        # exact: the 10 identities whose best reference is nearest
        scores = vectors @ query
        best = {}
        for row in np.argpartition(-scores, 200)[:200]:
            identity = f"id{owner[row]}"
            best[identity] = max(best.get(identity, -2.0), float(scores[row]))
        truth = [identity for identity, _ in sorted(best.items(), key=lambda kv: -kv[1])[:10]]
        hits += len({m.identity_id for m in found} & set(truth))

    sync_times = []
    for i in range(20):
        fresh = vectors[rng.integers(0, args.size, 5)] + rng.normal(0, 0.01, (5, vectors.shape[1])).astype(np.float32)
        begun = time.perf_counter()
        index.replace_identity(f"new{i}", list(fresh / np.linalg.norm(fresh, axis=1, keepdims=True)))
        sync_times.append((time.perf_counter() - begun) * 1000.0)
    result = {
        "size": args.size, "queries": args.queries, "method": "hnsw" if args.size > EXACT_LIMIT else "exact",
        "recall_at_10": round(hits / (10 * args.queries), 4),
        "p50_ms": round(float(np.percentile(times, 50)), 3), "p99_ms": round(float(np.percentile(times, 99)), 3),
        "build_s": round(build_s, 1), "sync_ms": round(float(np.median(sync_times)), 2),
        "rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0, 1),
    }
    if args.json:
        print(json.dumps(result))
    else:
        print(f"{args.size} references ({result['method']}): recall@10 {result['recall_at_10']:.4f}, query p50 "
              f"{result['p50_ms']} ms, p99 {result['p99_ms']} ms, build {result['build_s']} s, one enrollment synced "
              f"in {result['sync_ms']} ms, peak RSS {result['rss_mb']} MB")
    return result


if __name__ == "__main__":
    main()
