"""A first look at the engine: a network with two hidden relu layers learns two interleaved spirals.

Run ``python -m faltung.demo``. It builds the network from :mod:`faltung.ops` directly (the Keras
layers come on top of these ops), trains it with plain mini-batch gradient descent and prints the
accuracy on points it has not seen.
"""

from __future__ import annotations

import time

import numpy as np

from faltung import Tensor, no_grad, ops


def spirals(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Two spirals of ``n`` points each, with a little noise; labels 0 and 1."""
    t = np.sqrt(rng.random(n)) * 3 * np.pi
    arm = np.stack([t * np.cos(t), t * np.sin(t)], axis=1) / (3 * np.pi)
    x = np.concatenate([arm, -arm]) + rng.normal(0, 0.02, (2 * n, 2))
    y = np.concatenate([np.zeros(n, int), np.ones(n, int)])
    return x.astype(np.float32), y


def main(epochs: int = 200, seed: int = 0) -> float:
    rng = np.random.default_rng(seed)
    x, y = spirals(1000, rng)
    order = rng.permutation(len(x))
    x, y = x[order], y[order]
    x_train, y_train, x_test, y_test = x[:1600], y[:1600], x[1600:], y[1600:]

    def glorot(fan_in: int, fan_out: int) -> Tensor:
        limit = np.sqrt(6 / (fan_in + fan_out))
        return Tensor(rng.uniform(-limit, limit, (fan_in, fan_out)), requires_grad=True)

    params = [glorot(2, 64), Tensor(np.zeros(64), requires_grad=True),
              glorot(64, 64), Tensor(np.zeros(64), requires_grad=True),
              glorot(64, 2), Tensor(np.zeros(2), requires_grad=True)]

    def forward(batch: np.ndarray) -> Tensor:
        w1, b1, w2, b2, w3, b3 = params
        h = ops.relu(Tensor(batch) @ w1 + b1)
        h = ops.relu(h @ w2 + b2)
        return h @ w3 + b3

    start = time.perf_counter()
    learning_rate, batch_size = 0.1, 32
    for epoch in range(1, epochs + 1):
        order = rng.permutation(len(x_train))
        for i in range(0, len(order), batch_size):
            index = order[i:i + batch_size]
            loss = ops.sparse_softmax_cross_entropy(forward(x_train[index]), y_train[index]).mean()
            for p in params:
                p.grad = None
            loss.backward()
            for p in params:
                p.data -= learning_rate * p.grad
        if epoch % 50 == 0:
            print(f"epoch {epoch:4d}  loss {loss.item():.4f}")
    with no_grad():
        accuracy = float(np.mean(forward(x_test).data.argmax(axis=1) == y_test))
    print(f"test accuracy on {len(x_test)} unseen points: {accuracy:.1%} "
          f"({time.perf_counter() - start:.1f} s)")
    return accuracy


if __name__ == "__main__":
    main()
