"""catsdogs: an end-to-end Kaggle Dogs vs. Cats trainer around an exact Lookahead optimizer."""

__version__ = "0.1.0"
