"""The TensorFlow primitives of the train steps (`kgen.models.training_steps`): gradients
by `tf.GradientTape`, losses averaged over the global batch of a `tf.distribute` strategy,
updates made once for all replicas. `kgen.models.jax_steps` offers the same functions for
Keras's JAX backend; the model files reach either through `backend_steps()`.
"""

import keras
import tensorflow as tf


def minimize(optimizer, variables, compute_terms, loss_name, regularization=None):
    """One step of `optimizer` on `variables` against the mean of the per-example term
    `loss_name` of `compute_terms()`, correct under any tf.distribute strategy; returns
    the terms. `regularization()`, if given, returns the layer losses to add.

    A step whose gradients are NaN or infinite on any replica is not applied, and its
    terms come back as NaN: the training callbacks stop the run on them before anything
    saves weights, even when the loss itself was finite.
    """
    with tf.GradientTape() as tape:
        terms = compute_terms()
        # Divide by the *global* batch: the optimizer sums gradients over replicas.
        loss = tf.nn.compute_average_loss(terms[loss_name])
        extra = regularization() if regularization else []
        if extra:
            loss += tf.nn.scale_regularization_loss(tf.add_n(extra))
        scaled_loss = optimizer.scale_loss(loss)  # identity unless mixed float16
    gradients = tape.gradient(scaled_loss, variables)
    if isinstance(optimizer, keras.optimizers.LossScaleOptimizer):
        # Non-finite scaled gradients are routine under loss scaling: the optimizer skips
        # those steps itself and lowers its scale.
        optimizer.apply_gradients(zip(gradients, variables))
        return terms
    finite = gradients_finite_on_every_replica(gradients)
    apply_if(finite, optimizer, gradients, variables)
    nan = tf.constant(float("nan"))
    return {
        name: tf.where(finite, value, tf.cast(nan, value.dtype)) for name, value in terms.items()
    }


def gradients_finite_on_every_replica(gradients):
    """Whether every gradient is finite on every replica (one bool, the same everywhere).

    One sum per gradient, not an elementwise test: a NaN or an infinity anywhere makes the
    total NaN or infinite, and the sums all-reduce across replicas as one number, which
    keeps the check to a few ops (on a GPU each op is a kernel launch). Finite gradients
    whose sum overflows float32 (about 3e38) also count as not finite; a step with such
    gradients has diverged anyway.
    """
    total = tf.add_n(
        [tf.reduce_sum(tf.cast(_values(g), tf.float32)) for g in gradients if g is not None]
        or [tf.constant(0.0)]
    )
    context = tf.distribute.get_replica_context()
    if context is not None and context.num_replicas_in_sync > 1:
        total = context.all_reduce(tf.distribute.ReduceOp.SUM, total)
    return tf.math.is_finite(total)


def _values(gradient):
    """A gradient's values: those of its rows for a sparse (IndexedSlices) gradient."""
    return gradient.values if isinstance(gradient, tf.IndexedSlices) else gradient


def apply_if(condition, optimizer, gradients, variables):
    """`optimizer.apply(gradients, variables)` when `condition` holds, on every replica.

    A strategy that updates through `merge_call` (MirroredStrategy over CPUs, among others)
    cannot branch in the replica context around it, so the branch is taken in the
    cross-replica context, as Keras's LossScaleOptimizer does.
    """
    if tf.__internal__.distribute.strategy_supports_no_merge_call():
        tf.cond(condition, lambda: optimizer.apply(gradients, variables), lambda: None)
        return

    def branch_for_all_replicas(distribution, condition, gradients):
        def apply_everywhere():
            distribution.extended.call_for_each_replica(
                optimizer.apply, args=(gradients, variables)
            )

        # Every replica holds the same all-reduced value: take the first.
        tf.cond(
            distribution.experimental_local_results(condition)[0], apply_everywhere, lambda: None
        )

    tf.distribute.get_replica_context().merge_call(
        branch_for_all_replicas, args=(condition, gradients)
    )


def train_step(model, step, data):
    """Keras's TensorFlow trainer calls `train_step(data)`: run `step(model, data)` (one of
    `kgen.models.training_steps`), which updates the variables in place."""
    return step(model, data)


test_step = train_step  # the same call: Keras's `test_step(data)`


def once_for_all_replicas(update):
    """Run `update()` once for all replicas.

    Variables that every replica updates identically (an average of weights, clipped
    weights) have no aggregation, and a mirrored variable without one refuses assignment
    from a replica; from the cross-replica context the assignment reaches every copy.
    """
    context = tf.distribute.get_replica_context()
    if context is None:
        return update()
    return context.merge_call(lambda strategy: update())


def input_gradients(function, inputs):
    """d sum(function(inputs)) / d inputs: each example's score gradient w.r.t. its input."""
    with tf.GradientTape() as tape:
        tape.watch(inputs)
        outputs = function(inputs)
    return tape.gradient(outputs, inputs)


def cond(condition, true_fn, false_fn):
    """`ops.cond`, whose branches may assign variables (TensorFlow's graph handles it)."""
    return tf.cond(condition, true_fn, false_fn)
