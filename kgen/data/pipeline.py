"""tf.data pipelines that turn a loaded source into training and evaluation batches.

The training stream is infinite and a pure function of (data, batch size, seed, skip), so a
resumed run that skips the batches it already consumed sees exactly what an uninterrupted
run would have seen.
"""

from __future__ import annotations

import tensorflow as tf

from kgen.errors import DataError

__all__ = ["training_stream", "evaluation_batches", "steps_per_epoch"]


def _shard_by_data(dataset: tf.data.Dataset) -> tf.data.Dataset:
    """Multi-worker training must shard by element: these datasets are not file-sharded."""
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return dataset.with_options(options)


def training_stream(
    dataset: tf.data.Dataset,
    global_batch_size: int,
    seed: int,
    *,
    skip_batches: int = 0,
    shuffle_buffer: int = 10_000,
    cache: bool = True,
) -> tf.data.Dataset:
    """cache -> shuffle(seed, reshuffle_each_iteration=True) -> repeat() -> batch(global, drop_remainder=True)
    -> skip(skip_batches) -> prefetch(AUTOTUNE).

    Infinite and deterministic for a given seed, so that a resumed run that skips the batches
    already consumed sees exactly the batches an uninterrupted run would. Batches are
    global (all replicas); drop_remainder keeps their shape static for XLA and distribution.
    """
    if cache:
        dataset = dataset.cache()
    # Shuffle before repeat: every epoch is a full permutation, and batches straddle epochs
    # only through the (deterministic) repeat, so skip() reproduces the exact position.
    dataset = dataset.shuffle(shuffle_buffer, seed=seed, reshuffle_each_iteration=True)
    dataset = dataset.repeat().batch(global_batch_size, drop_remainder=True)
    if skip_batches:
        dataset = dataset.skip(skip_batches)
    return _shard_by_data(dataset.prefetch(tf.data.AUTOTUNE))


def evaluation_batches(dataset: tf.data.Dataset, global_batch_size: int, *, cache: bool = True) -> tf.data.Dataset:
    """cache -> batch(global_batch_size), keeping the last partial batch -> prefetch.

    Evaluation must see every example once, so the remainder is not dropped.
    """
    if cache:
        dataset = dataset.cache()
    return _shard_by_data(dataset.batch(global_batch_size).prefetch(tf.data.AUTOTUNE))


def steps_per_epoch(num_examples: int, global_batch_size: int) -> int:
    """Full batches per epoch (the training stream drops the remainder).

    Raises DataError when the data does not fill even one batch.
    """
    if global_batch_size < 1:
        raise DataError(f"batch size {global_batch_size} is not positive; pass --batch-size N with N >= 1.")
    if num_examples < global_batch_size:
        raise DataError(
            f"{num_examples} examples do not fill one batch of {global_batch_size}; "
            f"pass a smaller --batch-size (at most {num_examples}) or a larger --limit."
        )
    return num_examples // global_batch_size
