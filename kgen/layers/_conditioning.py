"""Class conditioning shared by the PixelCNN blocks: a learned bias per label."""

from keras import ops


def label_bias(embedding, labels, dtype):
    """The embedding of each image's label as [batch, 1, 1, features], added to every pixel."""
    if labels is None:
        raise ValueError("This block is class-conditional: pass `labels` (one int per image).")
    vectors = ops.cast(embedding(ops.convert_to_tensor(labels, "int32")), dtype)
    return ops.expand_dims(ops.expand_dims(vectors, 1), 1)
