"""Where the time of one faltung training step goes: by phase, and by op within the phases.

A script, not a test: ``python benchmarks/profile.py --model {mlp,cnn,cifar,lstm} [--steps N]
[--rounds R]``. The models, data shapes, batch sizes, optimizers and losses are those of
``benchmarks/train.py`` (random data of the real shape).

Phases of a step, measured by running the steps by hand as ``Trainer.train_step`` does them,
with a clock around each phase and nothing else instrumented:

* forward: ``model(x, training=True)`` and ``compute_loss``;
* backward: ``loss.backward()``;
* optimizer: ``optimizer.apply_gradients``;
* metrics: the loss tracker and ``compute_metrics``;
* data: what ``model.fit`` spends beyond these (batching, shuffling, callbacks, logs): the time
  of ``fit`` over the same number of steps minus the hand-run steps.

Ops: a second, instrumented run of the same steps wraps every public function of the
``faltung.ops`` modules wherever faltung's modules and classes hold it (so ``ops.conv2d`` called
by a layer, ``Tensor.__add__``, the fused ops called through their module, the loss ops), and
times each call exclusive of the wrapped calls inside it; a call is named by the ``op`` of the
tensor it makes (the name its backward carries), else by the function's name (so a dispatcher
such as ``fused.fuse`` that returns the tensor of an op it called shows as itself). Backward times
per op come from ``faltung.tensor._backward_hook``, which times each node's backward function.
What the ops do not account for in a phase is shown as ``(layers/python)`` in forward (layer
calls, argument checks, the graph's bookkeeping) and ``(autodiff/python)`` in backward (graph
ordering, gradient sums). Op rows are that instrumented run's figures; the line at the end gives
its step time next to the clean one, so that the instrumentation's own cost is visible.
Timings are noisy on a busy machine: use several steps and rounds.
"""

from __future__ import annotations

import argparse
import functools
import importlib.util
import os
import sys
import time
import types
from collections import defaultdict
from typing import Any

PHASES = ("forward", "backward", "optimizer", "metrics")
REST = {"forward": "(layers/python)", "backward": "(autodiff/python)",
        "optimizer": "(optimizer/python)", "metrics": "(metrics/python)"}


