"""Training curves of a run directory, read back from its TensorBoard event files."""

import math
import os

from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from kgen.errors import ModelNotFound

# The writers kgen's TensorBoard logger uses, and how each is drawn.
SPLITS = {"train": "o-", "validation": "s--"}
# Tag prefix of the scalars for each x-axis (see kgen/training/tensorboard.py).
PREFIXES = {"epoch": "epoch_", "step": "batch_"}


def read_scalars(run_dir, x_axis="epoch"):
    """{metric: {split: (steps, values)}} of a run's `epoch_*` (x_axis "epoch") or `batch_*`
    (x_axis "step") scalars, steps ascending. A step written twice (a resumed run redoing
    it) keeps its last value."""
    from tensorboard.backend.event_processing import event_accumulator
    from tensorboard.util import tensor_util

    prefix = PREFIXES[x_axis]
    scalars = {}
    for split in SPLITS:
        folder = os.path.join(run_dir, split)
        if not os.path.isdir(folder):
            continue
        events = event_accumulator.EventAccumulator(
            folder, size_guidance={event_accumulator.TENSORS: 0}
        )
        events.Reload()
        tags = events.Tags()
        for tag in tags["tensors"]:  # TF2 writes scalars as tensors with the "scalars" plugin
            if (
                tag.startswith(prefix)
                and events.SummaryMetadata(tag).plugin_data.plugin_name == "scalars"
            ):
                by_step = {
                    e.step: float(tensor_util.make_ndarray(e.tensor_proto))
                    for e in events.Tensors(tag)
                }
                scalars.setdefault(tag[len(prefix) :], {})[split] = by_step
    return {
        metric: {split: tuple(zip(*sorted(by_step.items()))) for split, by_step in splits.items()}
        for metric, splits in sorted(scalars.items())
    }


def curves_figure(run_dir, x_axis="epoch"):
    """One subplot per metric, train and validation on the same axes."""
    scalars = read_scalars(run_dir, x_axis)
    if not scalars:
        raise ModelNotFound(
            f"No {PREFIXES[x_axis]}* scalars under {run_dir!r}/train or /validation; pass a run "
            f"directory written by `kgen fit`"
            + (" (step scalars need --log-every above 0)." if x_axis == "step" else ".")
        )
    columns = min(3, len(scalars))
    rows = math.ceil(len(scalars) / columns)
    figure = Figure(figsize=(4 * columns, 3 * rows), dpi=100, layout="constrained")
    for index, (metric, splits) in enumerate(scalars.items()):
        axes = figure.add_subplot(rows, columns, index + 1)
        for split, (steps, values) in splits.items():
            axes.plot(steps, values, SPLITS[split], label=split, markersize=3)
        axes.set_title(metric, fontsize=10)
        axes.set_xlabel(x_axis)
        axes.xaxis.set_major_locator(MaxNLocator(integer=True))
        axes.grid(alpha=0.3)
        axes.legend(fontsize=8)
    figure.suptitle(os.path.basename(os.path.normpath(run_dir)), fontsize=10)
    return figure
