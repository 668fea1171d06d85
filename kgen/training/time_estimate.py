"""Telling the user, early, how long a run will take: Keras's progress bar gives the ETA of
the current epoch only, and a CPU run of several epochs can last far longer than one bar
suggests."""

import time

import keras


def format_duration(seconds: float) -> str:
    """A rough human duration: "40 s", "7 min", "2.5 h"."""
    if seconds < 90:
        return f"{max(seconds, 1):.0f} s"
    if seconds < 90 * 60:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


class TimeEstimateCallback(keras.callbacks.Callback):
    """Announces once, a few seconds into training, how long the run's remaining training
    steps will take at the speed measured so far.

    The first execution of steps is left out of the timing (it traces and compiles the
    step); the speed is measured from its end over at least `min_seconds`. Validation,
    checkpoints and in-training FID come on top, and the message says so.

    Args:
        announce: announce(message), e.g. `click.echo`.
        global_step: the run's step variable (advanced as each execution of steps begins).
        total_steps: the run's last step (epochs x steps per epoch).
        min_seconds: how long to time before estimating.
    """

    def __init__(self, announce, global_step, total_steps, min_seconds=10.0):
        super().__init__()
        self.announce, self.global_step = announce, global_step
        self.total_steps, self.min_seconds = total_steps, min_seconds
        self.start, self.done = None, False

    def on_train_batch_end(self, batch, logs=None):
        if self.done:
            return
        now, step = time.perf_counter(), int(self.global_step.numpy())
        if self.start is None:
            self.start = (now, step)
            return
        start_time, start_step = self.start
        if now - start_time < self.min_seconds or step == start_step:
            return
        self.done = True
        per_step = (now - start_time) / (step - start_step)
        left = max(self.total_steps - step, 0)
        # A new line first: Keras's progress bar redraws its line in place and has no
        # newline of its own until the epoch ends.
        self.announce(
            f"\nTime estimate: about {format_duration(per_step * left)} for the {left:,} "
            f"training steps left ({per_step * 1000:.0f} ms a step here); validation, "
            "checkpoints and in-training FID add to it."
        )
