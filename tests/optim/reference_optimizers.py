"""Independent float64 numpy re-implementations of Keras' optimizers and of Lookahead.

Written from the Keras 3 update rules and the Lookahead paper's Algorithm 1, not from our code,
so a test that compares the two catches a mistake in either.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

Arrays = list[np.ndarray]


class NumpySGD:
    def __init__(self, lr, momentum=0.0, nesterov=False, clipnorm=None, global_clipnorm=None):
        self.lr, self.momentum, self.nesterov = lr, momentum, nesterov
        self.clipnorm, self.global_clipnorm = clipnorm, global_clipnorm
        self.step = 0
        self.m: Arrays | None = None

    def learning_rate(self) -> float:
        return self.lr(self.step) if callable(self.lr) else self.lr

    def clip(self, grads: Arrays) -> Arrays:
        if self.clipnorm is not None:
            grads = [g * self.clipnorm / max(np.linalg.norm(g), self.clipnorm) for g in grads]
        if self.global_clipnorm is not None:
            norm = np.sqrt(sum(np.sum(g * g) for g in grads))
            grads = [g * self.global_clipnorm / max(norm, self.global_clipnorm) for g in grads]
        return grads

    def update(self, weights: Arrays, grads: Arrays) -> Arrays:
        grads = self.clip(grads)
        lr = self.learning_rate()
        if self.m is None:
            self.m = [np.zeros_like(w) for w in weights]
        out = []
        for i, (w, g) in enumerate(zip(weights, grads)):
            if self.momentum:
                self.m[i] = self.momentum * self.m[i] - lr * g
                step = self.momentum * self.m[i] - lr * g if self.nesterov else self.m[i]
                out.append(w + step)
            else:
                out.append(w - lr * g)
        self.step += 1
        return out


class NumpyAdam:
    def __init__(self, lr, beta_1=0.9, beta_2=0.999, epsilon=1e-7):
        self.lr, self.b1, self.b2, self.eps = lr, beta_1, beta_2, epsilon
        self.step = 0
        self.m: Arrays | None = None
        self.v: Arrays | None = None

    def update(self, weights: Arrays, grads: Arrays) -> Arrays:
        if self.m is None:
            self.m = [np.zeros_like(w) for w in weights]
            self.v = [np.zeros_like(w) for w in weights]
        t = self.step + 1
        alpha = self.lr * np.sqrt(1 - self.b2**t) / (1 - self.b1**t)
        out = []
        for i, (w, g) in enumerate(zip(weights, grads)):
            self.m[i] = self.m[i] + (g - self.m[i]) * (1 - self.b1)
            self.v[i] = self.v[i] + (g * g - self.v[i]) * (1 - self.b2)
            out.append(w - self.m[i] * alpha / (np.sqrt(self.v[i]) + self.eps))
        self.step += 1
        return out


def lookahead_trajectory(
    initial: Arrays,
    grad_fn: Callable[[Arrays], Arrays],
    inner,
    steps: int,
    k: int,
    alpha: float,
) -> tuple[Arrays, Arrays]:
    """Algorithm 1: returns (fast, slow) after `steps` inner steps."""
    fast = [np.array(w, dtype=np.float64) for w in initial]
    slow = [w.copy() for w in fast]
    for t in range(1, steps + 1):
        fast = inner.update(fast, grad_fn(fast))
        if t % k == 0:
            slow = [s + alpha * (f - s) for s, f in zip(slow, fast)]
            fast = [s.copy() for s in slow]
    return fast, slow


def plain_trajectory(initial: Arrays, grad_fn, inner, steps: int) -> Arrays:
    weights = [np.array(w, dtype=np.float64) for w in initial]
    for _ in range(steps):
        weights = inner.update(weights, grad_fn(weights))
    return weights
