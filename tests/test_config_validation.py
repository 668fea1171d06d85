"""Every numeric setting of every family and of training has a range, enforced alike by the
Python configs (ConfigError naming the option) and by `kgen fit` (a clean one-line error)."""

import dataclasses
import types

import pytest
from helpers import assert_clean_error
from helpers import invoke

from kgen.errors import ConfigError
from kgen.models import PixelCNNConfig
from kgen.models import VAEConfig
from kgen.models import families
from kgen.models.config_fields import keywords
from kgen.models.config_fields import numeric_type
from kgen.training import TrainConfig


def _config_classes():
    """(family used on the command line, settings class) for every family and for training."""
    pairs = [(family.name, family.config_class) for family in families().values()]
    return pairs + [("vae", TrainConfig)]


NUMERIC_FIELDS = [
    pytest.param(name, config_class, field, id=f"{config_class.__name__}.{field.name}")
    for name, config_class in _config_classes()
    for field in dataclasses.fields(config_class)
    if numeric_type(field.type)
]


def _boundaries():
    """(family, settings class, field name, accepted value, rejected value): at each finite
    end of each range, the bound itself (or just inside an open end) and just past it."""
    cases = []
    for param in NUMERIC_FIELDS:
        name, config_class, field = param.values
        bounds = field.metadata.get("range")
        if bounds is None:  # test_every_numeric_setting_has_a_range reports it
            continue
        step = 1 if numeric_type(field.type) is int else 1e-6
        ends = []
        if bounds.min is not None:
            ends.append(("min", bounds.min, bounds.min_open, -step))
        if bounds.max is not None:
            ends.append(("max", bounds.max, bounds.max_open, step))
        for end, bound, is_open, outward in ends:
            accepted, rejected = (bound - outward, bound) if is_open else (bound, bound + outward)
            cases.append(
                pytest.param(
                    name, config_class, field.name, accepted, rejected, id=f"{param.id}-{end}"
                )
            )
    return cases


BOUNDARIES = _boundaries()


@pytest.mark.parametrize("name, config_class, field", NUMERIC_FIELDS)
def test_every_numeric_setting_has_a_range(name, config_class, field):
    bounds = field.metadata.get("range")
    assert bounds is not None, f"{config_class.__name__}.{field.name} needs setting(..., range)"
    assert bounds.min is not None or bounds.max is not None
    if field.default is not None and field.default not in keywords(field.type):  # "auto"
        assert field.default in bounds, f"the default {field.default} is outside {bounds}"


def test_the_boundaries_cover_the_settings_the_issue_names():
    covered = {case.id.rsplit("-", 1)[0] for case in BOUNDARIES}
    for name in (
        "GANConfig.ema_decay",
        "GANConfig.d_steps",
        "GANConfig.label_smoothing",
        "VAEConfig.beta",
        "VAEConfig.latent_dim",
        "WGANGPConfig.gp_weight",
        "PixelCNNConfig.filters",
        "ClassifierConfig.dropout",
        "TrainConfig.batch_size",
        "TrainConfig.fid_samples",
        "TrainConfig.steps_per_execution",
    ):
        assert name in covered


@pytest.mark.parametrize("name, config_class, field_name, accepted, rejected", BOUNDARIES)
def test_python_config_accepts_the_bound_and_rejects_past_it(
    name, config_class, field_name, accepted, rejected
):
    flag = "--" + field_name.replace("_", "-")
    assert getattr(config_class(**{field_name: accepted}), field_name) == accepted
    with pytest.raises(ConfigError) as caught:
        config_class(**{field_name: rejected})
    message = str(caught.value)
    bounds = next(f for f in dataclasses.fields(config_class) if f.name == field_name).metadata[
        "range"
    ]
    assert flag in message and str(bounds) in message and repr(rejected) in message, message


@pytest.fixture
def fit_calls(monkeypatch):
    """Replace the entry point `kgen fit` calls; the list receives its arguments."""
    import kgen.workflows

    calls = []

    def fake_fit(family_name, model_config, train_config, announce=None):
        calls.append((family_name, model_config, train_config))
        return types.SimpleNamespace(run_dir="run", checkpoint_dir="ckpt", export_dir="export")

    monkeypatch.setattr(kgen.workflows, "train", fake_fit)
    return calls


@pytest.mark.parametrize("name, config_class, field_name, accepted, rejected", BOUNDARIES)
def test_cli_accepts_the_bound_and_rejects_past_it(
    fit_calls, name, config_class, field_name, accepted, rejected
):
    flag = "--" + field_name.replace("_", "-")
    result = invoke("fit", name, flag, repr(accepted))
    assert result.exit_code == 0, result.output
    ((_, model_config, train_config),) = fit_calls
    config = train_config if config_class is TrainConfig else model_config
    assert isinstance(config, config_class) and getattr(config, field_name) == accepted

    result = invoke("fit", name, flag, repr(rejected))
    assert result.exit_code in (1, 2)
    assert_clean_error(result, flag)
    assert len(fit_calls) == 1  # the rejected value never reached training


def test_pixelcnn_filters_zero_is_not_the_default():
    # `config.filters or DEFAULT` used to read 0 as "the default".
    assert PixelCNNConfig().filters is None
    with pytest.raises(ConfigError, match="--filters"):
        PixelCNNConfig(filters=0)


@pytest.mark.parametrize(
    "settings",
    [
        dict(latent_dim=2.5),
        dict(beta="1"),
        dict(hidden_units=True),
        dict(beta=float("nan")),
        dict(latent_dim=None),
    ],
)
def test_python_config_rejects_values_that_are_not_numbers(settings):
    ((name, value),) = settings.items()
    with pytest.raises(ConfigError, match="--" + name.replace("_", "-")):
        VAEConfig(**settings)


def test_a_record_older_than_a_setting_rebuilds_the_model_it_trained():
    from kgen.models import get_family

    config_class = get_family("gan").config_class
    recorded = {"latent_dim": 16, "base_filters": 8}  # written before --mapping-layers existed
    assert config_class.from_record(recorded).mapping_layers == 0
    assert config_class.from_record({**recorded, "mapping_layers": 2}).mapping_layers == 2
    assert config_class().mapping_layers == 2  # a new run gets today's default
    assert config_class.from_record(recorded).mapping_units == 256  # no older value: default
