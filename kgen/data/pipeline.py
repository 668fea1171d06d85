"""tf.data pipelines that turn a loaded source into training and evaluation batches.

The training stream is infinite and a pure function of (data, batch size, seed, skip), so a
resumed run that skips the batches it already consumed sees exactly what an uninterrupted
run would have seen.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from kgen.data._common import steps_per_epoch

__all__ = [
    "training_stream",
    "evaluation_batches",
    "steps_per_epoch",
    "images_and_labels",
    "count_examples",
]


def _shard_by_data(dataset: tf.data.Dataset) -> tf.data.Dataset:
    """Multi-worker training must shard by element: these datasets are not file-sharded."""
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return dataset.with_options(options)


_STREAM_GRAPH_SEED = 20_161_101  # any non-zero constant


def training_stream(
    dataset: tf.data.Dataset,
    global_batch_size: int,
    seed: int,
    *,
    skip_batches: int = 0,
    shuffle_buffer: int = 10_000,
    cache: bool = True,
) -> tf.data.Dataset:
    """An infinite stream of global batches: epoch e is the data shuffled with a seed derived
    from (seed, e), cut into floor(N / batch) batches; the first `skip_batches` are left out.

    Each epoch's order is a pure function of (seed, epoch), not of how often the dataset
    object was iterated before (Keras's `fit` iterates it once to build the model, then
    again to train; a reshuffling dataset would hand the two different orders). So a resumed
    run that skips the batches it already consumed sees exactly what an uninterrupted run
    would, and starting at a late epoch costs nothing. Batches never straddle two epochs,
    matching `steps_per_epoch`; drop_remainder keeps shapes static for XLA and distribution.
    """
    if cache:
        dataset = dataset.cache()
    num_examples = count_examples(dataset)
    per_epoch = steps_per_epoch(num_examples, global_batch_size)
    first_epoch, offset = divmod(skip_batches, per_epoch)

    def epoch_batches(epoch):
        # Inside this traced function the graph-level seed is ours: the order then depends
        # on (seed, epoch) alone, never on the caller's global seed. It must not be 0: TF
        # compares the seed pair with (0, 0) in Python, which a tensor op seed cannot take.
        tf.random.set_seed(_STREAM_GRAPH_SEED)
        epoch_seed = tf.constant(seed, tf.int64) * 1_000_003 + epoch
        shuffled = dataset.shuffle(shuffle_buffer, seed=epoch_seed, reshuffle_each_iteration=False)
        return shuffled.batch(global_batch_size, drop_remainder=True)

    stream = tf.data.Dataset.range(first_epoch, tf.int64.max).flat_map(epoch_batches)
    if offset:
        stream = stream.skip(offset)
    # flat_map leaves the cardinality unknown; a distributed iterator's
    # `get_next_as_optional` (which Keras's `fit` calls to run several steps per execution)
    # then allows a short last batch and gives the batch dimension as None. Declared
    # infinite, the stream keeps its static batch shape there too, so a train step traces
    # the same graph, with the same float results, whatever --steps-per-execution is.
    stream = stream.apply(tf.data.experimental.assert_cardinality(tf.data.INFINITE_CARDINALITY))
    return _shard_by_data(stream.prefetch(tf.data.AUTOTUNE))


def count_examples(dataset: tf.data.Dataset) -> int:
    """The number of elements of a finite dataset (counted when its cardinality is unknown)."""
    cardinality = int(dataset.cardinality())
    if cardinality >= 0:
        return cardinality
    return int(dataset.reduce(tf.constant(0, tf.int64), lambda count, _: count + 1))


def evaluation_batches(
    dataset: tf.data.Dataset,
    global_batch_size: int,
    *,
    cache: bool = True,
    whole_batches: bool = False,
) -> tf.data.Dataset:
    """cache -> batch(global_batch_size) -> prefetch.

    Evaluation sees every example once, so the last partial batch is kept, unless
    `whole_batches`: for devices that split every batch in equal parts (JAX's DataParallel,
    whose processes each take their part), where a partial batch need not split.
    """
    if cache:
        dataset = dataset.cache()
    batches = dataset.batch(global_batch_size, drop_remainder=whole_batches)
    return _shard_by_data(batches.prefetch(tf.data.AUTOTUNE))


def images_and_labels(dataset: tf.data.Dataset):
    """(images [N, H, W, C] float32, labels [N] or None) of a finite {"image", ["label"]}
    dataset.
    """
    images, labels = [], []
    for batch in dataset.batch(1000).as_numpy_iterator():
        images.append(batch["image"])
        if "label" in batch:
            labels.append(batch["label"])
    return np.concatenate(images), (np.concatenate(labels) if labels else None)
