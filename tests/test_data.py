"""Tests for kgen.data: the TFDS, folder and .npz sources and the training/evaluation pipelines."""

from __future__ import annotations

import functools
import gzip
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_datasets as tfds
from PIL import Image

from kgen.data import DatasetInfo
from kgen.data import evaluation_batches
from kgen.data import load_source
from kgen.data import steps_per_epoch
from kgen.data import tfds_source
from kgen.data import training_stream
from kgen.data._common import square_resize
from kgen.errors import DataError

MNIST_FILES = [
    "t10k-images-idx3-ubyte.gz",
    "t10k-labels-idx1-ubyte.gz",
    "train-images-idx3-ubyte.gz",
    "train-labels-idx1-ubyte.gz",
]


def _stack(dataset, key="image"):
    return np.stack([example[key] for example in dataset.as_numpy_iterator()])


def _write_png(path, array):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path)


def _raw_mnist_train(raw_data_dir):
    """{image bytes: label} straight from the idx files, to check TFDS gave us the real data."""
    with gzip.open(raw_data_dir / "mnist" / "train-images-idx3-ubyte.gz") as f:
        images = np.frombuffer(f.read(), np.uint8, offset=16).reshape(-1, 28, 28, 1)
    with gzip.open(raw_data_dir / "mnist" / "train-labels-idx1-ubyte.gz") as f:
        labels = np.frombuffer(f.read(), np.uint8, offset=8)
    return {image.tobytes(): int(label) for image, label in zip(images, labels)}


# --- TFDS --------------------------------------------------------------------------------


def test_mnist_loads_from_shared_raw_files(mnist_small, raw_data_dir):
    dataset, info = mnist_small
    assert info == DatasetInfo(
        name="mnist", image_shape=(28, 28, 1), num_classes=10, num_examples=256, split="train"
    )
    assert dataset.element_spec["image"].shape == (28, 28, 1)
    images, labels = _stack(dataset), _stack(dataset, "label")
    assert images.shape == (256, 28, 28, 1) and images.dtype == np.float32
    assert labels.shape == (256,) and labels.dtype == np.int32
    assert images.min() == 0.0 and images.max() == 1.0
    assert set(labels) <= set(range(10)) and len(set(labels)) == 10
    # Every (image, label) pair is one of the raw file's pairs, scaled by 1/255.
    raw = _raw_mnist_train(raw_data_dir)
    for image, label in zip(images, labels):
        assert raw[np.round(image * 255).astype(np.uint8).tobytes()] == label


def test_mnist_splits_limit_and_resize(mnist_small, tfds_data_dir):
    _, info = load_source("mnist", "test", data_dir=tfds_data_dir)
    assert info.num_examples == 10_000 and info.split == "test"
    _, info = load_source("mnist", "test", data_dir=tfds_data_dir, limit=10**6)
    assert info.num_examples == 10_000  # a limit above the split size keeps the whole split
    dataset, info = load_source("mnist", "test", data_dir=tfds_data_dir, limit=7, image_size=16)
    images = _stack(dataset)
    assert (
        images.shape == (7, 16, 16, 1)
        and info.image_shape == (16, 16, 1)
        and info.num_examples == 7
    )
    assert 0.0 <= images.min() and images.max() <= 1.0


def test_unknown_tfds_split_lists_available(mnist_small, tfds_data_dir):
    with pytest.raises(DataError, match="'validation'.*train, test"):
        load_source("mnist", "validation", data_dir=tfds_data_dir)


@pytest.mark.real_data
def test_binarized_mnist_values_are_exactly_0_and_1(tmp_path, monkeypatch, capfd):
    # Full preparation parses 110 MB of text (~20 s on 2 cores); 64 examples per split go
    # through the same load_source -> KGEN_MANUAL_DIR/binarized_mnist -> TFDS path in ~4 s.
    # Its own data_dir keeps the truncated dataset away from the session's tfds_data_dir.
    monkeypatch.setattr(
        tfds.download,
        "DownloadConfig",
        functools.partial(tfds.download.DownloadConfig, max_examples_per_split=64),
    )
    dataset, info = load_source("binarized_mnist", "validation", data_dir=tmp_path)
    # TFDS's notes while preparing go to stderr: stdout is a command's own (JSON, tables).
    assert capfd.readouterr().out == ""
    assert info == DatasetInfo("binarized_mnist", (28, 28, 1), None, 64, "validation")
    assert "label" not in dataset.element_spec
    images = _stack(dataset)
    assert images.shape == (64, 28, 28, 1) and images.dtype == np.float32
    assert set(np.unique(images)) == {0.0, 1.0}


