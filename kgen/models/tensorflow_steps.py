"""TensorFlow train and test steps: models trained on one objective, and adversarial pairs.

A model trained on one objective supplies `per_example_terms(data, training)`: a dict of
per-example tensors whose "loss" entry is the objective. An adversarial model supplies
`discriminator_terms` and `generator_terms` the same way. Kept apart from the model files
so that their math stays backend-portable; a JAX step would sit beside this one.
"""

import tensorflow as tf


def objective_train_step(model, data):
    """One optimizer step on the mean per-example loss, correct under any tf.distribute strategy."""
    with tf.GradientTape() as tape:
        terms = model.per_example_terms(data, training=True)
        # Divide by the *global* batch: the optimizer sums gradients over replicas.
        loss = tf.nn.compute_average_loss(terms["loss"])
        if model.losses:
            loss += tf.nn.scale_regularization_loss(tf.add_n(model.losses))
        scaled_loss = model.optimizer.scale_loss(loss)  # identity unless mixed float16
    gradients = tape.gradient(scaled_loss, model.trainable_variables)
    model.optimizer.apply_gradients(zip(gradients, model.trainable_variables))
    return model.update_trackers(terms)


def objective_test_step(model, data):
    """Metrics on one batch without updating weights."""
    return model.update_trackers(model.per_example_terms(data, training=False))


def adversarial_train_step(model, data):
    """`model.d_steps` discriminator steps, one generator step, then the generator's EMA.

    Every loss is a per-example term averaged over the *global* batch, as in
    `objective_train_step`; each optimizer scales its own loss under mixed float16.
    """
    real, labels = model.unpack(data)
    real = model.to_network_range(real)
    batch = tf.shape(real)[0]
    discriminator = model.discriminator.trainable_variables
    for _ in range(model.d_steps):
        z = model.draw_latent(batch)
        with tf.GradientTape() as tape:
            d_terms = model.discriminator_terms(real, labels, z, training=True)
            loss = tf.nn.compute_average_loss(d_terms["d_loss"])
            scaled_loss = model.d_optimizer.scale_loss(loss)
        gradients = tape.gradient(scaled_loss, discriminator)
        model.d_optimizer.apply_gradients(zip(gradients, discriminator))
        in_cross_replica_context(model.after_discriminator_step)
    generator = model.generator.trainable_variables
    z = model.draw_latent(batch)
    with tf.GradientTape() as tape:
        g_terms = model.generator_terms(labels, z, training=True)
        scaled_loss = model.g_optimizer.scale_loss(tf.nn.compute_average_loss(g_terms["g_loss"]))
    gradients = tape.gradient(scaled_loss, generator)
    model.g_optimizer.apply_gradients(zip(gradients, generator))
    in_cross_replica_context(model.update_ema)
    return model.update_trackers({**d_terms, **g_terms})


def in_cross_replica_context(update):
    """Run `update()` once for all replicas.

    Variables that every replica updates identically (an average of weights, clipped
    weights) have no aggregation, and a mirrored variable without one refuses assignment from a replica;
    from the cross-replica context the assignment reaches every copy.
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
