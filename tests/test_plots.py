"""Plots: each kind draws a PNG; interpolations, traversals and the manifold decode the
codes they claim to; curves read a run's scalars; `kgen plot` and the TensorBoard plots."""

import dataclasses
import os
import statistics

import matplotlib.image
import numpy as np
import pytest
import tensorflow as tf
from helpers import MNIST_INFO
from helpers import assert_clean_error
from helpers import binary_batch
from helpers import build_small_vae
from helpers import invoke
from helpers import invoke_in

from kgen.errors import ConfigError
from kgen.models import GANConfig
from kgen.models import GenerativeModel
from kgen.models import PixelCNNConfig
from kgen.models import families
from kgen.models import get_family
from kgen.plots import PLOT_KINDS
from kgen.plots import check_supported
from kgen.plots import figure_to_array
from kgen.plots import interpolate
from kgen.plots import manifold_codes
from kgen.plots import manifold_figure
from kgen.plots import read_scalars
from kgen.plots import save_figure
from kgen.plots import summary_figures
from kgen.plots import supported_kinds
from kgen.plots import traversal_codes
from kgen.plots import traverse
from kgen.plots.images import posterior_means

MODEL_KINDS = [name for name, kind in PLOT_KINDS.items() if not kind.reads_run]
PLOT_TAGS = {"plots/interpolation", "plots/traversal", "plots/manifold"}


@pytest.fixture(scope="module")
def vae():
    return build_small_vae(latent_dim=4)


@pytest.fixture(scope="module")
def vae_2d():
    return build_small_vae(latent_dim=2)


@pytest.fixture(scope="module")
def gan():
    config = GANConfig(latent_dim=2, base_filters=8)
    return get_family("gan").build(config, MNIST_INFO, seed=0)


@pytest.fixture(scope="module")
def pixelcnn():
    config = PixelCNNConfig(filters=8, num_blocks=1)
    return get_family("pixelcnn").build(config, MNIST_INFO, seed=0)


@pytest.fixture(scope="module")
def batch():
    return binary_batch(8)


def draw(kind_name, model, images, labels=None, **settings):
    kind = PLOT_KINDS[kind_name]
    settings = kind.settings(**settings)
    needed = kind.images_needed(model, settings)
    return kind.draw(model, images[:needed], None if labels is None else labels[:needed], settings)


def read_png(path):
    image = matplotlib.image.imread(path)
    assert (
        image.ndim == 3 and image.shape[0] > 0 and image.shape[1] > 0 and image.shape[2] in (3, 4)
    )
    return image


# --- Figures and files ---


@pytest.mark.parametrize("kind_name", MODEL_KINDS)
def test_each_kind_writes_a_png(kind_name, vae_2d, batch, tmp_path):
    images, _ = batch
    figure = draw(kind_name, vae_2d, images, num=4, steps=3, dims=2)
    path = tmp_path / f"{kind_name}.png"
    save_figure(figure, path)
    assert read_png(path).shape[:2] == figure_to_array(figure).shape[:2]
    assert os.listdir(tmp_path) == [path.name]  # the temporary file was renamed, not left


def test_figure_to_array_is_rgb_uint8_of_the_figure_size(vae, batch):
    figure = draw("reconstructions", vae, batch[0], num=4)
    array = figure_to_array(figure)
    width, height = figure.get_size_inches() * figure.dpi
    assert array.dtype == np.uint8 and array.shape == (round(height), round(width), 3)
    assert array.min() < 128 < array.max()  # something was drawn on the white page


def test_save_figure_replaces_an_existing_file(vae_2d, tmp_path):
    path = tmp_path / "sub" / "plot.png"
    save_figure(manifold_figure(vae_2d, steps=2), path)
    small = read_png(path).shape
    save_figure(manifold_figure(vae_2d, steps=4), path)
    assert read_png(path).shape[0] > small[0]
    assert os.listdir(path.parent) == ["plot.png"]


# --- What the latent plots decode ---


