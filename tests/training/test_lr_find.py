"""`catsdogs lr-find`: the range test's rules on made-up loss curves (no TensorFlow), then a
short real test on real images that writes only its figure and CSV."""

from __future__ import annotations

import math
import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from helpers import SMOKE, cli, real_data
from PIL import Image

from catsdogs.errors import UserError
from catsdogs.training import lr_range

# A made-up range test: flat at 0.7, falling by 0.5 around lr 1e-2 (a logistic in log10 lr,
# 3 per decade: 10% to 90% of the fall between these two rates), exploding above ~0.3.
STEEP_PART = (10 ** (-2 - math.log(9) / 3), 10 ** (-2 + math.log(9) / 3))  # 1.9e-3, 5.4e-2


def made_up_loss(noise: float = 0.0, seed: int = 0):
    rng = np.random.default_rng(seed)

    def loss(rate: float) -> float:
        x = math.log10(rate)
        fall = 0.5 / (1 + math.exp(-3 * (x + 2)))
        explosion = math.expm1(3 * (x + 0.5)) if x > -0.5 else 0.0
        return 0.7 - fall + explosion + noise * rng.standard_normal()

    return loss


def test_rates_rise_by_one_factor_from_start_to_end():
    rates = lr_range.rates(1e-7, 10.0, 9)  # 8 decades in 8 steps
    assert rates[0] == 1e-7 and rates[-1] == pytest.approx(10.0)
    assert [b / a for a, b in zip(rates, rates[1:])] == pytest.approx([10.0] * 8)


@pytest.mark.parametrize(
    ("start", "end", "steps", "message"),
    [
        (0.0, 1.0, 10, "--start-lr must be a number above 0"),
        (float("nan"), 1.0, 10, "--start-lr must be a number above 0"),
        (1e-3, 1e-3, 10, "--end-lr must be above --start-lr"),
        (1e-3, float("inf"), 10, "--end-lr must be above --start-lr"),
        (1e-7, 10.0, 2, "--steps must be at least 3"),
        # A probe: --steps 10000000 was accepted (an ETA of 118 hours).
        (1e-7, 10.0, 10_000_000, "--steps must be at most 10,000; got 10,000,000"),
    ],
)
def test_a_bad_range_is_one_user_error(start, end, steps, message):
    with pytest.raises(UserError, match=re.escape(message)):
        lr_range.rates(start, end, steps)


def test_the_smoothed_loss_is_the_bias_corrected_moving_average():
    curve = lr_range.run([1.0, 2.0, 3.0], {1.0: 1.0, 2.0: 2.0, 3.0: 3.0}.__getitem__)
    # Worked by hand: the mean of the losses so far, the one k steps back weighted 0.98^k.
    assert curve.smoothed == pytest.approx(
        [1.0, (0.98 * 1 + 2) / (0.98 + 1), (0.98**2 * 1 + 0.98 * 2 + 3) / (0.98**2 + 0.98 + 1)]
    )
    assert curve.smoothed == pytest.approx([1.0, 1.5050505, 2.0134675])
    assert curve.losses == [1.0, 2.0, 3.0] and curve.stopped is None


def test_the_test_stops_once_the_smoothed_loss_passes_4x_its_minimum():
    rates, asked = lr_range.rates(1e-7, 10.0, 100), []
    loss = made_up_loss()

    def step(rate: float) -> float:
        asked.append(rate)
        return loss(rate)

    curve = lr_range.run(rates, step)
    assert asked == curve.rates == rates[: len(curve)]  # no step after the stop
    assert 0.3 < curve.rates[-1] < 10.0  # in the explosion, before the last rate
    assert "passed 4x its minimum" in curve.stopped
    assert curve.smoothed[-1] > 4 * min(curve.smoothed)
    assert all(s <= 4 * min(curve.smoothed[: i + 1]) for i, s in enumerate(curve.smoothed[:-1]))


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_a_loss_that_is_not_finite_stops_the_test_unrecorded(bad):
    losses = iter([0.7, 0.6, 0.5, bad, 0.4])
    curve = lr_range.run([1e-3, 1e-2, 1e-1, 1.0, 10.0], lambda rate: next(losses))
    assert curve.rates == [1e-3, 1e-2, 1e-1] and curve.losses == [0.7, 0.6, 0.5]
    assert curve.stopped == f"the loss became {bad} at learning rate 1.0e+00"
    assert next(losses) == 0.4  # the step after was never taken


