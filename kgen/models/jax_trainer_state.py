"""Keras's JAX trainer state, extended to models with several optimizers.

Keras 3's JAX trainer carries `model.optimizer`'s variables, and only those, through its
compiled train step: it gathers them into the state (`_get_jax_state`), frees the
variables' own copies while training (`_purge_model_variables`), declares their shardings
under a distribution (`_get_state_sharding_spec`) and writes them back after (`jax_state_sync`).
A model whose `training_optimizers` are more than `model.optimizer` (an adversarial model's
discriminator optimizer) would train its second network with an optimizer whose moments and
iteration count never advance. This mixin appends the other optimizers' variables to the
optimizer part of each of those four, so the state's third entry holds every optimizer's
variables in the order of `training_optimizers`, which is what `kgen.models.jax_steps`
reads. It overrides the trainer instead of replacing `fit`, so Keras's callbacks, logs and
distribution stay as they are. Under TensorFlow none of these methods is called.
"""


class ExtraOptimizersJaxState:
    """Mixin for a `keras.Model` (before it in the bases): carry the variables of
    `training_optimizers[1:]` in Keras's JAX trainer state, after `model.optimizer`'s."""

    @property
    def training_optimizers(self):
        """Every optimizer a train step applies, `self.optimizer` first."""
        return (self.optimizer,)

    def trainer_optimizer_variables(self):
        """Every training optimizer's variables, `self.optimizer`'s first: the optimizer
        part of the JAX trainer's state (what `kgen.models.jax_steps` reads)."""
        return [v for optimizer in self.training_optimizers for v in optimizer.variables]

    def _extra_optimizer_variables(self):
        return self.trainer_optimizer_variables()[len(self.optimizer.variables) :]

    def _get_jax_state(self, *args, **kwargs):
        flags = _state_flags(*args, **kwargs)
        # Read before the base class purges (it purges the extra ones too, below).
        extra = [v.value for v in self._extra_optimizer_variables()] if flags[2] else None
        state = list(super()._get_jax_state(*args, **kwargs))
        if extra:
            index = sum(flags[:2])  # after the trainable and non-trainable entries asked for
            state[index] = [*state[index], *extra]
        return tuple(state)

    def _purge_model_variables(self, *args, **kwargs):
        super()._purge_model_variables(*args, **kwargs)
        if _state_flags(*args, **kwargs)[2]:
            for variable in self._extra_optimizer_variables():
                variable._value = None

    def jax_state_sync(self):
        state = getattr(self, "_jax_state", None)
        pending = bool(state) and not self._jax_state_synced
        super().jax_state_sync()  # zip stops after model.optimizer's variables
        values = state.get("optimizer_variables") if pending else None
        if values:
            first = len(self.optimizer.variables)
            for variable, value in zip(self._extra_optimizer_variables(), values[first:]):
                variable.assign(value)

    def _get_state_sharding_spec(self):
        trainable, non_trainable, optimizer, metrics = super()._get_state_sharding_spec()
        optimizer = [
            *optimizer,
            *(variable.value.sharding for variable in self._extra_optimizer_variables()),
        ]
        return trainable, non_trainable, optimizer, metrics


def _state_flags(
    trainable_variables=False,
    non_trainable_variables=False,
    optimizer_variables=False,
    metrics_variables=False,
    purge_model_variables=False,
):
    """Which parts of the state a `_get_jax_state` or `_purge_model_variables` call names."""
    return trainable_variables, non_trainable_variables, optimizer_variables
