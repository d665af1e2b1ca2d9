"""`catsdogs lr-find`: the learning-rate range test (Smith 2017, as fastai's ``lr_find``) on a
config's model, optimizer (Lookahead included) and data: a training step at each of 200
(``--steps``) exponentially rising rates until the loss diverges, the loss curve as a PNG
with a CSV beside it, and a suggested rate.

It trains a fresh model that is thrown away: nothing goes into a run directory, and the only
files written are ``--out`` and its CSV. The rate is set on the optimizer before every step
(through Lookahead and Keras' loss-scale wrapper to the inner optimizer, which does the
update), so the config's own rate and schedule are replaced for the test; Lookahead still
syncs its slow weights every k steps, as training will.
"""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from catsdogs import files, outputs, plots, printing, progress
from catsdogs.config import Config, ScheduleConfig
from catsdogs.paths import LR_FIND
from catsdogs.training import lr_range
from catsdogs.training.lr_range import Curve, Suggestion

if TYPE_CHECKING:  # TensorFlow loads after the arguments are checked
    from catsdogs.training.trainer import Trainer


def range_test_config(config: Config, start: float) -> Config:
    """The config as the test trains it: a plain rate (no schedule: the test sets the rate
    every step) and images decoded as they come (the test is shorter than the pass over the
    data that a cache must first fill)."""
    optimizer = config.optimizer.model_copy(
        update={"learning_rate": start, "schedule": ScheduleConfig()}
    )
    data = config.data.model_copy(update={"cache": "off"})
    return config.model_copy(update={"optimizer": optimizer, "data": data})


def optimizer_name(optimizer) -> str:
    """``Lookahead(SGD, k=5, alpha=0.5)``, ``Adam``: the optimizer that trains, as a reader
    of a figure wants it (Keras' loss-scale wrapper left out)."""
    from catsdogs.optim import find_lookahead

    lookahead = find_lookahead(optimizer)
    if lookahead is not None:
        inner = type(lookahead.inner_optimizer).__name__
        return f"Lookahead({inner}, k={lookahead.sync_period}, alpha={lookahead.slow_step_size:g})"
    return type(getattr(optimizer, "inner_optimizer", optimizer)).__name__


def range_test(trainer: Trainer, learning_rates: list[float]) -> Curve:
    """One training step of ``trainer`` at each rate, under a progress bar, until the loss
    diverges (see ``lr_range.run``)."""
    with progress.bar(total=len(learning_rates), desc="lr-find", unit="step", leave=False) as bar:

        def step(rate: float) -> float:
            trainer.learning_rate = rate
            [[sums]] = list(trainer.train_steps(1))
            bar.update(1)
            bar.set_postfix(lr=f"{rate:.1e}", loss=f"{sums.mean_loss:.4f}")
            return sums.mean_loss

        return lr_range.run(learning_rates, step)


COLUMNS = ("step", "learning_rate", "loss", "smoothed_loss")
KIND = "lr-find"  # its figure's mark: what --out may replace


def write_csv(curve: Curve, path: Path) -> None:
    """step, learning_rate, loss, smoothed_loss: one row a step."""
    columns = (range(1, len(curve) + 1), curve.rates, curve.losses, curve.smoothed)
    frame = pd.DataFrame(dict(zip(COLUMNS, columns)))
    files.write_text(path, frame.to_csv(index=False, float_format="%.6g"))


