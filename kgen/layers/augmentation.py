"""Differentiable augmentation (DiffAugment, Zhao et al. 2020) for a discriminator's inputs.

A discriminator trained on few images memorizes them; augmenting only the real images would
teach the generator to produce augmented images. DiffAugment applies the same random policy T
to real and generated images alike, in the discriminator's steps and in the generator's, so
D judges T(x) against T(G(z)); every transform here is differentiable in the image, so the
generator's gradient flows back through T.

Images are in the networks' range [-1, 1], shaped [N, H, W, C]. The random parameters of a
batch are drawn once (`draw_augmentation`) and applied by `augment`, so that a caller can
apply one draw to two batches (a real image and a fake one at the same index are transformed
alike) or pin the draws in a test. Each transform follows the reference implementation:

- "color": brightness + U(-0.5, 0.5); saturation (around the pixel's mean over channels)
  x U(0, 2); contrast (around the image's mean) x U(0.5, 1.5).
- "translation": a shift of up to 1/8 of each side, in whole pixels, filled with zeros.
- "cutout": a square of half the side, at a random place, set to zero.
"""

import keras
from keras import ops

AUGMENTATIONS = ("color", "translation", "cutout")
TRANSLATION_RATIO = 0.125
CUTOUT_RATIO = 0.5


def parse_policy(text):
    """("translation", "cutout") from "translation,cutout"; () from "none" or "".

    Raises ValueError naming an unknown or repeated transform.
    """
    if text is None or text.strip() in ("", "none"):
        return ()
    names = tuple(name.strip() for name in text.split(","))
    unknown = [name for name in names if name not in AUGMENTATIONS]
    if unknown:
        raise ValueError(
            f"Unknown augmentation {unknown[0]!r} in {text!r}: use 'none' or a comma-separated "
            f"list of {', '.join(AUGMENTATIONS)}."
        )
    if len(set(names)) != len(names):
        raise ValueError(f"Augmentation {text!r} names a transform twice.")
    return names


def _extent(side, ratio):
    """Whole pixels of `ratio` of `side`, rounded half up (as the reference code rounds)."""
    return int(side * ratio + 0.5)


def draw_augmentation(policy, num, image_shape, seed):
    """The random parameters of `policy` for `num` images of `image_shape` ([H, W, C]): a
    dict of [num] tensors. `seed` is what `keras.random` takes (a SeedGenerator, advanced
    once per parameter)."""
    height, width = image_shape[0], image_shape[1]
    draws = {}
    if "color" in policy:
        for name in ("brightness", "saturation", "contrast"):
            draws[name] = keras.random.uniform((num,), seed=seed)
    if "translation" in policy:
        for name, side in (("shift_y", height), ("shift_x", width)):
            reach = _extent(side, TRANSLATION_RATIO)
            draws[name] = keras.random.randint((num,), -reach, reach + 1, seed=seed)
    if "cutout" in policy:
        for name, side in (("cutout_y", height), ("cutout_x", width)):
            size = _extent(side, CUTOUT_RATIO)
            draws[name] = keras.random.randint((num,), 0, side + (1 - size % 2), seed=seed)
    return draws


def augment(images, policy, draws):
    """`images` ([N, H, W, C] in [-1, 1]) under the transforms of `policy`, in the order
    color, translation, cutout, with the parameters `draws` (from `draw_augmentation`)."""
    if "color" in policy:
        images = _color(images, draws)
    if "translation" in policy:
        images = _translate(images, draws["shift_y"], draws["shift_x"])
    if "cutout" in policy:
        images = _cut_out(images, draws["cutout_y"], draws["cutout_x"])
    return images


def _per_example(values, images):
    """[N] -> [N, 1, 1, 1], in the images' dtype, to broadcast over an image."""
    return ops.reshape(ops.cast(values, images.dtype), (-1, 1, 1, 1))


def _color(images, draws):
    images = images + _per_example(draws["brightness"] - 0.5, images)
    channel_mean = ops.mean(images, axis=-1, keepdims=True)
    images = (images - channel_mean) * _per_example(draws["saturation"] * 2.0, images)
    images = images + channel_mean
    image_mean = ops.mean(images, axis=(1, 2, 3), keepdims=True)
    images = (images - image_mean) * _per_example(draws["contrast"] + 0.5, images)
    return images + image_mean


def _shift_matrices(shifts, side, dtype):
    """[N, side, side] matrices S with S[n, i, a] = 1 where a = i - shift[n]: output row i
    reads input row i - shift; rows that would read outside the image read nothing (0)."""
    source = ops.arange(side)[None, :] - ops.cast(shifts, "int32")[:, None]  # [N, side]
    # one_hot of an index outside [0, side) is all zeros: the zero fill.
    return ops.one_hot(source, side, dtype=dtype)


def _translate(images, shift_y, shift_x):
    """Each image shifted by (shift_y, shift_x) pixels, zero-filled. Written as two matrix
    products with one-hot shift matrices, so that it is differentiable, compiles under XLA
    and needs no per-example gather."""
    height, width = images.shape[1], images.shape[2]
    rows = _shift_matrices(shift_y, height, images.dtype)
    columns = _shift_matrices(shift_x, width, images.dtype)
    return ops.einsum("nia,njb,nabc->nijc", rows, columns, images)


def _cut_out(images, centre_y, centre_x):
    """Each image with a square of half its side set to zero; the square's rows run from
    centre - size // 2 for `size` rows (clipped to the image), and so do its columns."""
    height, width = images.shape[1], images.shape[2]

    def inside(centre, side):
        size = _extent(side, CUTOUT_RATIO)
        start = ops.cast(centre, "int32")[:, None] - size // 2
        index = ops.arange(side)[None, :]
        return ops.logical_and(index >= start, index < start + size)  # [N, side]

    square = ops.logical_and(inside(centre_y, height)[:, :, None], inside(centre_x, width)[:, None])
    keep = ops.cast(ops.logical_not(square), images.dtype)
    return images * keep[..., None]
