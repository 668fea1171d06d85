"""Image grids and PNG writing."""

import math

import numpy as np


def image_grid(images, columns=None):
    """Tile [N, H, W, C] images in [0, 1] into one [rows*H, cols*W, C] array (1-pixel gaps)."""
    images = np.clip(np.asarray(images, dtype=np.float32), 0.0, 1.0)
    num, height, width, channels = images.shape
    columns = columns or math.ceil(math.sqrt(num))
    rows = math.ceil(num / columns)
    grid = np.ones((rows * (height + 1) - 1, columns * (width + 1) - 1, channels), np.float32)
    for index, image in enumerate(images):
        row, column = divmod(index, columns)
        top, left = row * (height + 1), column * (width + 1)
        grid[top : top + height, left : left + width] = image
    return grid


def save_png(path, images, columns=None):
    """Write images in [0, 1] as one PNG grid, atomically."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot

    from kgen.utils.files import atomic_path

    grid = image_grid(images, columns)
    with atomic_path(path) as temporary:
        if grid.shape[-1] == 1:
            pyplot.imsave(temporary, grid[..., 0], cmap="gray", vmin=0.0, vmax=1.0, format="png")
        else:
            pyplot.imsave(temporary, grid, format="png")