def draw(curve: Curve, suggestion: Suggestion, title: str, path: Path) -> None:
    """The loss against the rate (log scale): each step's loss faint, the smoothed loss
    bold, the minimum, minimum/10 and the steepest descent marked, the suggested one in red."""
    figure, axis = plots.figure(figsize=(11, 5.5))
    axis.plot(curve.rates, curve.losses, color="tab:blue", alpha=0.25, lw=1, label="loss per step")
    axis.plot(curve.rates, curve.smoothed, color="tab:blue", lw=2, label="smoothed loss")
    at = dict(zip(curve.rates, curve.smoothed))
    axis.plot(
        suggestion.lowest,
        at[suggestion.lowest],
        "v",
        color="black",
        ms=8,
        label=f"minimum: {suggestion.lowest:.1e}",
    )
    first = lr_range.skipped(len(curve))
    axis.axvspan(
        curve.rates[0],
        curve.rates[first],
        color="grey",
        alpha=0.12,
        lw=0,
        label="not read: the average of the first steps",
    )
    sound = suggestion.unsound() is None  # no reading is marked where the curve shows none
    marks = [("minimum/10", suggestion.minimum, ":")] if sound else []
    if sound and suggestion.steepest is not None:
        marks.append(("steepest descent", suggestion.steepest, "--"))
    for rule, rate, style in marks:
        chosen = sound and rule == suggestion.rule
        axis.axvline(
            rate,
            color="tab:red" if chosen else "grey",
            ls=style,
            lw=2 if chosen else 1.5,
            label=f"{rule}: {rate:.1e}" + (" (suggested)" if chosen else ""),
        )
    if sound and suggestion.rate in at:  # the steepest descent lies on the curve
        axis.plot(suggestion.rate, at[suggestion.rate], "o", color="tab:red", ms=8)
    # The frame: from the smoothed loss's minimum to where it started, with room above for
    # the start of the divergence; single steps and the rest of the divergence are cut off.
    before = curve.smoothed[: curve.rates.index(suggestion.lowest) + 1]
    low, start = min(before), max(before)
    span = (start - low) or 0.1 * abs(low) or 0.1
    bottom, top = low - 0.4 * span, start + 1.2 * span
    axis.set_ylim(bottom, top)
    if bottom < lr_range.GUESS < top:
        axis.axhline(
            lr_range.GUESS, color="black", lw=1, alpha=0.5, label="ln 2: answering 0.5 for all"
        )
    axis.set_xscale("log")
    axis.set_xlabel("learning rate (log scale)")
    axis.set_ylabel("training loss (binary cross-entropy)")
    if not sound:
        title += "\n" + textwrap.fill(f"no suggested rate: {suggestion.unsound()}", 120)
    axis.set_title(title, fontsize=10)
    axis.grid(alpha=0.3)
    axis.grid(alpha=0.1, which="minor")
    axis.legend(loc="upper left", bbox_to_anchor=(1.01, 1), fontsize=9)
    plots.save(figure, path, KIND)


def _outputs(out: Path) -> Path:
    """The CSV beside ``out``; both checked writable, and to be either new or this command's
    own earlier figure and curve, before the work."""
    table = out.with_suffix(".csv")
    figure = (outputs.drawn_as(KIND), "a figure lr-find drew")
    outputs.check_file(out, "--out", ".png", figure)
    curve = (outputs.has_header(COLUMNS), "an lr-find curve")
    outputs.check_file(table, "the curve's CSV", ours=curve)
    return table


def lr_find(
    config: Config,
    data_dir: Path | None = None,
    out: Path = LR_FIND,
    start: float = lr_range.START,
    end: float = lr_range.END,
    steps: int = lr_range.STEPS,
    echo: Callable[[str], None] = print,
    config_file: Path | None = None,
) -> Suggestion:
    """Run the range test of ``config`` (read from ``config_file``) on the manifests in
    ``data_dir`` (default: the config's ``data.dir``), write the figure to ``out`` and the
    curve to ``out`` with a .csv suffix, print the suggestion and return it. Neither may be
    one of its inputs: the config file, the data's manifests, their images."""
    learning_rates = lr_range.rates(start, end, steps)
    table = _outputs(out)
    from catsdogs.data import manifests
    from catsdogs.training import devices
    from catsdogs.training.train import with_data
    from catsdogs.training.trainer import Trainer

    folder = data_dir or config.data.dir
    written = [(out, "--out"), (table, "the curve's CSV")]
    config_input = [] if config_file is None else [(config_file, "the config")]
    outputs.check_not_input(written, [*config_input, *manifests.set_files(folder)])
    strategy = devices.strategy()
    data = manifests.read_training_data(folder, echo)
    outputs.check_not_input(written, data.images())
    config = range_test_config(with_data(config, data), start)
    trainer = Trainer(config, data, strategy)
    trainer.head_only(config.model.warmup_epochs)  # every layer trains, as after a warm-up
    name = optimizer_name(trainer.optimizer)
    echo(
        f"range test: {steps} steps at learning rates {start:.1e} to {end:.1e}, {name}, "
        f"{config.model.backbone} at {config.data.image_size} px, batch {config.data.batch_size}"
    )
    echo(
        f"devices: {devices.describe(trainer.strategy)}; mixed precision "
        f"{trainer.compute_dtype if trainer.mixed else 'off'}, XLA "
        f"{'on' if trainer.jit else 'off'}"
    )
    curve = range_test(trainer, learning_rates)
    if curve.stopped:
        echo(f"stopped after {len(curve)} of {steps} steps: {curve.stopped}")
    suggestion = lr_range.suggest(curve)
    write_csv(curve, table)
    title = (
        f"lr-find: {config.name}, {name}, {config.model.backbone} {config.data.image_size} px, "
        f"batch {config.data.batch_size}\n{len(curve)} steps from {start:.1e}"
        + (f"; stopped: {curve.stopped}" if curve.stopped else f" to {end:.1e}")
    )
    draw(curve, suggestion, title, out)
    echo(f"wrote {printing.printable(out)} and {printing.printable(table)}")
    echo(suggestion.line())
    return suggestion
