"""The sizes a budgeted run trains at, chosen for the steps its budget allows on this machine.

At a fixed time, a small CNN trained from scratch on a CPU gains more from steps than from
pixels until it has seen the training images a few times (docs/benchmarks.md, "More accuracy
from every CPU minute"): a short budget or a slow machine trains smaller images, a long budget
on a fast machine larger ones. A recipe is a final size and the smaller sizes trained before
it (progressive resizing, ``data.ladder``). With ``data.sizes: auto`` the plan times a training
step of the model at the smallest and the largest size of the recipes (random images, so the
model alone), prices every recipe's mean step from them, and takes the largest recipe whose
steps make at least ``MIN_PASSES`` passes over the training images in the time its steps get.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import keras
import tensorflow as tf

from catsdogs.config import Config, MeasuredPlan, overridden
from catsdogs.data import manifests
from catsdogs.model import classifier
from catsdogs.optim import factory
from catsdogs.training import budget, devices, run_length
from catsdogs.training.budget import Clock


@dataclass(frozen=True)
class Recipe:
    image_size: int
    ladder: tuple[int, ...]

    def text(self) -> str:
        sizes = [*self.ladder, self.image_size]
        return " -> ".join(f"{size}" for size in sizes) + " px"


# Smallest first. Measured on the full training set (docs/benchmarks.md): in 10 minutes on
# 2 cores, 64 px after 40 and 52 (8.0 passes planned) beat 80 after 48 and 64 (5.1), which
# beat 96 after 64 and 80 (3.6): passes count for more than pixels until at least 8. The
# threshold beyond that is a guess: at 30 minutes here it puts 80 px (17 passes) before 96
# (12), which has not been run.
RECIPES = (
    Recipe(64, (40, 52)),
    Recipe(80, (48, 64)),
    Recipe(96, (64, 80)),
)
MIN_PASSES = 15.0  # the largest recipe that still sees the training images this often
# What the plan will keep from the time left for steps, as it plans (run_length.longest): the rest
# of start-up (building, XLA, each size's measuring steps: 30-40 s here), then up to
# OVERHEAD_SHARE for validation and saves.
START_UP_SECONDS = 35.0
WARM_UP_STEPS = 2  # a size's step run this often before it is timed (tracing, first calls)
TIMED_SECONDS = 0.5  # then timed over at least this long


def step_seconds(config: Config, sizes: tuple[int, ...]) -> dict[int, float]:
    """Seconds a training step of ``config``'s model and optimizer takes at each of
    ``sizes``, on random images in the config's batch, without XLA, in the current dtype
    policy."""
    batch = config.data.batch_size
    model = classifier.build(config.model, max(sizes), config.data.resize)
    optimizer = factory.build(config.optimizer, config.optimizer.learning_rate)
    loss = keras.losses.BinaryCrossentropy()

    @tf.function
    def step(images, labels):
        with tf.GradientTape() as tape:
            value = loss(labels, model(images, training=True))
        optimizer.apply(tape.gradient(value, model.trainable_variables), model.trainable_variables)
        return value

    labels = tf.zeros([batch, 1])
    seconds = {}
    for size in sizes:
        images = tf.random.uniform([batch, size, size, 3], 0, 255)
        for _ in range(WARM_UP_STEPS):
            step(images, labels).numpy()
        started, taken = time.perf_counter(), 0
        while taken == 0 or time.perf_counter() - started < TIMED_SECONDS:
            step(images, labels).numpy()
            taken += 1
        seconds[size] = (time.perf_counter() - started) / taken
    return seconds


def pixel_cost(measured: dict[int, float]) -> Callable[[int], float]:
    """A step's seconds at any size from two measured sizes: a fixed part and a part that
    grows with the pixels (a + b * size^2), through both."""
    (small, at_small), (large, at_large) = sorted(measured.items())
    per_pixel = (at_large - at_small) / (large**2 - small**2)
    fixed = at_small - per_pixel * small**2
    return lambda size: max(fixed + per_pixel * size**2, 1e-6)


@dataclass(frozen=True)
class Choice:
    recipe: Recipe
    passes: dict[Recipe, float]  # every recipe's passes over the training images

    def line(self) -> str:
        others = ", ".join(
            f"{recipe.text()} {passes:.1f}"
            for recipe, passes in self.passes.items()
            if recipe != self.recipe
        )
        why = (
            f"the largest recipe with at least {MIN_PASSES:g}"
            if self.passes[self.recipe] >= MIN_PASSES
            else f"the smallest: none makes {MIN_PASSES:g} here"
        )
        return (
            f"sizes: {self.recipe.text()}, {self.passes[self.recipe]:.1f} passes over the "
            f"training images in this budget here ({why}; {others}) (data.sizes: auto)"
        )


def choose(
    seconds_left: float,
    seconds_at: Callable[[int], float],
    train_images: int,
    batch: int,
    share: float,
) -> Choice:
    """The largest recipe whose steps make at least ``MIN_PASSES`` passes over
    ``train_images`` in what the plan will keep of ``seconds_left`` for them; the smallest
    where none does."""
    for_steps = max(seconds_left - START_UP_SECONDS, 0.0) * (1 - run_length.OVERHEAD_SHARE)
    passes = {
        recipe: for_steps
        / run_length.mean_step(seconds_at, recipe.ladder, recipe.image_size, share)
        * batch
        / train_images
        for recipe in RECIPES
    }
    enough = [recipe for recipe in RECIPES if passes[recipe] >= MIN_PASSES]
    return Choice(enough[-1] if enough else RECIPES[0], passes)


def sizes_of(recipes: tuple[Recipe, ...] = RECIPES) -> tuple[int, int]:
    """The smallest and the largest size any recipe trains at: the two the step is timed at."""
    every = [size for recipe in recipes for size in (*recipe.ladder, recipe.image_size)]
    return min(every), max(every)


def sized(
    config: Config, data: manifests.TrainingData, clock: Clock, echo: Callable[[str], None]
) -> Config:
    """``config`` with the sizes (``data.image_size``, ``data.ladder``) that its time budget
    allows on this machine (``recipes``), the config's own recorded as asked; where the
    command line set either, as it set them."""
    if overridden(config) & {"data.image_size", "data.ladder"}:
        echo("sizes: as --set gives them (data.sizes: auto chooses only what you leave to it)")
        return config
    policy, _ = devices.precision(config.training.mixed_precision)
    keras.mixed_precision.set_dtype_policy(policy)
    measured = step_seconds(config, sizes_of())
    seconds = config.training.budget_seconds
    choice = choose(
        seconds - clock.used() - budget.margin(seconds),
        pixel_cost(measured),
        len(data.train),
        config.data.batch_size,
        config.data.ladder_share,
    )
    echo(choice.line())
    asked = {"data.image_size": config.data.image_size, "data.ladder": config.data.ladder}
    plan = MeasuredPlan(
        asked=asked, sizes={r.text(): round(p, 2) for r, p in choice.passes.items()}
    )
    chosen = {"image_size": choice.recipe.image_size, "ladder": list(choice.recipe.ladder)}
    return config.model_copy(
        update={
            "data": config.data.model_copy(update=chosen),
            "training": config.training.model_copy(update={"plan": plan}),
        }
    )