def test_interpolation_ends_decode_the_two_posterior_means(vae, batch):
    images, _ = batch
    rows = interpolate(vae, images[:6], steps=5)
    assert rows.shape == (3, 5) + images.shape[1:]
    means = posterior_means(vae, images[:6])
    first = np.asarray(vae.decode(means[0::2]))
    last = np.asarray(vae.decode(means[1::2]))
    middle = np.asarray(vae.decode((means[0::2] + means[1::2]) / 2))
    np.testing.assert_allclose(rows[:, 0], first, atol=1e-5)
    np.testing.assert_allclose(rows[:, -1], last, atol=1e-5)
    np.testing.assert_allclose(rows[:, 2], middle, atol=1e-5)  # linear in z: t = 0.5
    assert not np.allclose(rows[:, 0], rows[:, -1])


def test_traversal_varies_one_dimension_per_row(vae):
    base = np.array([0.5, -1.0, 2.0, 0.25], np.float32)
    values = np.linspace(-3, 3, 7, dtype=np.float32)
    codes = traversal_codes(base, [0, 1, 2, 3], values)
    for row in range(4):
        changed = np.any(codes[row] != base, axis=0)
        assert changed.tolist() == [d == row for d in range(4)]
        np.testing.assert_array_equal(codes[row, :, row], values)
    images, dims, _ = traverse(vae, dims=2, steps=7, base=base)
    assert dims == [0, 1] and images.shape == (2, 7) + MNIST_INFO.image_shape
    np.testing.assert_allclose(images[1], np.asarray(vae.decode(codes[1])), atol=1e-5)
    assert traverse(vae, dims=0, steps=2)[1] == [0, 1, 2, 3]  # 0: every dimension


def test_manifold_is_a_grid_of_gaussian_quantiles():
    codes = manifold_codes(5)
    low = statistics.NormalDist().inv_cdf(0.05)
    assert low == pytest.approx(-1.6448536, abs=1e-6)
    np.testing.assert_allclose(codes[-1, 0], [low, low], rtol=1e-6)  # bottom left
    np.testing.assert_allclose(codes[0, -1], [-low, -low], rtol=1e-6)  # top right
    np.testing.assert_allclose(codes[2, 2], [0.0, 0.0], atol=1e-6)
    assert np.all(np.diff(codes[0, :, 0]) > 0) and np.all(np.diff(codes[:, 0, 1]) < 0)


def test_manifold_refuses_a_latent_size_other_than_two(vae):
    with pytest.raises(ConfigError, match=r"latent_dim=4.*--latent-dim 2"):
        manifold_figure(vae)


# --- Capabilities ---


def expected_kinds(model):
    """The kinds `model` should support, in the table's order, read from the protocol's
    capabilities alone (not from the kinds' `requires`, so that the table cannot drift)."""
    can = {
        "samples": callable(model.sample),
        "reconstructions": model.can_encode,
        "interpolation": model.can_encode,
        "traversal": model.can_decode,
        "manifold": model.can_decode and model.latent_dim == 2,
    }
    return [name for name, supported in can.items() if supported]


# Settings that make a family small (as the fixtures above build theirs); each family takes
# those its config has, and a family with a latent size is built with a 2-D one and another.
SMALL_SETTINGS = dict(base_filters=8, hidden_units=32, filters=8, num_blocks=1, feature_units=32)
LATENT_SIZES = (2, 4)
FAMILIES = sorted(families())


@pytest.fixture(scope="module")
def small_models():
    """Family name -> small models of each registered generative family (the domain
    classifier is registered too, but it is no GenerativeModel and draws no plots)."""
    built = {}
    for name, family in families().items():
        fields = {field.name for field in dataclasses.fields(family.config_class)}
        settings = {key: value for key, value in SMALL_SETTINGS.items() if key in fields}
        sizes = [dict(latent_dim=size) for size in LATENT_SIZES] if "latent_dim" in fields else [{}]
        models = [
            family.build(family.config_class(**settings, **size), MNIST_INFO, seed=0)
            for size in sizes
        ]
        if isinstance(models[0], GenerativeModel):
            built[name] = models
    return built


def generative_models(small_models, name):
    if name not in small_models:
        pytest.skip(f"{name} is not a GenerativeModel: it has no plots")
    return small_models[name]


