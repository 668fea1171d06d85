"""Class labels outside [0, num_classes) are refused, in the Python API and on the command line,
instead of silently drawing unconditioned images."""

import json
import os

import numpy as np
import pytest
import tensorflow as tf
from helpers import MNIST_INFO
from helpers import assert_clean_error
from helpers import build_small_vae
from helpers import invoke

from kgen.data import DatasetInfo
from kgen.export import export_saved_model
from kgen.export.saved_model import METADATA
from kgen.models import GANConfig
from kgen.models import PixelCNNConfig
from kgen.models import get_family
from kgen.models.image_sampler import ImageSampler


def _small_gan():
    return get_family("gan").build(
        GANConfig(latent_dim=2, base_filters=8, conditional=True), MNIST_INFO, seed=0
    )


def _small_pixelcnn():
    info = DatasetInfo(
        name="synthetic", image_shape=(4, 4, 1), num_classes=10, num_examples=8, split="train"
    )
    return get_family("pixelcnn").build(
        PixelCNNConfig(filters=4, num_blocks=1, input_kernel_size=3, conditional=True), info, seed=0
    )


BUILDERS = {
    "vae": lambda: build_small_vae(conditional=True),
    "gan": _small_gan,
    "pixelcnn": _small_pixelcnn,
}


@pytest.fixture(scope="module", params=sorted(BUILDERS))
def conditional_model(request):
    return BUILDERS[request.param]()


@pytest.mark.parametrize("bad", [10, -1])
@pytest.mark.parametrize("as_type", [list, np.asarray, tf.constant])
def test_sample_refuses_a_label_outside_the_classes(conditional_model, bad, as_type):
    with pytest.raises(ValueError, match=rf"label {bad} is outside \[0, 10\)"):
        conditional_model.sample(2, seed=0, labels=as_type([3, bad]))


def test_sample_accepts_the_first_and_last_class(conditional_model):
    images = conditional_model.sample(2, seed=0, labels=[0, 9])
    assert tuple(images.shape)[0] == 2


def test_traced_sampling_skips_the_python_check(conditional_model):
    # Symbolic labels cannot be read in Python; tracing must still work.
    draw = tf.function(lambda labels: conditional_model.sample(1, seed=0, labels=labels))
    assert draw(tf.constant([9])).shape[0] == 1


def test_decode_refuses_a_label_outside_the_classes():
    model = build_small_vae(conditional=True)
    with pytest.raises(ValueError, match=r"label 12 is outside \[0, 10\)"):
        model.decode(np.zeros((1, 8), "float32"), [12])


def test_image_sampler_checks_labels_before_tracing():
    # Its traced sampler would see symbolic labels, so it checks the concrete ones first.
    with pytest.raises(ValueError, match=r"label 10 is outside \[0, 10\)"):
        ImageSampler(_small_gan())(2, seed=0, labels=[1, 10])


@pytest.fixture(scope="module")
def exported_gan(tmp_path_factory):
    """A conditional GAN (untrained: its images do not matter here) exported as a SavedModel."""
    return export_saved_model(_small_gan(), str(tmp_path_factory.mktemp("export") / "cgan"))


def test_export_records_the_number_of_classes(exported_gan):
    with open(os.path.join(exported_gan, METADATA)) as file:
        assert json.load(file)["num_classes"] == 10


@pytest.mark.parametrize("labels, bad", [("0,12", "12"), ("-1", "-1"), ("10", "10")])
def test_cli_sample_names_the_bad_label_and_the_range(exported_gan, tmp_path, labels, bad):
    out = tmp_path / "grid.png"
    result = invoke("sample", exported_gan, "--labels", labels, "--out", out)
    assert_clean_error(result, "--labels", f"label {bad}", "[0, 10)")
    assert not out.exists()


def test_cli_sample_accepts_the_last_class(exported_gan, tmp_path):
    result = invoke("sample", exported_gan, "--labels", "0,9", "--out", tmp_path / "grid.png")
    assert result.exit_code == 0, result.output
    assert (tmp_path / "grid.png").stat().st_size > 0


def test_cli_plot_names_the_bad_label_and_the_range(exported_gan, tmp_path):
    result = invoke(
        "plot", "samples", exported_gan, "--labels", "3,11", "--out", tmp_path / "plot.png"
    )
    assert_clean_error(result, "--labels", "label 11", "[0, 10)")


def test_an_export_without_the_record_still_samples(tmp_path):
    # Exports written before kgen recorded num_classes: no check, but no failure either.
    path = export_saved_model(_small_gan(), str(tmp_path / "old"))
    os.remove(os.path.join(path, METADATA))
    result = invoke("sample", path, "--labels", "1,2", "--out", tmp_path / "grid.png")
    assert result.exit_code == 0, result.output
