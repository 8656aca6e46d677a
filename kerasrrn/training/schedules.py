"""Learning-rate schedule with linear warm-up, then cosine, step or constant."""

import math

import keras
from keras import ops

from kerasrrn.choices import DECAYS


@keras.saving.register_keras_serializable(package="kerasrrn")
class WarmupDecay(keras.optimizers.schedules.LearningRateSchedule):
    """Linear warm-up from `peak / 10` to `peak`, then the chosen decay, per optimizer step.

    Args:
        peak: float, the rate reached at the end of the warm-up.
        warmup_steps: int, steps of linear warm-up (0 = none).
        total_steps: int, steps of the whole run; cosine reaches 0 there.
        decay: str, `"cosine"`, `"step"` (x0.1 every `step_every` steps) or `"constant"`.
        step_every: int, steps between two x0.1 drops of the `"step"` decay.

    Call arguments:
        step: scalar, the optimizer's iteration count.

    Returns:
        float32 scalar, the learning rate.
    """

    def __init__(self, peak, warmup_steps, total_steps, decay="cosine", step_every=1):
        if decay not in DECAYS:
            raise ValueError(f"`decay` must be one of {DECAYS}. Received: decay={decay!r}")
        if warmup_steps < 0 or total_steps < 1 or step_every < 1:
            raise ValueError(
                "Expected warmup_steps >= 0, total_steps >= 1, step_every >= 1. Received: "
                f"warmup_steps={warmup_steps}, total_steps={total_steps}, step_every={step_every}"
            )
        self.peak = float(peak)
        self.warmup_steps = int(warmup_steps)
        self.total_steps = int(total_steps)
        self.decay = decay
        self.step_every = int(step_every)

    def __call__(self, step):
        step = ops.cast(step, "float32")
        warmup = max(self.warmup_steps, 1)
        warming = self.peak * (0.1 + 0.9 * ops.minimum(step / warmup, 1.0))
        after = ops.maximum(step - self.warmup_steps, 0.0)
        if self.decay == "cosine":
            progress = ops.minimum(after / max(self.total_steps - self.warmup_steps, 1), 1.0)
            decayed = self.peak * 0.5 * (1.0 + ops.cos(math.pi * progress))
        elif self.decay == "step":
            decayed = self.peak * ops.power(0.1, ops.floor(after / self.step_every))
        else:
            decayed = ops.convert_to_tensor(self.peak, "float32")
        return ops.where(step < self.warmup_steps, warming, decayed)

    def get_config(self):
        return {
            "peak": self.peak,
            "warmup_steps": self.warmup_steps,
            "total_steps": self.total_steps,
            "decay": self.decay,
            "step_every": self.step_every,
        }