@pytest.mark.parametrize(
    ("steps", "noise", "seed"),
    [(100, 0.0, 0), (200, 0.0, 0), (100, 0.1, 1), (100, 0.1, 2), (200, 0.1, 3), (200, 0.1, 4)],
)
def test_the_suggestion_falls_in_the_steep_part(steps, noise, seed):
    curve = lr_range.run(lr_range.rates(1e-7, 10.0, steps), made_up_loss(noise, seed))
    suggestion = lr_range.suggest(curve)
    assert STEEP_PART[0] < suggestion.rate < STEEP_PART[1], suggestion
    assert suggestion.rate == min(suggestion.steepest, suggestion.minimum)
    assert suggestion.minimum == suggestion.lowest / 10
    # The lowest smoothed loss lies between the fall and the explosion, read after the
    # skipped first steps.
    read = curve.smoothed[lr_range.skipped(len(curve)) :]
    assert curve.smoothed[curve.rates.index(suggestion.lowest)] == min(read)
    assert suggestion.fall == pytest.approx(1 - min(read) / read[0])
    assert suggestion.unsound() is None
    # The line the command ends with names both readings and the one suggested.
    line = suggestion.line()
    shown = f"{suggestion.rate:.1e}"
    assert line.startswith(f"suggested learning rate: {shown} ({suggestion.rule}")
    assert line.endswith(f"--set optimizer.learning_rate={shown}")


def test_the_suggestion_holds_where_single_step_slopes_are_noise():
    # At the noise of a batch of 8 (0.2), the steepest single step after the first tenth
    # (fastai's "steep") is mostly the noise of an average of a few batches; the suggestion
    # (a half-decade slope, after the average's warm-up, or minimum/10) is not.
    single_step = suggested = 0
    for seed in range(20):
        curve = lr_range.run(lr_range.rates(1e-7, 10.0, 100), made_up_loss(0.2, seed))
        slopes = np.diff(curve.smoothed) / np.diff(np.log(curve.rates))
        fastai = curve.rates[int(np.argmin(slopes[10:])) + 10]
        single_step += STEEP_PART[0] < fastai < STEEP_PART[1]
        suggested += STEEP_PART[0] < lr_range.suggest(curve).rate < STEEP_PART[1]
    assert suggested == 20 and single_step <= 5


def test_a_loss_that_never_falls_reads_a_tenth_of_its_lowest_rate_and_suggests_nothing():
    rates = lr_range.rates(1e-5, 1.0, 40)
    curve = lr_range.run(rates, lambda rate: 0.7 + rate)
    suggestion = lr_range.suggest(curve)
    first = lr_range.skipped(40)
    assert suggestion.steepest is None and suggestion.lowest == rates[first]
    assert suggestion.rate == suggestion.minimum == rates[first] / 10
    assert suggestion.rule == "minimum/10"
    # A curve that never fell below a guess shows no rate: no suggestion is printed.
    assert suggestion.line().startswith(
        "no suggested learning rate: the smoothed loss never went below 0.693 (ln 2"
    )
    assert "--set optimizer.learning_rate" not in suggestion.line()


def test_a_curve_that_falls_little_suggests_nothing():
    # Below a guess's ln 2 = 0.693 throughout, falling from 0.5 toward 0.48 around lr 1e-2.
    curve = lr_range.run(
        lr_range.rates(1e-5, 1.0, 60), lambda rate: 0.5 - 0.02 / (1 + (1e-2 / rate) ** 3)
    )
    suggestion = lr_range.suggest(curve)
    assert 0.01 < suggestion.fall < lr_range.WEAK and suggestion.least < lr_range.GUESS
    assert suggestion.line().startswith(
        f"no suggested learning rate: the smoothed loss fell only {suggestion.fall:.0%}"
    )