class NoSampler:
    """A model with every capability but sampling: only `samples` hangs on that one."""

    sample = None
    can_encode = True
    can_decode = True
    latent_dim = 2


@pytest.mark.parametrize("name", FAMILIES)
def test_kinds_follow_the_model_capabilities(name, small_models):
    for model in generative_models(small_models, name):
        assert supported_kinds(model) == expected_kinds(model), (name, model.latent_dim)


def test_a_model_that_draws_no_samples_has_no_samples_plot():
    assert supported_kinds(NoSampler()) == expected_kinds(NoSampler())
    assert "samples" not in supported_kinds(NoSampler())


def test_the_families_have_and_lack_each_capability(small_models):
    # Otherwise a kind's requirement could drift from the protocol unnoticed.
    models = [model for models in small_models.values() for model in models]
    for capability in (
        lambda model: model.can_encode,
        lambda model: model.can_decode,
        lambda model: model.latent_dim == 2,
    ):
        assert {bool(capability(model)) for model in models} == {True, False}


def test_a_kind_the_model_cannot_draw_names_what_it_lacks(gan, pixelcnn):
    with pytest.raises(ConfigError, match="GAN has no encoder.*samples, traversal, manifold"):
        check_supported(PLOT_KINDS["interpolation"], gan)
    with pytest.raises(ConfigError, match="PixelCNN has no latent space"):
        check_supported(PLOT_KINDS["traversal"], pixelcnn)


def test_gan_decode_is_its_generator(gan):
    z = np.random.default_rng(0).normal(size=(3, 2)).astype("float32")
    np.testing.assert_array_equal(np.asarray(gan.decode(z)), np.asarray(gan.generate(z)))


@pytest.mark.parametrize("name", FAMILIES)
def test_summary_figures_are_the_supported_batch_plots(name, small_models, batch):
    images, labels = batch
    batch_kinds = {tag.removeprefix("plots/") for tag in PLOT_TAGS}
    for model in generative_models(small_models, name):
        expected = {kind for kind in expected_kinds(model) if kind in batch_kinds}
        assert set(summary_figures(model, images, labels)) == expected, (name, model.latent_dim)


def test_summary_figures_are_the_same_for_the_same_batch(vae_2d, batch):
    images, labels = batch
    first = figure_to_array(summary_figures(vae_2d, images, labels)["traversal"])
    np.testing.assert_array_equal(
        first, figure_to_array(summary_figures(vae_2d, images, labels)["traversal"])
    )


def test_a_conditional_vae_plots_with_labels(batch):
    images, labels = batch
    model = build_small_vae(latent_dim=2, conditional=True)
    assert set(summary_figures(model, images, labels)) == {"interpolation", "traversal", "manifold"}
    figure = draw("samples", model, images, num=20)
    assert [t.get_text() for t in figure.axes[0].get_xticklabels()] == [str(i) for i in range(10)]


# --- A tiny run: curves, TensorBoard plots, the command line ---


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory, tfds_data_dir):
    """One 1-epoch `kgen fit vae` with a 2-D latent space."""
    folder = tmp_path_factory.mktemp("plotted")
    result = invoke_in(
        folder,
        "fit",
        "vae",
        "--limit",
        64,
        "--epochs",
        1,
        "--batch-size",
        32,
        "--data-dir",
        tfds_data_dir,
        "--seed",
        0,
        "--log-every",
        1,
        "--latent-dim",
        2,
        "--base-filters",
        8,
        "--hidden-units",
        32,
        "--export",
        folder / "export",
    )
    assert result.exit_code == 0, result.output
    (run,) = (folder / "runs").iterdir()
    return run


def _events(run, split):
    for path in sorted((run / split).glob("events.*")):
        for event in tf.compat.v1.train.summary_iterator(str(path)):
            for value in event.summary.value:
                yield event.step, value


