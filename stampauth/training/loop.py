"""The Siamese training loop both encoders share: batches drawn ahead, checkpoints, resume.

Batch ``i`` comes from ``batch(i)`` (deterministic per step), so a run that is stopped and
restarted from its checkpoint is the same run.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Callable

import numpy as np

log = logging.getLogger("stampauth.train")


def resumable_run(model, lr: float, steps: int, warmup_steps: int, run_dir):
    """AdamW (weight decay 1e-4) warming up to ``lr`` then cosine decay over ``steps``, and a checkpoint of
    model, optimizer, step and training seconds in ``run_dir/ckpt``, restored when one is there.

    Returns ``(optimizer, step variable, train-seconds variable, checkpoint manager)``.
    """
    import keras
    import tensorflow as tf

    schedule = keras.optimizers.schedules.CosineDecay(lr * 0.1, steps, alpha=0.02,
                                                      warmup_target=lr, warmup_steps=warmup_steps)
    optimizer = keras.optimizers.AdamW(schedule, weight_decay=1e-4)
    step_var = tf.Variable(0, dtype=tf.int64, trainable=False)
    train_seconds = tf.Variable(0.0, dtype=tf.float64, trainable=False)  # summed over resumed runs
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    checkpoint = tf.train.Checkpoint(model=model, optimizer=optimizer, step=step_var, train_seconds=train_seconds)
    manager = tf.train.CheckpointManager(checkpoint, str(run_dir / "ckpt"), max_to_keep=2)
    if manager.latest_checkpoint:
        checkpoint.restore(manager.latest_checkpoint)
        log.info("resumed from %s at step %d", manager.latest_checkpoint, int(step_var.numpy()))
    return optimizer, step_var, train_seconds, manager


def train_siamese(encoder, batch: Callable[[int], tuple[np.ndarray, np.ndarray]], steps: int, lr: float, run_dir,
                  checkpoint_every: int, log_every: int, on_checkpoint: Callable[[int], None] | None = None,
                  workers: int = 2) -> float:
    """Train ``encoder`` with the multi-similarity loss on ``batch(step) -> (images (B, H, W, 1), labels (B,))``.

    AdamW with a warm-up to ``lr`` and cosine decay; a checkpoint every ``checkpoint_every`` steps
    in ``run_dir/ckpt`` (resumed from when present), then ``on_checkpoint(step)``.  Returns the
    seconds spent in training steps, summed over resumed runs.
    """
    import tensorflow as tf

    from stampauth.training.signature import multi_similarity_loss

    optimizer, step_var, train_seconds, manager = resumable_run(encoder, lr, steps, min(200, steps // 10), run_dir)

    @tf.function(input_signature=[tf.TensorSpec([None, *encoder.input_shape[1:]], tf.float32), tf.TensorSpec([None], tf.int32)])
    def train_step(images, labels):
        with tf.GradientTape() as tape:
            loss = multi_similarity_loss(encoder(images, training=True), labels)
        gradients = tape.gradient(loss, encoder.trainable_variables)
        optimizer.apply_gradients(zip(gradients, encoder.trainable_variables))
        return loss

    start_step = int(step_var.numpy())
    # Threads draw batches ahead (OpenCV releases the GIL); batch i is always the same batch.
    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="batches")
    pending: deque = deque()
    next_to_submit = start_step
    ahead = 2 * workers + 2

    def submit_until(limit: int) -> None:
        nonlocal next_to_submit
        while next_to_submit < min(limit, steps):
            pending.append(pool.submit(batch, next_to_submit))
            next_to_submit += 1

    submit_until(start_step + ahead)
    started, losses = time.time(), []
    try:
        for step in range(start_step, steps):
            step_started = time.time()
            images, labels = pending.popleft().result()
            submit_until(step + ahead + 1)
            losses.append(float(train_step(images, labels)))
            step_var.assign(step + 1)
            train_seconds.assign_add(time.time() - step_started)
            if (step + 1) % log_every == 0:
                log.info("step %d/%d loss %.4f (%.2f s/step)", step + 1, steps, np.mean(losses[-log_every:]),
                         (time.time() - started) / (step + 1 - start_step))
            if (step + 1) % checkpoint_every == 0 or step + 1 == steps:
                manager.save(checkpoint_number=step + 1)
                if on_checkpoint is not None:
                    on_checkpoint(step + 1)
    finally:
        pool.shutdown(cancel_futures=True)
    return float(train_seconds.numpy())
