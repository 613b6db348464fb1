"""What EarlyStopping and ReduceLROnPlateau share: which direction of a logged value is
better, and whether a value beats the best so far by at least ``min_delta``."""

from __future__ import annotations

import warnings


def direction(monitor: str, mode: str) -> str:
    """'min' or 'max'. With mode='auto', accuracies and AUC are maximised, the rest minimised
    (Keras's rule for the usual metric names)."""
    if mode not in ("auto", "min", "max"):
        raise ValueError(f"mode must be 'auto', 'min' or 'max', got {mode!r}")
    if mode != "auto":
        return mode
    name = monitor.removeprefix("val_")
    if name.endswith(("acc", "accuracy", "auc")) or name.startswith(("acc", "accuracy")):
        return "max"
    return "min"


def improves(current: float, reference: float | None, best_direction: str,
             min_delta: float) -> bool:
    if reference is None:
        return True
    if best_direction == "max":
        return current - abs(min_delta) > reference
    return current + abs(min_delta) < reference


def monitored(logs: dict | None, monitor: str, who: str) -> float | None:
    value = (logs or {}).get(monitor)
    if value is None:
        warnings.warn(f"{who} watches {monitor!r}, which is not in the logs; available: "
                      f"{', '.join(logs or {}) or 'none'}", stacklevel=3)
    return value