@pytest.mark.real_data
def test_curves_read_the_scalars_the_run_wrote(run_dir):
    scalars = read_scalars(str(run_dir))
    assert set(scalars) == {"loss", "kl", "reconstruction"}
    for split in ("train", "validation"):
        written = {
            v.tag: float(tf.make_ndarray(v.tensor))
            for _, v in _events(run_dir, split)
            if v.tag.startswith("epoch_")
        }
        for metric, splits in scalars.items():
            assert splits[split] == ((0,), (pytest.approx(written[f"epoch_{metric}"]),))
    steps = read_scalars(str(run_dir), x_axis="step")
    assert steps["loss"]["train"][0] == (1, 2)  # 64 images / 32 a batch, every step logged


@pytest.mark.real_data
def test_tensorboard_logs_the_batch_plots_each_epoch(run_dir):
    plots = {v.tag: v for _, v in _events(run_dir, "train") if v.tag.startswith("plots/")}
    assert set(plots) == PLOT_TAGS
    for value in plots.values():
        width, height, png = value.tensor.string_val
        image = tf.io.decode_png(png).numpy()
        assert image.shape == (int(height), int(width), 3) and image.std() > 0


@pytest.mark.real_data
@pytest.mark.parametrize("kind_name", list(PLOT_KINDS))
def test_plot_command_draws_every_kind_of_the_run(kind_name, run_dir, tfds_data_dir, tmp_path):
    out = tmp_path / "plot.png"
    result = invoke(
        "plot",
        kind_name,
        run_dir,
        "--num",
        2,
        "--steps",
        3,
        "--out",
        out,
        "--data-dir",
        tfds_data_dir,
    )
    assert result.exit_code == 0, result.output
    assert f"Wrote {kind_name} to {out}" in result.output
    read_png(out)


@pytest.mark.real_data
def test_plot_command_on_a_saved_model_needs_a_dataset(run_dir, tmp_path):
    result = invoke(
        "plot", "reconstructions", run_dir.parent.parent / "export", "--out", tmp_path / "r.png"
    )
    assert_clean_error(result, "--dataset")


@pytest.mark.parametrize(
    "kind_name,model_name,fragments",
    [
        (
            "interpolation",
            "gan",
            ["Cannot plot interpolation", "GAN has no encoder", "samples, traversal"],
        ),
        ("traversal", "pixelcnn", ["Cannot plot traversal", "PixelCNN has no latent space"]),
        ("manifold", "vae", ["latent_dim=4", "--latent-dim 2"]),
    ],
)
def test_plot_command_refuses_kinds_the_model_cannot_draw(
    kind_name, model_name, fragments, request, monkeypatch, tmp_path
):
    model = request.getfixturevalue(model_name)
    monkeypatch.setattr("kgen.evaluation.load_model", lambda path: (model, {}))
    out = tmp_path / "plot.png"
    assert_clean_error(invoke("plot", kind_name, "some/model", "--out", out), *fragments)
    assert not out.exists()


@pytest.mark.parametrize(
    "args,fragments",
    [
        (["curves", "{empty}"], ["No epoch_* scalars", "kgen fit"]),
        (["samples", "{empty}"], ["{empty}"]),
        (["histogram", "{empty}"], ["histogram"]),
        (["traversal", "{empty}", "--dims", "-1"], ["--dims"]),
        (["samples", "{empty}", "--labels", "a,b"], ["--labels", "a,b"]),
    ],
)
def test_plot_command_bad_input_gives_one_clear_message(args, fragments, tmp_path):
    empty = str(tmp_path)
    args = [arg.format(empty=empty) for arg in args]
    assert_clean_error(invoke("plot", *args), *[f.format(empty=empty) for f in fragments])


def test_a_conditional_gan_draws_its_batch_plots_for_class_zero(batch):
    # The GAN's plots need no images, so they get an empty slice of the labels: class 0.
    model = get_family("gan").build(
        GANConfig(latent_dim=2, base_filters=8, conditional=True), MNIST_INFO, seed=0
    )
    images, labels = batch
    assert set(summary_figures(model, images, labels)) == {"traversal", "manifold"}
    empty, first = traverse(model, labels=labels[:0])[0], traverse(model, labels=[0])[0]
    np.testing.assert_array_equal(empty, first)
    assert not np.array_equal(first, traverse(model, labels=[7])[0])  # the label does matter
