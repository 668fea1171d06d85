"""Errors a user can cause and fix; the CLI prints them as one line, without a traceback."""


class KgenError(Exception):
    """Base of every user-facing kgen error: the message names the value and the fix."""


class DataError(KgenError):
    """A dataset could not be found, prepared or read."""


class ConfigError(KgenError):
    """A setting has a value kgen cannot use."""


class TrainingDiverged(KgenError):
    """A loss or its gradients became NaN or infinite; the last good checkpoint is kept."""


class ModelNotFound(KgenError):
    """No SavedModel, run directory or checkpoint where one was expected."""


class CheckpointMismatch(KgenError):
    """A checkpoint's variables do not match the model it is restored into."""


class ExportFailed(KgenError):
    """Writing a SavedModel failed for a reason outside the model's settings (such as no
    TensorFlow to export with under another backend)."""
