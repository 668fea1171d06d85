"""The plot kinds by name: what each needs from a model, its settings, and which ones the
TensorBoard logger draws each epoch. The CLI and the logger go through this table and the
models' capabilities (`can_encode`, `can_decode`, `latent_dim`), never a family's name."""

import dataclasses
from collections.abc import Callable

import numpy as np

from kgen.errors import ConfigError
from kgen.plots.curves import curves_figure
from kgen.plots.images import reconstructions_figure
from kgen.plots.images import samples_figure
from kgen.plots.latent import interpolation_figure
from kgen.plots.latent import manifold_figure
from kgen.plots.latent import traversal_figure
from kgen.plots.latent import two_dimensional_problem


@dataclasses.dataclass(frozen=True)
class PlotSettings:
    """The knobs of every kind; each kind reads the ones it has.

    Attributes:
        num: samples (samples), real images (reconstructions) or image pairs (interpolation).
        seed: seed of the samples.
        steps: images per row (interpolation, traversal); grid side (manifold).
        dims: latent dimensions a traversal varies, the first ones; 0 for all.
        span: a traversal varies each dimension over [-span, span].
        base: a traversal starts from an encoded "image" (models that encode) or from "zero".
        labels: labels of the samples; a traversal or manifold decodes with the first one.
        x_axis: training curves by "epoch" (epoch_* scalars) or "step" (batch_* scalars).
        sampler: (num, seed, labels) -> images that draws the samples; None for
            `model.sample` called eagerly (the CLI passes a compiled one, since some samplers
            loop over pixels and are slow eagerly).
    """

    num: int = 16
    seed: int = 0
    steps: int = 9
    dims: int = 10
    span: float = 3.0
    base: str = "image"
    labels: tuple | None = None
    x_axis: str = "epoch"
    sampler: Callable | None = None


@dataclasses.dataclass(frozen=True)
class PlotKind:
    """One kind of plot.

    Attributes:
        name: the CLI name (`kgen plot NAME`).
        summary: one line for --help and the docs.
        draw: (model, images, labels, settings) -> Figure; for a kind that reads a run
            directory instead of a model, (run_dir, settings) -> Figure.
        requires: model -> why the model cannot be drawn (a message), or None.
        images_needed: (model, settings) -> how many real images `draw` takes.
        defaults: settings that differ from PlotSettings' for this kind.
        tensorboard: settings the TensorBoard logger draws it with each epoch, None if it
            does not (samples and reconstructions are logged as image grids already).
        reads_run: the argument is a run directory, not a model.
    """

    name: str
    summary: str
    draw: Callable
    requires: Callable = lambda model: None
    images_needed: Callable = lambda model, settings: 0
    defaults: dict = dataclasses.field(default_factory=dict)
    tensorboard: dict | None = None
    reads_run: bool = False

    def settings(self, **overrides):
        """This kind's defaults, with the `overrides` that are not None on top."""
        given = {name: value for name, value in overrides.items() if value is not None}
        return PlotSettings(**{**self.defaults, **given})


def _sampler(model):
    if not callable(getattr(model, "sample", None)):
        return f"{type(model).__name__} draws no samples"
    return None


def _encoder(model):
    if not getattr(model, "can_encode", False):
        return f"{type(model).__name__} has no encoder; this plot needs a model that encodes images"
    return None


def _decoder(model):
    if not getattr(model, "can_decode", False):
        return (
            f"{type(model).__name__} has no latent space; "
            "this plot needs a model that decodes codes z"
        )
    return None


def _two_dimensional_decoder(model):
    return _decoder(model) or two_dimensional_problem(model)


def _traversal_images(model, settings):
    return 1 if settings.base == "image" and model.can_encode else 0


def _traversal(model, images, labels, settings):
    labels = labels if settings.labels is None else settings.labels
    base_images = images if settings.base == "image" else None
    return traversal_figure(
        model, base_images, labels, settings.dims, settings.steps, settings.span
    )


PLOT_KINDS = {
    kind.name: kind
    for kind in (
        PlotKind(
            "samples",
            "A grid of samples (conditional models: labels cycle by column).",
            lambda model, images, labels, s: samples_figure(
                model, s.num, s.seed, s.labels, s.sampler
            ),
            requires=_sampler,
            defaults={"num": 64},
        ),
        PlotKind(
            "reconstructions",
            "Rows of real images above their reconstructions.",
            lambda model, images, labels, s: reconstructions_figure(model, images, labels),
            requires=_encoder,
            images_needed=lambda model, s: s.num,
            defaults={"num": 16},
        ),
        PlotKind(
            "interpolation",
            "Decoded points on the line in z between two encoded images, a pair per row.",
            lambda model, images, labels, s: interpolation_figure(model, images, labels, s.steps),
            requires=_encoder,
            images_needed=lambda model, s: 2 * s.num,
            defaults={"num": 6, "steps": 10},
            tensorboard={"num": 4, "steps": 8},
        ),
        PlotKind(
            "traversal",
            "Each latent dimension varied over [-span, span], the others held, a row each.",
            _traversal,
            requires=_decoder,
            images_needed=_traversal_images,
            defaults={"steps": 9},
            tensorboard={"dims": 8, "steps": 8},
        ),
        PlotKind(
            "manifold",
            "Images decoded on a grid of 2-D codes at Gaussian quantiles (latent_dim 2).",
            lambda model, images, labels, s: manifold_figure(model, s.labels, s.steps),
            requires=_two_dimensional_decoder,
            defaults={"steps": 15},
            tensorboard={"steps": 10},
        ),
        PlotKind(
            "curves",
            "Training and validation curves from a run directory's TensorBoard events.",
            lambda run_dir, s: curves_figure(run_dir, s.x_axis),
            reads_run=True,
        ),
    )
}


def supported_kinds(model):
    """Names of the kinds `model` can be drawn as."""
    return [
        kind.name for kind in PLOT_KINDS.values() if not kind.reads_run and not kind.requires(model)
    ]


def check_supported(kind, model):
    """Raise a ConfigError naming what `model` lacks for `kind` and the kinds it has."""
    problem = kind.requires(model)
    if problem:
        others = ", ".join(supported_kinds(model)) or "none"
        raise ConfigError(
            f"Cannot plot {kind.name}: {problem.rstrip('.')}. Kinds this model can plot: {others}."
        )


def summary_figures(model, images, labels=None):
    """name -> Figure of each kind the TensorBoard logger draws that `model` supports, from
    the fixed summary batch `images` (and its `labels`). No randomness: epochs compare."""
    images = np.asarray(images)
    labels = None if labels is None else np.asarray(labels)
    figures = {}
    for kind in PLOT_KINDS.values():
        if kind.tensorboard is None or kind.requires(model):
            continue
        settings = kind.settings(**kind.tensorboard)
        needed = kind.images_needed(model, settings)
        if len(images) < needed:
            continue
        batch_labels = None if labels is None else labels[:needed]
        figures[kind.name] = kind.draw(model, images[:needed], batch_labels, settings)
    return figures