def test_too_short_a_curve_is_one_user_error():
    losses = iter([0.7, 0.6, float("nan")])
    curve = lr_range.run([1e-3, 1e-2, 1e-1], lambda rate: next(losses))
    with pytest.raises(UserError, match="ended after 2 step.*nan.*too few to suggest"):
        lr_range.suggest(curve)


# --- real steps ---------------------------------------------------------------------------

SUGGESTED = re.compile(r"suggested learning rate: (\S+) \(.*--set optimizer\.learning_rate=(\S+)")


def _tree(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def test_lr_find_on_real_images_writes_its_curve_and_nothing_else(
    shared_data, tmp_path, monkeypatch
):
    data = real_data(shared_data, tmp_path / "data", train=24, val=8, verified=False)
    config = Path(shutil.copy(SMOKE, tmp_path / "smoke.yaml"))
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    before = _tree(tmp_path)
    # A schedule in the config (cosine, with warm-up) must not touch the rising rate.
    done = cli(
        "lr-find",
        "--config",
        config,
        "--data",
        data,
        "--steps",
        20,
        "--start-lr",
        1e-5,
        "--end-lr",
        1.0,
        "--out",
        tmp_path / "out" / "lr.png",
        "--set",
        "optimizer.schedule.name=cosine",
        "--set",
        "optimizer.schedule.warmup_epochs=1",
    )
    assert done.exit_code == 0, done.output
    assert "Lookahead(SGD, k=3, alpha=0.5)" in done.output
    curve = pd.read_csv(tmp_path / "out" / "lr.csv")
    assert list(curve.columns) == ["step", "learning_rate", "loss", "smoothed_loss"]
    assert 3 <= len(curve) <= 20 and curve.step.tolist() == list(range(1, len(curve) + 1))
    assert curve.learning_rate[0] == pytest.approx(1e-5)
    factor = (1.0 / 1e-5) ** (1 / 19)
    assert (curve.learning_rate[1:].values / curve.learning_rate[:-1].values) == pytest.approx(
        [factor] * (len(curve) - 1), rel=1e-4
    )
    assert np.isfinite(curve.loss).all() and (curve.loss > 0).all()
    suggested = SUGGESTED.findall(done.output)  # 20 steps of a smoke model may learn nothing
    if suggested:
        [(shown, to_set)] = suggested
        assert shown == to_set and 1e-5 <= float(shown) <= 1.0
    else:
        assert "no suggested learning rate: " in done.output
    with Image.open(tmp_path / "out" / "lr.png") as figure:
        figure.verify()
        assert figure.format == "PNG" and figure.size == (1100, 550)
    # Nothing written but the figure and its CSV: no run directory, data and config as they were.
    after = _tree(tmp_path)
    assert sorted(set(after) - set(before)) == ["out/lr.csv", "out/lr.png"]
    assert all(after[name] == content for name, content in before.items())
    assert not list(work.iterdir())


def test_the_rate_is_the_inner_optimizers_and_lookahead_still_syncs(shared_data, tmp_path):
    import keras

    from catsdogs.config import load
    from catsdogs.data import manifests
    from catsdogs.optim import find_lookahead
    from catsdogs.training.lr_find import range_test, range_test_config
    from catsdogs.training.trainer import Trainer

    data = manifests.read_training_data(real_data(shared_data, tmp_path / "data"), print)
    config = load(SMOKE, ["optimizer.schedule.name=linear", "optimizer.lookahead.sync_period=3"])
    trainer = Trainer(range_test_config(config, 1e-4), data)
    lookahead = find_lookahead(trainer.optimizer)
    curve = range_test(trainer, [1e-4, 1e-3, 1e-2])
    assert len(curve) == 3
    assert float(lookahead.inner_optimizer.learning_rate) == pytest.approx(1e-2)
    assert int(trainer.optimizer.iterations) == 3
    # After the 3rd step Lookahead synced: the fast weights are the slow ones.
    for fast, slow in zip(trainer.model.trainable_variables, lookahead.slow_variables):
        np.testing.assert_array_equal(*map(keras.ops.convert_to_numpy, (fast, slow)))


def test_a_reading_among_the_first_steps_rates_is_not_suggested():
    # A probe: 40 steps suggested 1.9e-05, 100x below the recipe's rate, a rate the figure
    # drew inside its grey "not read" area. Here the loss falls at 3e-6 and diverges at 2e-5:
    # the test stops after 10 steps, and a tenth of the minimum's rate lies below the rates read.
    rates = lr_range.rates(1e-6, 1.0, 40)
    curve = lr_range.run(rates, lambda rate: 0.6 - 0.25 * (rate > 3e-6) + 20.0 * (rate > 2e-5))
    suggestion = lr_range.suggest(curve)
    assert suggestion.fall > lr_range.WEAK and suggestion.least < lr_range.GUESS
    first = lr_range.skipped(len(curve))
    assert suggestion.rate < suggestion.first_read == rates[first]
    assert suggestion.line().startswith("no suggested learning rate: the reading (")


def test_a_curve_that_suggests_nothing_marks_no_rate_in_its_figure(tmp_path, monkeypatch):
    from catsdogs.training import lr_find

    curve = lr_range.run(lr_range.rates(1e-5, 1.0, 40), lambda rate: 0.7 + rate)
    suggestion = lr_range.suggest(curve)
    assert suggestion.unsound()
    drawn = []
    monkeypatch.setattr(lr_find.plots, "save", lambda figure, path, kind: drawn.append(figure))
    lr_find.draw(curve, suggestion, "title", tmp_path / "lr.png")
    [axis] = drawn[0].axes
    labels = [line.get_label() for line in axis.lines]
    assert not [label for label in labels if "minimum/10" in label or "steepest" in label]
    assert "no suggested rate: the smoothed loss never went below" in axis.get_title()


def test_lr_find_and_show_batch_keep_a_file_they_did_not_write(tmp_path):
    # A probe: `lr-find --out out/sub.png` wrote its curve over out/sub.csv (a recorded
    # submission), and lr-find and show-batch drew over a photo that had their figure's name.
    photo, submission = tmp_path / "photo.png", tmp_path / "sub.csv"
    Image.new("RGB", (8, 8), "red").save(photo)
    submission.write_text("id,label\n1,0.5\n")
    kept = {path: path.read_bytes() for path in (photo, submission)}
    refused = "is a file that is not {}: give another name; nothing was written\n"
    for command in ("lr-find", "show-batch"):
        done = cli(command, "--config", SMOKE, "--out", photo)
        assert done.exit_code == 1
        assert done.output == f"error: --out {photo} " + refused.format(f"a figure {command} drew")
    done = cli("lr-find", "--config", SMOKE, "--out", tmp_path / "sub.png")
    assert done.exit_code == 1
    assert done.output == (
        f"error: the curve's CSV {submission} " + refused.format("an lr-find curve")
    )
    assert {path: path.read_bytes() for path in kept} == kept
    assert not (tmp_path / "sub.png").exists()
    # Its own earlier figure and curve are replaced.
    from catsdogs import plots
    from catsdogs.training import lr_find

    for name, kind in (("lr.png", "lr-find"), ("curves.png", "figure")):
        figure, axis = plots.figure()
        axis.plot([1, 2])
        plots.save(figure, tmp_path / name, kind)
    curve = lr_range.Curve([1e-3, 1e-2], [0.7, 0.6], [0.7, 0.65], None)
    lr_find.write_csv(curve, tmp_path / "lr.csv")
    assert lr_find._outputs(tmp_path / "lr.png") == tmp_path / "lr.csv"
    # Another command's figure (a probe: show-batch --out lr.png, lr-find --out RUN/curves.png,
    # a run's figure) is not theirs either.
    for command, name, drew in (
        ("show-batch", "lr.png", "show-batch"),
        ("lr-find", "curves.png", "lr-find"),
    ):
        done = cli(command, "--config", SMOKE, "--out", tmp_path / name)
        assert done.output == f"error: --out {tmp_path / name} " + refused.format(
            f"a figure {drew} drew"
        )
