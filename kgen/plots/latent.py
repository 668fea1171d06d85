"""Figures that walk a model's latent space: interpolations between encoded images,
traversals of single dimensions, and the decoded 2-D manifold.

Each figure has a numeric core (`interpolate`, `traverse`, `manifold_codes`) that returns
the codes or images it draws, so they can be checked by number.
"""

import statistics

import numpy as np

from kgen.errors import ConfigError
from kgen.plots.figures import grid_figure
from kgen.plots.images import posterior_means
from kgen.plots.images import to_numpy

# The inverse normal CDF, without scipy.
_STANDARD_NORMAL = statistics.NormalDist()


def _code_labels(model, labels, count):
    """Labels for decoding `count` codes: the first of `labels` (class 0 if none or empty)
    for a conditional model, None for an unconditional one."""
    if not model.num_classes:
        return None
    labels = np.asarray([] if labels is None else labels).reshape(-1)
    label = int(labels[0]) if labels.size else 0
    return np.full((count,), label, np.int32)


def _decode(model, codes, labels):
    """Decode codes [..., D] with one label each (or None) into images [..., H, W, C]."""
    flat = codes.reshape(-1, codes.shape[-1]).astype(np.float32)
    images = to_numpy(model.decode(flat, labels))
    return images.reshape(codes.shape[:-1] + images.shape[1:])


def _tick(value, digits=2):
    """A signed tick label, with no "-0.00" for a value that rounds to zero."""
    return f"{round(float(value), digits) + 0.0:+.{digits}f}"


# --- Interpolation ---


def interpolation_codes(start, end, steps):
    """`steps` codes on each line from start[i] to end[i] ([P, D] each), ends included:
    [P, steps, D]."""
    t = np.linspace(0.0, 1.0, steps, dtype=np.float32)[None, :, None]
    return (1.0 - t) * start[:, None, :] + t * end[:, None, :]


def interpolate(model, images, labels=None, steps=9):
    """Decode along the straight line in z between the posterior means of image pairs.

    Images 0 and 1 form the first pair, 2 and 3 the second, and so on. A conditional model
    decodes each row with the label of its pair's first image. Returns images
    [pairs, steps, H, W, C] whose first and last columns decode the two means.
    """
    pairs = len(images) // 2
    if pairs < 1:
        raise ValueError(f"An interpolation needs at least 2 images; got {len(images)}.")
    images = images[: 2 * pairs]
    labels = None if labels is None else np.asarray(labels)[: 2 * pairs]
    means = posterior_means(model, images, labels)
    codes = interpolation_codes(means[0::2], means[1::2], steps)
    row_labels = None if labels is None or not model.num_classes else np.repeat(labels[0::2], steps)
    return _decode(model, codes, row_labels)


def interpolation_figure(model, images, labels=None, steps=9):
    """Rows of `steps` images from one encoded image to another (see `interpolate`)."""
    rows = interpolate(model, images, labels, steps)
    return grid_figure(
        rows.reshape((-1,) + rows.shape[2:]),
        steps,
        title="interpolation between posterior means",
        column_labels=[f"{t:.2f}" for t in np.linspace(0.0, 1.0, steps)],
        xlabel="t  (z = (1 - t) z_a + t z_b)",
    )


# --- Traversal ---


def traversal_codes(base, dims, values):
    """For each dimension d in `dims`, `base` [D] with z_d set to each of `values`:
    [len(dims), len(values), D]. Row r differs from `base` in dimension dims[r] only."""
    codes = np.tile(np.asarray(base, np.float32), (len(dims), len(values), 1))
    for row, dim in enumerate(dims):
        codes[row, :, dim] = values
    return codes


def traversal_base(model, images=None, labels=None):
    """(code, description) a traversal starts from: the posterior mean of the first image
    when the model encodes and an image is given, else the prior mean, zero."""
    if images is not None and len(images) and model.can_encode:
        first_label = None if labels is None else np.asarray(labels)[:1]
        return posterior_means(model, np.asarray(images)[:1], first_label)[
            0
        ], "an image's posterior mean"
    return np.zeros((model.latent_dim,), np.float32), "z = 0"


def traverse(model, dims=10, steps=9, span=3.0, base=None, labels=None):
    """Decode `base` with one dimension at a time set to `steps` values in [-span, span].

    `dims` is how many dimensions, the first ones (0 or None: all). Returns (images
    [rows, steps, H, W, C], the dimensions, the values).
    """
    count = min(dims, model.latent_dim) if dims else model.latent_dim
    dimensions = list(range(count))
    values = np.linspace(-span, span, steps, dtype=np.float32)
    base = np.zeros((model.latent_dim,), np.float32) if base is None else base
    codes = traversal_codes(base, dimensions, values)
    return (
        _decode(model, codes, _code_labels(model, labels, codes.shape[0] * steps)),
        dimensions,
        values,
    )


def traversal_figure(model, images=None, labels=None, dims=10, steps=9, span=3.0):
    """One row per latent dimension varied over [-span, span], the others held at the
    code of `traversal_base`."""
    base, start = traversal_base(model, images, labels)
    rows, dimensions, values = traverse(model, dims, steps, span, base, labels)
    return grid_figure(
        rows.reshape((-1,) + rows.shape[2:]),
        steps,
        title=f"latent traversal from {start}",
        row_labels=[f"z[{dim}]" for dim in dimensions],
        column_labels=[_tick(value, 1) for value in values],
        xlabel="value of z[d]",
    )


# --- The 2-D manifold ---


def manifold_codes(steps=15):
    """A steps x steps grid of 2-D codes at standard-normal quantiles 0.05 ... 0.95:
    [steps, steps, 2], z_1 increasing to the right, z_2 increasing upwards."""
    quantiles = np.array(
        [_STANDARD_NORMAL.inv_cdf(p) for p in np.linspace(0.05, 0.95, steps)], np.float32
    )
    z1, z2 = np.meshgrid(quantiles, quantiles[::-1])
    return np.stack([z1, z2], axis=-1)


def two_dimensional_problem(model):
    """Why `model` has no 2-D manifold to draw (a message naming the fix), or None."""
    if model.latent_dim == 2:
        return None
    return (
        f"The manifold plot needs a 2-D latent space, but this {type(model).__name__} has "
        f"latent_dim={model.latent_dim}; train one with --latent-dim 2, or plot `traversal`."
    )


def manifold_figure(model, labels=None, steps=15):
    """Images decoded on a grid of z at Gaussian quantiles, for a model with latent_dim 2."""
    problem = two_dimensional_problem(model)
    if problem:
        raise ConfigError(problem)
    codes = manifold_codes(steps)
    images = _decode(model, codes, _code_labels(model, labels, steps * steps))
    ticks = [_tick(value) for value in codes[0, :, 0]]
    return grid_figure(
        images.reshape((-1,) + images.shape[2:]),
        steps,
        title="2-D latent manifold",
        row_labels=[_tick(value) for value in codes[:, 0, 1]],
        column_labels=ticks,
        xlabel="z[0]",
        ylabel="z[1]",
    )
