"""TensorFlow train and test steps for models trained on one objective.

A model supplies `per_example_terms(data, training)`: a dict of per-example tensors whose
"loss" entry is the objective. Kept apart from the model files so that their math stays
backend-portable; a JAX step would sit beside this one.
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
