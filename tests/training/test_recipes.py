"""data.sizes: auto: the sizes a budget allows on this machine, from its measured step."""

from __future__ import annotations

import pytest
import yaml
from helpers import SMOKE

from catsdogs.config import asked_text, dump, load
from catsdogs.training import recipes
from catsdogs.training.budget import Clock
from catsdogs.training.recipes import MIN_PASSES, RECIPES, Recipe

IMAGES, BATCH, SHARE = 17_818, 32, 0.5


def machine(seconds_at_96: float):
    """A fake machine whose step costs grow with the pixels: ``seconds_at_96`` at 96 px."""
    return lambda size: seconds_at_96 * (size / 96) ** 2


def passes(recipe: Recipe, seconds: float, seconds_at) -> float:
    """By hand: a recipe's mean step (half the steps on its ladder, split evenly) and the
    passes over the training images that ``seconds`` of it make."""
    each = SHARE / len(recipe.ladder)
    mean = sum(each * seconds_at(s) for s in recipe.ladder) + (1 - SHARE) * seconds_at(
        recipe.image_size
    )
    for_steps = (seconds - recipes.START_UP_SECONDS) * 0.95  # the plan's 5% for validation
    return for_steps / mean * BATCH / IMAGES


def test_a_slow_machine_takes_the_small_recipe_and_a_fast_one_the_large():
    slow = recipes.choose(600, machine(5.0), IMAGES, BATCH, SHARE)
    fast = recipes.choose(600, machine(0.01), IMAGES, BATCH, SHARE)
    assert slow.recipe == RECIPES[0] and fast.recipe == RECIPES[-1]
    # Said as it is: the smallest because none makes enough passes (a probe at 1m read "the
    # largest recipe with at least 15" of a recipe making 0.0).
    assert f"(the smallest: none makes {MIN_PASSES:g} here; " in slow.line()
    assert f"(the largest recipe with at least {MIN_PASSES:g}; " in fast.line()
    for choice, speed in ((slow, 5.0), (fast, 0.01)):
        for recipe in RECIPES:
            assert choice.passes[recipe] == pytest.approx(passes(recipe, 600, machine(speed)))


def test_the_largest_recipe_with_enough_passes_is_chosen():
    # Seconds for the largest recipe to fall just short of MIN_PASSES on this machine.
    speed = machine(0.3)
    per_second = passes(RECIPES[-1], recipes.START_UP_SECONDS + 1, speed)
    seconds = recipes.START_UP_SECONDS + 0.95 * MIN_PASSES / per_second
    choice = recipes.choose(seconds, speed, IMAGES, BATCH, SHARE)
    assert choice.passes[RECIPES[-1]] < MIN_PASSES <= choice.passes[RECIPES[-2]]
    assert choice.recipe == RECIPES[-2]
    assert choice.line().startswith(f"sizes: {RECIPES[-2].text()}, ")
    assert f"the largest recipe with at least {MIN_PASSES:g}" in choice.line()


def test_a_step_s_cost_between_two_measured_sizes_grows_with_the_pixels():
    cost = recipes.pixel_cost({112: 0.5, 48: 0.1})
    assert cost(48) == pytest.approx(0.1) and cost(112) == pytest.approx(0.5)
    per_pixel = 0.4 / (112**2 - 48**2)
    assert cost(80) == pytest.approx(0.1 + per_pixel * (80**2 - 48**2))


def test_the_step_is_timed_at_each_size_asked():
    measured = recipes.step_seconds(load(SMOKE), (16, 32))
    assert set(measured) == {16, 32} and all(0 < s < 60 for s in measured.values())


def test_the_chosen_sizes_are_recorded_with_the_config_s_own(monkeypatch, tmp_path):
    monkeypatch.setattr(recipes, "step_seconds", lambda config, sizes: {40: 5.0, 96: 20.0})
    asked = load(SMOKE, ["data.sizes=auto", "training.time_budget=10m"])
    lines = []
    config = recipes.sized(
        asked, type("Data", (), {"train": [0] * IMAGES})(), Clock(), lines.append
    )
    # 5 s a step even at 40 px: no recipe makes enough passes in 10 minutes; the smallest.
    smallest = RECIPES[0]
    assert (config.data.image_size, config.data.ladder) == (smallest.image_size, [*smallest.ladder])
    assert lines == [
        recipes.choose(600 - 12, recipes.pixel_cost({40: 5.0, 96: 20.0}), IMAGES, 8, 0.5).line()
    ]
    plan = config.training.plan
    assert plan.asked == {"data.image_size": 32, "data.ladder": []} and plan.steps is None
    assert set(plan.sizes) == {recipe.text() for recipe in RECIPES}
    assert config.training.planned_by_budget  # the budget plans the steps later
    # The run's config.yaml compares equal to the command's config, as asked.
    assert asked_text(dump(config)) == yaml.safe_dump(yaml.safe_load(dump(asked)), sort_keys=False)


def test_sizes_given_on_the_command_line_are_kept():
    asked = load(SMOKE, ["data.sizes=auto", "training.time_budget=10m", "data.image_size=40"])
    lines = []
    assert recipes.sized(asked, None, Clock(), lines.append) is asked
    assert lines == [
        "sizes: as --set gives them (data.sizes: auto chooses only what you leave to it)"
    ]