@pytest.mark.slow
def test_binarized_mnist_full_preparation(tfds_data_dir):
    dataset, info = load_source("binarized_mnist", "train", data_dir=tfds_data_dir, limit=500)
    assert info.num_examples == 500 and info.num_classes is None
    assert set(np.unique(_stack(dataset))) == {0.0, 1.0}
    assert load_source("binarized_mnist", "test", data_dir=tfds_data_dir)[1].num_examples == 10_000


def test_unknown_dataset_name_is_named():
    with pytest.raises(DataError, match="'no_such_dataset_xyz'"):
        load_source("no_such_dataset_xyz")
    with pytest.raises(DataError, match="missing.npz"):
        load_source("missing.npz")


def test_missing_manual_files_name_the_files(tmp_path):
    empty = tmp_path / "manual"
    empty.mkdir()
    with pytest.raises(DataError) as caught:
        load_source("mnist", data_dir=tmp_path / "tfds", manual_dir=empty)
    message = str(caught.value)
    assert all(name in message for name in MNIST_FILES)
    assert str(empty) in message and "--manual-dir" in message and "KGEN_MANUAL_DIR" in message


def test_failed_download_becomes_dataerror(tmp_path, monkeypatch):
    # Without a manual dir kgen lets TFDS download; a real offline attempt retries for minutes,
    # so the network failure is simulated.
    monkeypatch.delenv("KGEN_MANUAL_DIR", raising=False)

    def offline(self, **kwargs):
        raise ConnectionError("Failed to resolve 'storage.googleapis.com'")

    # The server answers kgen's check (so TFDS is let through) but the download then fails.
    monkeypatch.setattr(tfds_source, "check_reachable", lambda builder: None)
    monkeypatch.setattr(tfds.core.DatasetBuilder, "download_and_prepare", offline)
    with pytest.raises(DataError) as caught:
        load_source("mnist", data_dir=tmp_path)
    message = str(caught.value)
    assert "ConnectionError" in message and "train-images-idx3-ubyte.gz" in message
    assert "--manual-dir" in message and "KGEN_MANUAL_DIR" in message


