"""The size a trained model predicts at, chosen at the end of training on the validation set.

Training sees random crops resized to ``image_size``: an object fills more of the square than
in a whole image resized to the same size, so a model often scores better on whole images a
little larger than it trained on (Touvron et al. 2019, "Fixing the train-test resolution
discrepancy"). Where its head pools (it takes any size), the model is validated at 1, 7/6 and
4/3 of ``image_size`` and the size with the lowest validation loss of the best model (the one
that predicts) is recorded in the saved models; ``data.predict_size`` set to a number records
that one without measuring.
"""

from __future__ import annotations

from collections.abc import Callable

import keras

from catsdogs.config import Config
from catsdogs.data import manifests, pipeline
from catsdogs.model import classifier
from catsdogs.training.rundir import BEST, LAST, VAL_LOSS, RunDir
from catsdogs.training.trainer import Trainer

FACTORS = (1, 7 / 6, 4 / 3)


def candidates(config: Config) -> list[int]:
    """The sizes to try, multiples of 8 from ``image_size`` up (only it: nothing to choose)."""
    size = config.data.image_size
    if config.data.predict_size != "auto" or not classifier.any_size(config.model):
        return [size]
    return sorted({size, *(max(size, round(size * f / 8) * 8) for f in FACTORS)})


def extra_validations(config: Config) -> float:
    """What choosing costs, in validation passes at the training size (pixels grow as the
    square of the size; the images are decoded again)."""
    size = config.data.image_size
    return sum((s / size) ** 2 for s in candidates(config) if s != size) * 1.3


def choose(
    trainer: Trainer,
    data: manifests.TrainingData,
    best_val_loss: float,
    run: RunDir,
    echo: Callable[[str], None],
) -> dict:
    """Validate best.keras, the model that predicts, at each candidate size (at the training
    size: ``best_val_loss``, its epoch's), record the chosen one in best.keras and last.keras,
    and return what was measured (for metrics.json)."""
    config = trainer.config
    size = config.data.image_size
    chosen = size if config.data.predict_size == "auto" else config.data.predict_size
    losses: dict[int, float] = {}
    best = keras.models.load_model(run.path / BEST)
    if len(candidates(config)) > 1:
        weights = best.get_weights()
        for tried in candidates(config):
            other = config.data.model_copy(update={"image_size": tried})
            val = pipeline.dataset(data.val, other, False, config.seed)
            losses[tried] = (
                best_val_loss if tried == size else trainer.validate(val, weights).mean_loss
            )
        chosen = min(losses, key=losses.get)
        shown = ", ".join(f"{s} px {loss:.4f}" for s, loss in losses.items())
        echo(f"predicting at {chosen} px: the lowest validation loss of {shown}")
    if chosen != size:
        classifier.set_predict_size(trainer.model, chosen)
        with trainer.judged_weights():
            run.save_model(LAST, trainer.model)
        classifier.set_predict_size(best, chosen)
        run.save_model(BEST, best)
    return {"size": chosen, VAL_LOSS: {str(s): loss for s, loss in losses.items()}}
