"""catsdogs: an end-to-end Kaggle Dogs vs. Cats trainer built around an exact Lookahead optimizer."""

__version__ = "0.1.0"