@pytest.fixture
def offline(monkeypatch):
    """No manual dir, and every HTTP(S) request sent to a proxy on a closed port of
    127.0.0.1, so a download fails at once and nothing leaves the machine."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    for name in (
        "HTTPS_PROXY",
        "HTTP_PROXY",
        "ALL_PROXY",
        "https_proxy",
        "http_proxy",
        "all_proxy",
    ):
        monkeypatch.setenv(name, f"http://127.0.0.1:{port}")
    for name in ("NO_PROXY", "no_proxy", "KGEN_MANUAL_DIR"):
        monkeypatch.delenv(name, raising=False)


def test_offline_without_manual_dir_fails_fast_naming_the_fix(offline, tmp_path):
    # TFDS alone retries each URL 10 times with back-off: minutes before it gives up.
    start = time.monotonic()
    with pytest.raises(DataError) as caught:
        load_source("mnist", "train", data_dir=tmp_path / "tfds")
    assert time.monotonic() - start < 30
    message = str(caught.value)
    assert "--manual-dir" in message and "KGEN_MANUAL_DIR" in message
    assert "train-images-idx3-ubyte.gz" in message and "\n" not in message


def test_offline_cli_gives_one_line_and_no_traceback(offline, tmp_path):
    root = Path(__file__).resolve().parents[1]
    env = dict(os.environ, PYTHONPATH=str(root))
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "cli.main",
            "fit",
            "vae",
            "--epochs",
            "1",
            "--limit",
            "8",
            "--data-dir",
            str(tmp_path / "tfds"),
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    assert "Traceback" not in output
    assert "Error:" in output and "KGEN_MANUAL_DIR" in output, output


# --- folders -----------------------------------------------------------------------------


def test_folder_subfolders_are_sorted_labels(tmp_path):
    root = tmp_path / "pets"
    rng = np.random.default_rng(0)
    written = {}
    for cls, count in [("b_dogs", 2), ("a_cats", 3)]:
        for i in range(count):
            pixels = rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)
            _write_png(root / cls / f"{i}.png", pixels)
            written[(cls, i)] = pixels
    dataset, info = load_source(str(root))
    assert info == DatasetInfo("pets", (8, 8, 3), 2, 5, "train")
    assert list(_stack(dataset, "label")) == [0, 0, 0, 1, 1]
    expected = [written[("a_cats", i)] for i in range(3)] + [
        written[("b_dogs", i)] for i in range(2)
    ]
    np.testing.assert_allclose(_stack(dataset), np.stack(expected) / 255.0, atol=1e-6)
    assert load_source(str(root), limit=4)[1].num_examples == 4
    with pytest.raises(DataError, match="only the split 'train'"):
        load_source(str(root), "test")


def test_folder_of_loose_grey_images_is_unlabelled(tmp_path):
    for name in ["0.jpg", "1.png", "2.jpeg"]:
        _write_png(tmp_path / "digits" / name, np.full((5, 7), 90, np.uint8))
    dataset, info = load_source(str(tmp_path / "digits"))
    assert (
        info.num_classes is None
        and info.image_shape == (5, 7, 1)
        and "label" not in dataset.element_spec
    )
    assert _stack(dataset).shape == (3, 5, 7, 1)


def test_empty_folder_is_an_error(tmp_path):
    (tmp_path / "empty" / "sub").mkdir(parents=True)
    with pytest.raises(DataError, match="contains no png/jpg/jpeg images"):
        load_source(str(tmp_path / "empty"))


def test_mixed_sizes_need_image_size(tmp_path):
    _write_png(tmp_path / "mixed" / "a.png", np.zeros((8, 8, 3), np.uint8))
    _write_png(tmp_path / "mixed" / "b.png", np.full((6, 10, 3), 255, np.uint8))
    with pytest.raises(DataError, match="--image-size"):
        load_source(str(tmp_path / "mixed"))
    dataset, info = load_source(str(tmp_path / "mixed"), image_size=4)
    images = _stack(dataset)
    assert info.image_shape == (4, 4, 3) and images.shape == (2, 4, 4, 3)
    np.testing.assert_allclose(images[0], 0.0)
    np.testing.assert_allclose(images[1], 1.0)


def test_square_resize_crops_the_centre():
    image = np.zeros((4, 8, 1), np.float32)
    image[:, 2:6] = 1.0  # the centred 4x4 square is white, the side bands black
    np.testing.assert_allclose(square_resize(tf.constant(image), 2).numpy(), 1.0)


# --- npz ---------------------------------------------------------------------------------


def test_npz_uint8_with_labels(tmp_path):
    images = np.random.default_rng(1).integers(0, 256, (6, 5, 5), dtype=np.uint8)
    np.savez(tmp_path / "toy.npz", images=images, labels=np.array([0, 2, 1, 2, 0, 1]))
    dataset, info = load_source(str(tmp_path / "toy.npz"))
    assert info == DatasetInfo("toy", (5, 5, 1), 3, 6, "train")
    np.testing.assert_allclose(_stack(dataset), images[..., None] / 255.0, atol=1e-6)
    assert list(_stack(dataset, "label")) == [0, 2, 1, 2, 0, 1]
    assert load_source(str(tmp_path / "toy.npz"), limit=2, image_size=3)[1] == DatasetInfo(
        "toy", (3, 3, 1), 3, 2, "train"
    )


def test_npz_float_without_labels(tmp_path):
    images = np.random.default_rng(2).random((4, 6, 6, 3)).astype(np.float32)
    np.savez(tmp_path / "floats.npz", images=images)
    dataset, info = load_source(str(tmp_path / "floats.npz"))
    assert (
        info.num_classes is None
        and info.image_shape == (6, 6, 3)
        and "label" not in dataset.element_spec
    )
    np.testing.assert_allclose(_stack(dataset), images)


def test_npz_errors_name_the_problem(tmp_path):
    np.savez(tmp_path / "bad.npz", pixels=np.zeros((2, 4, 4)))
    with pytest.raises(DataError, match="no array named 'images'.*pixels"):
        load_source(str(tmp_path / "bad.npz"))
    np.savez(tmp_path / "range.npz", images=np.full((2, 4, 4), 3.0))
    with pytest.raises(DataError, match=r"uint8 in 0\.\.255 or floats in \[0, 1\]"):
        load_source(str(tmp_path / "range.npz"))


# --- pipelines ---------------------------------------------------------------------------


def _indexed(n=10):
    """Examples whose label is their index, so batches show exactly which examples they hold."""
    return tf.data.Dataset.from_tensor_slices(
        {"image": np.zeros((n, 2, 2, 1), np.float32), "label": np.arange(n, dtype=np.int32)}
    )


def _label_batches(dataset, count):
    return [batch["label"].tolist() for batch in dataset.take(count).as_numpy_iterator()]


def test_training_stream_is_deterministic_per_seed():
    first = _label_batches(training_stream(_indexed(), 4, seed=1), 10)
    assert first == _label_batches(training_stream(_indexed(), 4, seed=1), 10)
    assert first != _label_batches(training_stream(_indexed(), 4, seed=2), 10)
    # 10 examples in batches of 4: each epoch is 2 batches of 8 distinct examples (the
    # remainder is dropped, as steps_per_epoch counts), and epochs are shuffled differently.
    assert all(len(batch) == 4 for batch in first)
    epochs = [first[i] + first[i + 1] for i in range(0, 10, 2)]
    assert all(len(set(epoch)) == 8 and set(epoch) <= set(range(10)) for epoch in epochs)
    assert len({tuple(epoch) for epoch in epochs}) > 1


def test_iterating_the_stream_again_replays_it():
    # Keras's fit iterates a dataset once to build the model, then again to train; both
    # passes must see the same order, or a resumed run would train on other batches.
    stream = training_stream(_indexed(), 4, seed=1)
    assert _label_batches(stream, 7) == _label_batches(stream, 7)


@pytest.mark.parametrize("skip", [1, 2, 3, 7])
def test_skip_batches_shifts_the_stream_exactly(skip):
    # Two batches per epoch, so skips of 2 and 7 start at and inside later epochs.
    full = _label_batches(training_stream(_indexed(), 4, seed=3), skip + 5)
    assert (
        _label_batches(training_stream(_indexed(), 4, seed=3, skip_batches=skip), 5) == full[skip:]
    )


def test_training_stream_is_infinite_with_a_static_batch_shape():
    # Keras's fit draws several steps per execution through the distributed iterator's
    # get_next_as_optional, whose batch dimension is None unless the stream is known to be
    # infinite: the train step would trace with another shape than with one step per call.
    stream = training_stream(_indexed(), 4, seed=1, skip_batches=3)
    assert stream.cardinality() == tf.data.INFINITE_CARDINALITY
    strategy = tf.distribute.OneDeviceStrategy("/cpu:0")
    iterator = iter(strategy.experimental_distribute_dataset(stream))
    draw = tf.function(lambda: iterator.get_next_as_optional().get_value())
    assert draw.get_concrete_function().structured_outputs["image"].shape == (4, 2, 2, 1)


def test_pipelines_shard_by_data_and_batch_mnist(mnist_small):
    dataset, _ = mnist_small
    stream = training_stream(dataset, 32, seed=0)
    batch = next(iter(stream))
    assert batch["image"].shape == (32, 28, 28, 1) and batch["image"].dtype == tf.float32
    for pipeline in (stream, evaluation_batches(dataset, 32)):
        assert (
            pipeline.options().experimental_distribute.auto_shard_policy
            == tf.data.experimental.AutoShardPolicy.DATA
        )


def test_evaluation_batches_keep_the_partial_batch():
    assert _label_batches(evaluation_batches(_indexed(), 4), 10) == [
        [0, 1, 2, 3],
        [4, 5, 6, 7],
        [8, 9],
    ]


def test_evaluation_batches_drop_the_partial_batch_when_asked_for_whole_batches():
    batches = evaluation_batches(_indexed(), 4, whole_batches=True)
    assert _label_batches(batches, 10) == [[0, 1, 2, 3], [4, 5, 6, 7]]


def test_steps_per_epoch():
    assert steps_per_epoch(10, 4) == 2
    with pytest.raises(DataError, match="3 examples.*batch of 4.*--batch-size.*--limit"):
        steps_per_epoch(3, 4)
