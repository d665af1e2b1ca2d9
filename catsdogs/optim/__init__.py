"""Optimizers: our exact Keras 3 Lookahead and the callbacks that evaluate its slow weights."""

from catsdogs.optim.callbacks import SlowWeightsEvaluation
from catsdogs.optim.lookahead import Lookahead, find_lookahead

__all__ = ["Lookahead", "SlowWeightsEvaluation", "find_lookahead"]
