"""The train and test steps of every family, written once for every backend.

A model trained on one objective supplies `per_example_terms(data, training)`: a dict of
per-example tensors whose "loss" entry is the objective. An adversarial model supplies
`discriminator_terms` and `generator_terms` the same way. The steps below say what one
step does in `keras.ops` and the backend's primitives (`backend_steps()`): `minimize`
(one optimizer step on a per-example loss averaged over the global batch, skipped when its
gradients are not finite) and `once_for_all_replicas` (an update every replica makes
identically). How a step meets Keras's trainer (variables updated in place on TensorFlow,
state in and out on JAX) is the backend module's business: `train_step(model, step, ...)`.
"""

from keras import ops

from kgen.models.steps import backend_steps


def objective_train_step(model, data):
    """One optimizer step on the mean per-example loss, with the layers' regularization."""
    terms = backend_steps().minimize(
        model.optimizer,
        model.trainable_variables,
        lambda: model.per_example_terms(data, training=True),
        "loss",
        lambda: model.losses,
    )
    return model.update_trackers(terms)


def objective_test_step(model, data):
    """Metrics on one batch without updating weights."""
    return model.update_trackers(model.per_example_terms(data, training=False))


def adversarial_train_step(model, data):
    """One step of an `AdversarialModel` (its docstring walks through it): `model.d_steps`
    discriminator steps, one generator step, then the generator's EMA.

    Every loss is a per-example term averaged over the *global* batch, as in
    `objective_train_step`; each optimizer scales its own loss under mixed float16.
    """
    primitives = backend_steps()
    real, labels = model.unpack(data)
    real = model.to_network_range(real)
    batch = ops.shape(real)[0]
    discriminator = model.discriminator.trainable_variables
    # The discriminator's terms are logged as their mean over the critic steps: the last
    # step's alone would hide the others (and with lazy R1, `r1_penalty` would read 0
    # whenever d_steps is a multiple of r1_every).
    d_sums = {}
    for _ in range(model.d_steps):
        z = model.draw_latent(batch)
        d_terms = primitives.minimize(
            model.d_optimizer,
            discriminator,
            lambda z=z: model.discriminator_terms(real, labels, z, training=True),
            "d_loss",
        )
        primitives.once_for_all_replicas(model.after_discriminator_step)
        d_sums = {name: d_sums.get(name, 0.0) + value for name, value in d_terms.items()}
    d_terms = {name: total / model.d_steps for name, total in d_sums.items()}
    z = model.draw_latent(batch)
    g_terms = primitives.minimize(
        model.g_optimizer,
        model.generator.trainable_variables,
        lambda: model.generator_terms(labels, z, training=True),
        "g_loss",
    )
    primitives.once_for_all_replicas(model.update_ema)
    return model.update_trackers({**d_terms, **g_terms})


def adversarial_test_step(model, data):
    """Both objectives' terms on one batch (with a fresh z), without updating weights."""
    real, labels = model.unpack(data)
    real = model.to_network_range(real)
    z = model.draw_latent(ops.shape(real)[0])
    terms = model.discriminator_terms(real, labels, z)
    terms.update(model.generator_terms(labels, z))
    return model.update_trackers(terms)
