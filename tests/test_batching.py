"""Cross-call batching: every caller gets exactly its own rows back, overlapping calls share model calls,
a failure reaches every caller of that model call, and a lone call waits for nothing."""

import threading
import time

import numpy as np
import pytest

from stampauth.modeling.batching import CrossCallBatcher


def test_concurrent_callers_share_calls_and_get_their_own_rows():
    seen = []

    def run(batch):
        seen.append(len(batch))
        time.sleep(0.01)  # a model call takes time, so later callers pile up
        return batch * 2

    batcher = CrossCallBatcher(run, max_rows=16)
    results, barrier = {}, threading.Barrier(12)

    def caller(i):
        barrier.wait()
        mine = np.full((1 + i % 3, 4), float(i))
        results[i] = (mine, batcher(mine))

    threads = [threading.Thread(target=caller, args=(i,)) for i in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    batcher.close()
    assert all(np.array_equal(out, mine * 2) for mine, out in results.values()) and len(results) == 12
    assert batcher.rows == sum(1 + i % 3 for i in range(12))
    assert batcher.calls < 12 and max(seen) <= 16  # overlapping calls were joined, never beyond max_rows


def test_a_failure_reaches_every_caller_and_the_batcher_goes_on():
    calls = {"n": 0}

    def run(batch):
        calls["n"] += 1
        if calls["n"] == 1:
            raise ValueError("model broke")
        return batch

    batcher = CrossCallBatcher(run)
    with pytest.raises(ValueError, match="model broke"):
        batcher(np.ones((1, 2)))
    assert np.array_equal(batcher(np.ones((2, 2))), np.ones((2, 2)))
    batcher.close()


def test_a_lone_call_goes_straight_through_and_big_batches_skip_the_queue():
    batcher = CrossCallBatcher(lambda batch: batch + 1, max_rows=4)
    started = time.perf_counter()
    assert np.array_equal(batcher(np.zeros((1, 3))), np.ones((1, 3)))
    assert time.perf_counter() - started < 0.5
    assert np.array_equal(batcher(np.zeros((9, 3))), np.ones((9, 3)))  # over max_rows: run directly
    assert batcher.calls == 1
    batcher.close()


def test_the_encoder_gives_the_same_embeddings_with_batching():
    from stampauth.modeling.card import load_encoder

    encoder = load_encoder("signature")
    canvases = np.random.default_rng(0).random((3, *encoder.card.input_shape[:2])).astype(np.float32)
    plain = encoder.embed(canvases)
    encoder.enable_batching()
    try:
        shared = [None] * 3

        def one(i):
            shared[i] = encoder.embed(canvases[i:i + 1])[0]

        threads = [threading.Thread(target=one, args=(i,)) for i in range(3)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(10)
        np.testing.assert_allclose(np.stack(shared), plain, atol=1e-5)
    finally:
        encoder.close()
