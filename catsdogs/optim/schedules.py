"""The learning rate over optimizer steps: an optional linear warm-up from 0, then constant, or
a cosine or linear decay that reaches its minimum at the last step.

Its length lives in two variables, not in the compiled step: a time budget plans the run after
its first steps have run, and shortens it when the machine slows down, without tracing the
step again. Before the warm-up ends the rate climbs linearly; after the last step it stays at
its end value.
"""

from __future__ import annotations

import math

import keras
from keras import ops

from catsdogs.config import SCHEDULE_NAMES


@keras.saving.register_keras_serializable(package="catsdogs")
class Schedule(keras.optimizers.schedules.LearningRateSchedule):
    """``peak`` after ``warmup_steps`` of linear warm-up, then ``shape`` down to ``end`` at
    ``total_steps`` (constant: ``peak`` throughout)."""

    def __init__(
        self,
        peak: float,
        total_steps: int,
        warmup_steps: int = 0,
        shape: str = "cosine",
        end: float = 0.0,
    ) -> None:
        if shape not in SCHEDULE_NAMES:
            raise ValueError(f"shape must be one of {', '.join(SCHEDULE_NAMES)}; got {shape!r}")
        self.peak, self.shape, self.end = float(peak), shape, float(end)
        self.total_steps = keras.Variable(total_steps, dtype="float32", trainable=False)
        self.warmup_steps = keras.Variable(warmup_steps, dtype="float32", trainable=False)

    def set_length(self, total_steps: int, warmup_steps: int) -> None:
        """A new length for the run: its last step and the end of its warm-up."""
        self.total_steps.assign(float(max(total_steps, 1)))
        self.warmup_steps.assign(float(min(warmup_steps, max(total_steps - 1, 0))))

    def __call__(self, step):
        step = ops.cast(step, "float32")
        warmup, total = self.warmup_steps, self.total_steps
        climbing = self.peak * step / ops.maximum(warmup, 1.0)
        progress = ops.clip((step - warmup) / ops.maximum(total - warmup, 1.0), 0.0, 1.0)
        if self.shape == "cosine":
            falling = self.end + (self.peak - self.end) * 0.5 * (1 + ops.cos(math.pi * progress))
        elif self.shape == "linear":
            falling = self.peak - (self.peak - self.end) * progress
        else:
            falling = ops.convert_to_tensor(self.peak, "float32")
        return ops.where(step < warmup, climbing, falling)

    def get_config(self) -> dict:
        return {
            "peak": self.peak,
            "total_steps": int(keras.ops.convert_to_numpy(self.total_steps)),
            "warmup_steps": int(keras.ops.convert_to_numpy(self.warmup_steps)),
            "shape": self.shape,
            "end": self.end,
        }
