"""Checks inside the exported graphs, on each signature's inputs.

A server feeds tensors straight into a signature: TF Serving's session checks neither the
values nor the shapes it is given against the signature, and a label past the last class
turns silently into an unconditioned image (its one-hot is all zeros). So every signature
checks its own inputs first and fails with InvalidArgumentError, whose message names the
signature, the input, the bound and the fix. The checks go by the protocol's argument
names (`num`, `seeds`, `labels`, `images`), whichever model exported them.
"""

import dataclasses

import tensorflow as tf

# The fix for a request past max_sample_num.
_SPLIT_OR_EXPORT_AGAIN = (
    "Split the request, or export again with a larger `kgen export --max-sample-num`."
)


@dataclasses.dataclass(frozen=True)
class SignatureFacts:
    """What the checks of one signature compare its inputs with.

    Attributes:
        name: the signature's name, which each message starts with.
        num_classes: the model's number of classes, or None if it is not conditional.
        image_shape: (H, W, C) of the images it was trained on.
        max_sample_num: the most images one sampling request may ask for.
    """

    name: str
    num_classes: int | None
    image_shape: tuple
    max_sample_num: int


def input_checks(inputs, facts):
    """Assert ops, one or more per checked input of `inputs` (argument name -> tensor);
    run them (control dependencies) before the signature computes anything."""
    checks = []
    for argument, check in _CHECKS.items():
        if argument in inputs:
            checks += check(inputs, facts)
    return checks


def _check_num(inputs, facts):
    num, limit = inputs["num"], facts.max_sample_num
    return [
        _assert(
            tf.logical_and(num >= 0, num <= limit),
            f"{facts.name}: num must lie in [0, {limit}] (max_sample_num of this export); "
            f"got {{}}. {_SPLIT_OR_EXPORT_AGAIN}",
            num,
        )
    ]


def _check_seeds(inputs, facts):
    rows, limit = _rows(inputs["seeds"]), facts.max_sample_num
    return [
        _assert(
            rows <= limit,
            f"{facts.name}: at most {limit} seeds per request (max_sample_num of this export); "
            f"got {{}}. {_SPLIT_OR_EXPORT_AGAIN}",
            rows,
        )
    ]


def _check_labels(inputs, facts):
    labels, checks = inputs["labels"], []
    if facts.num_classes:
        classes = facts.num_classes
        inside = tf.logical_and(labels >= 0, labels < classes)
        checks.append(
            _assert(
                tf.reduce_all(inside),
                f"{facts.name}: labels must lie in [0, {classes}): the model has {classes} "
                f"classes; got {{}}. Pass class indices from 0 to {classes - 1}.",
                tf.boolean_mask(labels, tf.logical_not(inside)),
            )
        )
    if "seeds" in inputs:
        seeds = _rows(inputs["seeds"])
        checks.append(
            _assert(
                tf.equal(_rows(labels), seeds),
                f"{facts.name}: labels must give one label per seed; got {{}} labels for "
                "{} seeds.",
                _rows(labels),
                seeds,
            )
        )
    if "num" in inputs:  # the sampler draws one image per label
        limit = facts.max_sample_num
        checks.append(
            _assert(
                _rows(labels) <= limit,
                f"{facts.name}: at most {limit} labels per request, one image each "
                f"(max_sample_num of this export); got {{}}. {_SPLIT_OR_EXPORT_AGAIN}",
                _rows(labels),
            )
        )
    return checks


def _check_images(inputs, facts):
    expected = tuple(facts.image_shape)
    shape = tf.raw_ops.Shape(input=inputs["images"])
    # The shape the graph is given, compared as text: the signature declares [None, H, W, C],
    # so the traced graph takes the rank (and any comparison that depends on it) as fixed,
    # while TF Serving feeds whatever a client sends; an image of another rank would then
    # fail further down with a message about broadcasting, not about the images.
    given = tf.strings.reduce_join(tf.strings.as_string(shape[1:]), separator=",")
    height, width, channels = expected
    return [
        _assert(
            tf.equal(given, ",".join(map(str, expected))),
            f"{facts.name}: images must be float32 [N, {height}, {width}, {channels}], the "
            f"image shape the model was trained on; got shape {{}}. Resize them to "
            f"{height}x{width} with {channels} channel(s).",
            shape,
        )
    ]


# Input name -> its checks; a signature runs those of the inputs it has.
_CHECKS = {
    "num": _check_num,
    "seeds": _check_seeds,
    "labels": _check_labels,
    "images": _check_images,
}


def _rows(tensor):
    return tf.raw_ops.Shape(input=tensor)[0]


def _assert(condition, template, *values):
    """An Assert op raising InvalidArgumentError with `template`, whose `{}` each take one
    of `values` (formatted when the graph runs), unless `condition` holds."""
    message = tf.strings.format(template, values, summarize=10)
    return tf.debugging.Assert(condition, [message])
