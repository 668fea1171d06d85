"""Which models to serve, from folders named on the command line or from TF Serving's
model config file (ModelServerConfig in protobuf text format, read with TF Serving's protos)."""

import dataclasses
import os

from google.protobuf import text_format
from tensorflow_serving.config import model_server_config_pb2

from kgen.errors import ConfigError
from kgen.export.saved_model import version_folders

SAVED_MODEL_FILES = ("saved_model.pb", "saved_model.pbtxt")


@dataclasses.dataclass(frozen=True)
class VersionPolicy:
    """Which of the versions on disk to serve, as TF Serving's ServableVersionPolicy:
    the `latest` N (N=1 by default), `all`, or `specific` version numbers."""

    kind: str = "latest"
    num_versions: int = 1
    versions: tuple = ()

    def choose(self, available):
        """The versions to serve out of `available` (ascending ints)."""
        if self.kind == "all":
            return list(available)
        if self.kind == "specific":
            return [version for version in available if version in self.versions]
        return list(available)[-self.num_versions :] if available else []


@dataclasses.dataclass(frozen=True)
class ModelSpec:
    """One served model: its name, its base folder of numbered versions, the policy and
    the version labels (label -> version). `single_version` pins a plain SavedModel folder
    (one not inside a numbered folder) as that version."""

    name: str
    base_path: str
    policy: VersionPolicy = VersionPolicy()
    labels: dict = dataclasses.field(default_factory=dict)
    single_version: int | None = None

    def versions_on_disk(self):
        """{version: folder} of the complete SavedModels there now. Like TF Serving, only
        folders named by a number count: hidden staging folders and other names are ignored."""
        if self.single_version is not None:
            found = is_saved_model(self.base_path)
            return {self.single_version: self.base_path} if found else {}
        # A version folder appears before its files when copied in rather than renamed.
        folders = version_folders(self.base_path)
        return {version: folder for version, folder in folders.items() if is_saved_model(folder)}


def is_saved_model(folder):
    return any(os.path.isfile(os.path.join(folder, name)) for name in SAVED_MODEL_FILES)


def specs_from_paths(paths, model_name=None):
    """ModelSpecs for folders given on the command line. A base folder serves its latest
    version under the folder's name; a numbered version folder serves just that version
    under its parent's name; a plain SavedModel folder serves as version 1."""
    if model_name and len(paths) != 1:
        raise ConfigError(
            f"--model-name names one model, but {len(paths)} folders were given: "
            "serve one folder, or name several models in a --model-config-file."
        )
    specs = []
    for path in paths:
        path = os.path.abspath(path)
        if not os.path.isdir(path):
            raise ConfigError(
                f"No folder at {path!r}: give a SavedModel base folder (with numbered "
                "versions, as `kgen fit` and `kgen export` write) or one version's folder."
            )
        leaf = os.path.basename(path)
        if is_saved_model(path) and leaf.isdigit():
            parent = os.path.dirname(path)
            name = model_name or os.path.basename(parent)
            policy = VersionPolicy("specific", versions=(int(leaf),))
            specs.append(ModelSpec(name, parent, policy))
        elif is_saved_model(path):
            specs.append(ModelSpec(model_name or leaf, path, single_version=1))
        else:
            specs.append(ModelSpec(model_name or leaf, path))
    return _unique(specs)


def specs_from_config_file(path):
    """ModelSpecs from TF Serving's model config file (text-format ModelServerConfig)."""
    try:
        with open(path) as file:
            text = file.read()
    except OSError as error:
        raise ConfigError(f"--model-config-file: cannot read {path!r}: {error.strerror}.") from None
    config = model_server_config_pb2.ModelServerConfig()
    try:
        text_format.Parse(text, config)
    except text_format.ParseError as error:
        raise ConfigError(
            f"--model-config-file {path!r} is not a ModelServerConfig in text format: {error}"
        ) from None
    if config.WhichOneof("config") != "model_config_list":
        raise ConfigError(
            f"--model-config-file {path!r} has no model_config_list: list the models as "
            "model_config_list { config { name: 'NAME' base_path: '/PATH' } }."
        )
    here = os.path.dirname(os.path.abspath(path))
    return _unique([_spec_from_proto(model, here) for model in config.model_config_list.config])


def _spec_from_proto(model, config_folder):
    if not model.name:
        raise ConfigError("--model-config-file: every model config needs a name.")
    if model.model_platform not in ("", "tensorflow"):
        raise ConfigError(
            f"--model-config-file: model {model.name!r} has model_platform "
            f"{model.model_platform!r}; kgen serve serves TensorFlow SavedModels only."
        )
    if not model.base_path:
        raise ConfigError(f"--model-config-file: model {model.name!r} needs a base_path.")
    policy = _policy_from_proto(model)
    labels = dict(model.version_labels)
    for label, version in labels.items():
        if policy.kind == "specific" and version not in policy.versions:
            raise ConfigError(
                f"--model-config-file: label {label!r} of model {model.name!r} points at "
                f"version {version}, which its specific version policy does not serve."
            )
    base_path = os.path.join(config_folder, model.base_path)
    return ModelSpec(model.name, os.path.normpath(base_path), policy, labels)


def _policy_from_proto(model):
    kind = model.model_version_policy.WhichOneof("policy_choice") or "latest"
    if kind == "latest":
        count = model.model_version_policy.latest.num_versions or 1
        return VersionPolicy("latest", num_versions=count)
    if kind == "all":
        return VersionPolicy("all")
    versions = tuple(model.model_version_policy.specific.versions)
    if not versions:
        raise ConfigError(
            f"--model-config-file: model {model.name!r} has a specific version policy "
            "with no versions."
        )
    return VersionPolicy("specific", versions=versions)


def _unique(specs):
    seen = set()
    for spec in specs:
        if spec.name in seen:
            raise ConfigError(
                f"Two models are named {spec.name!r}: give each a distinct name "
                "(--model-name, or `name` in --model-config-file)."
            )
        seen.add(spec.name)
    return specs
