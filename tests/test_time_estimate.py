"""The time estimate `kgen fit` announces a few seconds into training."""

import time

import keras
import pytest

from kgen.training.time_estimate import TimeEstimateCallback
from kgen.training.time_estimate import format_duration


@pytest.mark.parametrize(
    "seconds, text", [(0.2, "1 s"), (42, "42 s"), (600, "10 min"), (5400, "1.5 h")]
)
def test_format_duration(seconds, text):
    assert format_duration(seconds) == text


def test_estimate_leaves_out_the_first_execution_and_speaks_once():
    messages = []
    step = keras.Variable(0, dtype="int64", trainable=False)
    callback = TimeEstimateCallback(messages.append, step, total_steps=1000, min_seconds=0.05)
    step.assign(4)  # the first execution: tracing and compiling, not timed
    callback.on_train_batch_end(0)
    time.sleep(0.06)
    callback.on_train_batch_end(1)  # no step since: nothing to divide by yet
    assert messages == []
    step.assign(14)
    callback.on_train_batch_end(2)
    (message,) = messages
    # ~0.06 s over 10 steps: ~6 ms a step, for the 986 steps left (about 6 s).
    assert "for the 986 training steps left" in message and message.startswith("\n")
    per_step_ms = int(message.split("(")[1].split(" ms")[0])
    assert 5 <= per_step_ms < 60, message
    step.assign(24)
    callback.on_train_batch_end(3)
    assert len(messages) == 1
