"""Optimizers: our exact Keras 3 Lookahead, the weights a model is judged by, the callback
that validates with them under ``fit``, and the registry that builds an optimizer from a config.

May import: the foundation modules (``catsdogs.errors``, ``config``; ``factory`` only, so that
``from catsdogs.optim import Lookahead`` needs neither TensorFlow nor pydantic).
"""

from catsdogs.optim.callbacks import SlowWeightsEvaluation
from catsdogs.optim.lookahead import Lookahead, find_lookahead, judged_weights

__all__ = ["Lookahead", "SlowWeightsEvaluation", "find_lookahead", "judged_weights"]
