"""JAX train and test steps for models trained on one objective: the counterparts of
`tensorflow_steps.objective_train_step` and `objective_test_step` under Keras's JAX trainer.

That trainer calls `train_step(state, data)` with the model's state as arrays, (trainable,
non-trainable, optimizer, metrics variables), and takes (logs, new state) back: nothing may
be assigned in place. The model's math (`per_example_terms`, in keras.ops) runs unchanged
inside a `keras.StatelessScope` that maps every variable to its array and records what the
step would assign (seed generators' states, batch-norm moments, metric totals), as Keras's
guide to custom JAX train steps does.
"""

import jax
import jax.numpy as jnp
import keras


def _scope(variables, values):
    return keras.StatelessScope(state_mapping=list(zip(variables, values)))


def _current(scope, variables):
    return [scope.get_current_value(variable) for variable in variables]


def _terms_and_updates(model, trainable, non_trainable, data, training):
    """(per-example terms, the non-trainable variables' new values) of one batch."""
    variables = model.trainable_variables + model.non_trainable_variables
    with _scope(variables, [*trainable, *non_trainable]) as scope:
        terms = model.per_example_terms(data, training=training)
        regularization = sum(model.losses) if training and model.losses else 0.0
    return terms, regularization, _current(scope, model.non_trainable_variables)


def _update_trackers(model, metrics_values, terms):
    with _scope(model.metrics_variables, metrics_values) as scope:
        logs = model.update_trackers(terms)
    return logs, _current(scope, model.metrics_variables)


def objective_train_step(model, state, data):
    """One optimizer step on the mean per-example loss plus the layers' regularization.

    A step whose gradients are not all finite is not applied and its terms come back as
    NaN, as on TensorFlow, so the training callbacks stop the run before anything saves
    the weights. The mean is over the whole batch: under Keras's JAX distribution the
    arrays are global, so it already spans every device.
    """
    trainable, non_trainable, optimizer_values, metrics_values = state
    optimizer = model.optimizer
    loss_scaling = isinstance(optimizer, keras.optimizers.LossScaleOptimizer)

    def loss_fn(trainable, non_trainable):
        terms, regularization, non_trainable = _terms_and_updates(
            model, trainable, non_trainable, data, training=True
        )
        loss = jnp.mean(terms["loss"]) + regularization
        if loss_scaling:  # the scale is one of the optimizer's variables
            with _scope(optimizer.variables, optimizer_values):
                loss = optimizer.scale_loss(loss)
        return loss, (terms, non_trainable)

    (_, (terms, non_trainable)), gradients = jax.value_and_grad(loss_fn, has_aux=True)(
        trainable, non_trainable
    )
    new_trainable, new_optimizer_values = optimizer.stateless_apply(
        optimizer_values, gradients, trainable
    )
    if not loss_scaling:  # the loss-scale optimizer skips non-finite steps itself
        finite = jnp.isfinite(sum(jnp.sum(g.astype("float32")) for g in gradients))
        new_trainable = [jnp.where(finite, new, old) for new, old in zip(new_trainable, trainable)]
        new_optimizer_values = [
            jnp.where(finite, new, old) for new, old in zip(new_optimizer_values, optimizer_values)
        ]
        terms = {name: jnp.where(finite, value, jnp.nan) for name, value in terms.items()}
    logs, metrics_values = _update_trackers(model, metrics_values, terms)
    return logs, (new_trainable, non_trainable, new_optimizer_values, metrics_values)


def objective_test_step(model, state, data):
    """Metrics on one batch without updating weights."""
    trainable, non_trainable, metrics_values = state
    terms, _, non_trainable = _terms_and_updates(
        model, trainable, non_trainable, data, training=False
    )
    logs, metrics_values = _update_trackers(model, metrics_values, terms)
    return logs, (trainable, non_trainable, metrics_values)
