"""Matplotlib figures of image grids, and turning a figure into a PNG file or an array.

Figures are built on `matplotlib.figure.Figure` with the Agg canvas, never pyplot, so
drawing keeps no global state and works in any thread and without a display.
"""

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from kgen.utils.files import atomic_path
from kgen.utils.images import image_grid

DPI = 100
# Screen pixels per image pixel: 28-pixel MNIST digits come out 56 pixels wide.
SCALE = 2


def grid_figure(
    images,
    columns,
    title=None,
    row_labels=None,
    column_labels=None,
    xlabel=None,
    ylabel=None,
    scale=SCALE,
):
    """A figure of images [N, H, W, C] in [0, 1], tiled `columns` wide with 1-pixel gaps.

    `row_labels` and `column_labels` (strings, one per row or column) become tick labels
    at the centre of each row or column.
    """
    images = np.asarray(images, np.float32)
    height, width = images.shape[1:3]
    grid = image_grid(images, columns)
    margin_left = 0.9 if row_labels is not None or ylabel else 0.3
    margin_bottom = 0.6 if column_labels is not None or xlabel else 0.1
    margin_top = 0.4 if title else 0.1
    figure = Figure(
        figsize=(
            grid.shape[1] * scale / DPI + margin_left,
            grid.shape[0] * scale / DPI + margin_bottom + margin_top,
        ),
        dpi=DPI,
        layout="constrained",
    )
    axes = figure.add_subplot()
    if grid.shape[-1] == 1:
        axes.imshow(grid[..., 0], cmap="gray", vmin=0.0, vmax=1.0, interpolation="nearest")
    else:
        axes.imshow(grid, interpolation="nearest")
    axes.set_xticks(_centres(len(column_labels or ()), width), column_labels or [], fontsize=7)
    axes.set_yticks(_centres(len(row_labels or ()), height), row_labels or [], fontsize=7)
    axes.tick_params(length=0)
    for spine in axes.spines.values():
        spine.set_visible(False)
    if title:
        axes.set_title(title, fontsize=9)
    if xlabel:
        axes.set_xlabel(xlabel, fontsize=8)
    if ylabel:
        axes.set_ylabel(ylabel, fontsize=8)
    return figure


def _centres(count, size):
    """Pixel centres of `count` tiles of `size` pixels laid out with 1-pixel gaps."""
    return [index * (size + 1) + (size - 1) / 2 for index in range(count)]


def figure_to_array(figure):
    """The rendered figure as uint8 RGB [H, W, 3] (what tf.summary.image takes)."""
    canvas = FigureCanvasAgg(figure)
    canvas.draw()
    return np.asarray(canvas.buffer_rgba())[..., :3].copy()


def save_figure(figure, path):
    """Write `figure` as a PNG at `path`, atomically: a reader never sees half a file."""
    with atomic_path(path) as temporary:
        FigureCanvasAgg(figure).print_png(temporary)