def _load_train() -> Any:
    """benchmarks/train.py as a module (the benchmarks folder is not a package)."""
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "train.py")
    spec = importlib.util.spec_from_file_location("_benchmark_train", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class OpTimer:
    """Exclusive time and calls per op, per phase, while installed.

    ``install`` replaces every public function of the ``faltung.ops`` modules by a timing
    wrapper in every loaded faltung module's namespace and in every class defined there (plain
    functions and staticmethods); ``uninstall`` puts the originals back. Backward times come from
    ``faltung.tensor._backward_hook``.
    """

    def __init__(self) -> None:
        self.phase = "forward"
        self.seconds: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
        self.calls: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
        self._stack: list[list[Any]] = []  # per open wrapped call: [inner seconds, result]
        self._patched: list[tuple[Any, str, Any]] = []

    def _wrap(self, fn: types.FunctionType) -> Any:
        timer = self

        @functools.wraps(fn)
        def timed(*args: Any, **kwargs: Any) -> Any:
            stack = timer._stack
            frame: list[Any] = [0.0, None]  # seconds in wrapped calls inside, their last result
            stack.append(frame)
            start = time.perf_counter()
            try:
                result = fn(*args, **kwargs)
            finally:
                elapsed = time.perf_counter() - start
                stack.pop()
                if stack:
                    stack[-1][0] += elapsed
            if stack:
                stack[-1][1] = result
            # named by the op of the tensor it made; a call that passes on an argument or what
            # a wrapped call inside it made is named by its function
            op = getattr(result, "op", None)
            if (not isinstance(op, str) or op == "leaf" or result is frame[1]
                    or any(result is a for a in args)):
                op = fn.__name__.strip("_")
            inner = frame[0]
            timer.seconds[timer.phase][op] += elapsed - inner
            timer.calls[timer.phase][op] += 1
            return result

        timed.__wrapped_by_profile__ = True  # type: ignore[attr-defined]
        return timed

    def _backward(self, op: str, seconds: float) -> None:
        self.seconds["backward"][op] += seconds
        self.calls["backward"][op] += 1

    def install(self) -> None:
        from faltung import tensor

        modules = [m for name, m in sorted(sys.modules.items())
                   if (name == "faltung" or name.startswith("faltung."))
                   and isinstance(m, types.ModuleType)]
        def public_op_module(name: str) -> bool:
            return (name == "faltung.ops" or name.startswith("faltung.ops.")) \
                and not name.rsplit(".", 1)[1].startswith("_")

        # the ops package's own names are Keras's wrappers (faltung.ops._symbolic) of the ops
        targets: dict[int, Any] = {}
        for module in modules:
            if not public_op_module(module.__name__):
                continue
            for key, value in vars(module).items():
                if (isinstance(value, types.FunctionType) and not key.startswith("_")
                        and public_op_module(value.__module__ or "")
                        and id(value) not in targets):
                    targets[id(value)] = self._wrap(value)

        def patch(owner: Any, key: str, value: Any) -> None:
            if isinstance(value, staticmethod) and id(value.__func__) in targets:
                setattr(owner, key, staticmethod(targets[id(value.__func__)]))
            elif isinstance(value, types.FunctionType) and id(value) in targets:
                setattr(owner, key, targets[id(value)])
            else:
                return
            self._patched.append((owner, key, value))

        for module in modules:
            for key, value in list(vars(module).items()):
                patch(module, key, value)
                if isinstance(value, type) and value.__module__ == module.__name__:
                    for attribute, member in list(vars(value).items()):
                        patch(value, attribute, member)
        tensor._backward_hook = self._backward

    def uninstall(self) -> None:
        from faltung import tensor

        tensor._backward_hook = None
        for owner, key, value in reversed(self._patched):
            setattr(owner, key, value)
        self._patched.clear()


def train_step(model: Any, x: Any, y: Any, clock: dict[str, float],
               timer: OpTimer | None = None) -> None:
    """One step as ``Trainer.train_step``, adding each phase's seconds to ``clock``."""
    from faltung.tensor import enable_grad

    def phase(name: str) -> None:
        if timer is not None:
            timer.phase = name

    phase("forward")
    start = time.perf_counter()
    for variable in model.trainable_weights:
        variable.grad = None
    with enable_grad():
        y_pred = model(x, training=True)
        loss = model.compute_loss(x=x, y=y, y_pred=y_pred)
    t_forward = time.perf_counter()
    phase("backward")
    loss.backward()
    t_backward = time.perf_counter()
    phase("optimizer")
    pairs = [(v.grad, v) for v in model.trainable_weights if v.grad is not None]
    model.optimizer.apply_gradients(pairs)
    t_optimizer = time.perf_counter()
    phase("metrics")
    model._loss_tracker.update(loss, len(x))
    model.compute_metrics(x, y, y_pred, None)
    t_metrics = time.perf_counter()
    clock["forward"] += t_forward - start
    clock["backward"] += t_backward - t_forward
    clock["optimizer"] += t_optimizer - t_backward
    clock["metrics"] += t_metrics - t_optimizer


def profile(name: str, steps: int, rounds: int) -> None:
    train = _load_train()
    import faltung

    spec = train.MODELS[name]
    batch = spec.batch
    model = train.build_keras_like(faltung, name)
    x, y = train.data(name, steps * batch)
    model.fit(x[:batch * 2], y[:batch * 2], batch_size=batch, epochs=1, verbose=0)
    batches = [(x[i:i + batch], y[i:i + batch]) for i in range(0, steps * batch, batch)]
    train_step(model, *batches[0], defaultdict(float))  # warm-up of the hand-run step

    clean: dict[str, float] = defaultdict(float)
    instrumented: dict[str, float] = defaultdict(float)
    fit_seconds = 0.0
    timer = OpTimer()
    for _ in range(rounds):  # interleaved, so that a busy spell hits all three alike
        start = time.perf_counter()
        model.fit(x, y, batch_size=batch, epochs=1, verbose=0)
        fit_seconds += time.perf_counter() - start
        for xb, yb in batches:
            train_step(model, xb, yb, clean)
        timer.install()
        try:
            for xb, yb in batches:
                train_step(model, xb, yb, instrumented, timer)
        finally:
            timer.uninstall()

    count = steps * rounds
    ms = {p: 1000 * clean[p] / count for p in PHASES}
    ms_instrumented = {p: 1000 * instrumented[p] / count for p in PHASES}
    hand_step = sum(ms.values())
    fit_step = 1000 * fit_seconds / count
    ms["data"] = max(0.0, fit_step - hand_step)
    step = max(fit_step, hand_step)  # fit's step, or the hand-run one if a busy spell hit fit
    step_instrumented = sum(ms_instrumented.values())

    print(f"model {name} ({spec.builder}), batch {batch}, {spec.optimizer}, {spec.loss}; "
          f"{steps} steps x {rounds} rounds; CPU: {train.cpu_model()}, cores: {os.cpu_count()}")
    print(f"{'':34} {'ms/step':>9} {'% step':>7} {'calls/step':>10}")
    print(f"{'step (not instrumented)':34} {step:9.2f} {100.0:7.1f}")
    labels = {"forward": "forward (incl. loss)", "backward": "backward", "optimizer": "optimizer",
              "metrics": "metrics", "data": "data (fit overhead)"}
    for phase in sorted(ms, key=ms.get, reverse=True):
        extra = f"   [instrumented: {ms_instrumented[phase]:.2f}]" if phase in PHASES else ""
        print(f"{labels[phase]:34} {ms[phase]:9.2f} {100 * ms[phase] / step:7.1f}{'':11}{extra}")
        if phase not in PHASES:
            continue
        ops = {op: 1000 * s / count for op, s in timer.seconds[phase].items()}
        calls = {op: n / count for op, n in timer.calls[phase].items()}
        if not ops:
            continue
        ops[REST[phase]] = max(0.0, ms_instrumented[phase] - sum(ops.values()))
        for op in sorted(ops, key=ops.get, reverse=True):
            per_step = f"{calls[op]:10.1f}" if op in calls else ""
            print(f"  {op:32} {ops[op]:9.2f} {100 * ops[op] / step_instrumented:7.1f} "
                  f"{per_step}")
    print(f"\nhand-run step: {hand_step:.2f} ms clean, {step_instrumented:.2f} ms instrumented "
          f"({100 * (step_instrumented / hand_step - 1):+.0f} %: the op rows' % are of the "
          f"instrumented step); fit: {fit_step:.2f} ms per step")


def main() -> None:
    # this file's name shadows the standard library's ``profile`` for anything imported later
    here = os.path.dirname(os.path.abspath(__file__))
    sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != here]
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", required=True, choices=("mlp", "cnn", "cifar", "lstm"))
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    profile(args.model, args.steps, args.rounds)


if __name__ == "__main__":
    main()
