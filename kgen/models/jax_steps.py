"""The JAX primitives of the train steps (`kgen.models.training_steps`), and the adapter
that runs those steps under Keras's JAX trainer: the counterpart of `tensorflow_steps`.

That trainer calls `train_step(state, data)` with the model's state as arrays (trainable,
non-trainable, optimizer and metrics variables) and takes (logs, new state) back: nothing
may be assigned in place. `train_step` below runs a step, unchanged, inside one
`keras.StatelessScope` that maps every variable to its array and records what the step
assigns (weights, optimizer moments, seed generators' states, batch-norm moments, the EMA,
metric totals), as Keras's guide to custom JAX train steps does. The primitives work on
that scope: `minimize` differentiates with `jax.value_and_grad` in a nested scope and
records the optimizer's update; `input_gradients` and `cond` carry the assignments made
inside a `jax.grad` or a `lax.cond` out of it, where they would otherwise escape as
tracers.

Keras's JAX trainer threads the variables of `model.optimizer` only; an adversarial model
has two optimizers. `KgenModel` adds the others' variables after them in the trainer's
state (`kgen.models.jax_trainer_state`), so `state[2]` holds every optimizer's variables,
in the order of `model.training_optimizers`.
"""

import jax
import jax.numpy as jnp
import keras
from keras.src.backend.common.stateless_scope import get_stateless_scope


def _run_stateless(model, step, state, data, variable_groups):
    with keras.StatelessScope(
        state_mapping=[
            (variable, value)
            for variables, values in zip(variable_groups, state)
            for variable, value in zip(variables, values)
        ]
    ) as scope:
        logs = step(model, data)
    return logs, tuple(
        [scope.get_current_value(variable) for variable in variables]
        for variables in variable_groups
    )


def train_step(model, step, state, data):
    """Keras's JAX trainer calls `train_step(state, data)`: run `step(model, data)` (one of
    `kgen.models.training_steps`) on `state`; return (logs, the new state)."""
    groups = (
        model.trainable_variables,
        model.non_trainable_variables,
        model.trainer_optimizer_variables(),
        model.metrics_variables,
    )
    return _run_stateless(model, step, state, data, groups)


def test_step(model, step, state, data):
    """`test_step(state, data)`: as `train_step`, without the optimizers' state."""
    groups = (model.trainable_variables, model.non_trainable_variables, model.metrics_variables)
    return _run_stateless(model, step, state, data, groups)


# --- Primitives, run inside the step's scope ---


class _RecordingScope(keras.StatelessScope):
    """A stateless scope that also notes, in `variables` (id -> variable), which variable
    each assignment was to, so that a primitive called outside any step can assign them."""

    def __init__(self, variables):
        super().__init__()
        self.variables = variables

    def add_update(self, update):
        self.variables[id(update[0])] = update[0]
        super().add_update(update)


def _nested(values, function, *args, variables=None):
    """`function(*args)` in a stateless scope that starts from `values` (id(variable) ->
    array); returns its output and the entries it assigned (their variables go into
    `variables`, when given)."""
    scope = _RecordingScope({} if variables is None else variables)
    scope.state_mapping.update(values)
    with scope:
        output = function(*args)
    assigned = {
        key: value for key, value in scope.state_mapping.items() if values.get(key) is not value
    }
    return output, assigned


def _outer_values():
    scope = get_stateless_scope()
    return {} if scope is None else dict(scope.state_mapping)


def _record(assigned, variables=None):
    """Make the assignments a nested scope collected those of the enclosing scope, or,
    outside any step, assign them to `variables` (id -> variable) themselves."""
    scope = get_stateless_scope()
    if scope is not None:
        scope.state_mapping.update(assigned)
        return
    for key, value in assigned.items():
        variables[key].assign(value)


def minimize(optimizer, variables, compute_terms, loss_name, regularization=None):
    """One step of `optimizer` on `variables` against the batch mean of the per-example term
    `loss_name` of `compute_terms()` (plus `regularization()`'s losses, if given); returns
    the terms. Under Keras's JAX distribution the arrays are global, so the mean already
    spans every device.

    A step whose gradients are not all finite is not applied and its terms come back as
    NaN, as on TensorFlow, so the training callbacks stop the run before anything saves the
    weights (under loss scaling the optimizer skips such steps itself).
    """
    outer = _outer_values()
    keys = [id(variable) for variable in variables]
    current = [outer[key] for key in keys]
    loss_scaling = isinstance(optimizer, keras.optimizers.LossScaleOptimizer)

    def loss_fn(trained):
        def objective():
            terms = compute_terms()
            loss = jnp.mean(terms[loss_name])
            extra = regularization() if regularization else []
            if extra:
                loss = loss + sum(extra)
            return terms, optimizer.scale_loss(loss)  # identity unless mixed float16

        (terms, loss), assigned = _nested({**outer, **dict(zip(keys, trained))}, objective)
        for key in keys:  # the values differentiated at, not updates
            assigned.pop(key, None)
        return loss, (terms, assigned)

    (_, (terms, assigned)), gradients = jax.value_and_grad(loss_fn, has_aux=True)(current)
    _record(assigned)
    optimizer_keys = [id(variable) for variable in optimizer.variables]
    optimizer_values = [outer[key] for key in optimizer_keys]
    new_values, new_optimizer_values = optimizer.stateless_apply(
        optimizer_values, gradients, current
    )
    if not loss_scaling:
        finite = jnp.isfinite(sum(jnp.sum(g.astype("float32")) for g in gradients))
        new_values = [jnp.where(finite, new, old) for new, old in zip(new_values, current)]
        new_optimizer_values = [
            jnp.where(finite, new, old) for new, old in zip(new_optimizer_values, optimizer_values)
        ]
        terms = {name: jnp.where(finite, value, jnp.nan) for name, value in terms.items()}
    _record({**dict(zip(keys, new_values)), **dict(zip(optimizer_keys, new_optimizer_values))})
    return terms


def once_for_all_replicas(update):
    """`update()`: Keras's JAX distribution computes on global arrays, so there is one
    update, seen by every device."""
    return update()


def input_gradients(function, inputs):
    """d sum(function(inputs)) / d inputs: each example's score gradient w.r.t. its input.

    What `function` assigns (a seed generator's state, batch-norm moments) is carried out
    of `jax.grad` and recorded in the step's scope.
    """
    outer = _outer_values()
    variables = {}

    def total(x):
        output, assigned = _nested(outer, function, x, variables=variables)
        return jnp.sum(output), assigned

    gradients, assigned = jax.grad(total, has_aux=True)(inputs)
    _record(assigned, variables)
    return gradients


def cond(condition, true_fn, false_fn):
    """`ops.cond`, whose branches may assign variables: each branch runs on the step's
    variables and returns their new values beside its output, so `lax.cond` returns the
    taken branch's assignments."""
    outer = _outer_values()
    variables = {}

    def branch(function):
        def run(values):
            output, assigned = _nested(values, function, variables=variables)
            return output, {**values, **assigned}

        return run

    if not outer:  # outside a step: the branches' assignments apply to the variables
        return true_fn() if condition else false_fn()
    output, values = jax.lax.cond(condition, branch(true_fn), branch(false_fn), outer)
    _record(values)
    return output
