"""The report a lab leaves behind: DIR/NAME/ with summary.txt, history.csv, metrics.json,
learning_curves.png, confusion_matrix.png (classifiers), samples.png, the saved model and a
report.html that shows all of it on one page.

The plotting functions return matplotlib ``Figure`` objects (no pyplot, no global state), so the
tests can check their axes; matplotlib is imported only here, when a report is made. Every file
is written to a temporary name first and moved into place, so an interrupted run never leaves a
half-written file.
"""

from __future__ import annotations

import csv
import html
import io
import json
import math
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

# colours of the runs in overlaid curves (matplotlib's tab10, colour-blind friendly enough)
_COLOURS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2",
            "#7f7f7f", "#bcbd22", "#17becf")


def _figure_class() -> Any:
    try:
        from matplotlib.figure import Figure
    except ImportError as exc:
        raise ImportError("the lab reports plot with matplotlib: pip install 'faltung[lab]' "
                          "(or pip install matplotlib)") from exc
    return Figure


@dataclass
class Section:
    """A block of the report: a heading, paragraphs, optionally a table and/or an image file."""

    heading: str
    text: list[str] = field(default_factory=list)
    table: tuple[list[str], list[list[Any]]] | None = None
    image: str | None = None
    pre: str | None = None


@dataclass
class Samples:
    """The first test samples with their true and predicted labels (images or table rows)."""

    x: np.ndarray
    y_true: np.ndarray
    y_pred: np.ndarray
    class_names: Sequence[str] | None = None
    columns: Sequence[str] | None = None  # for tabular data: feature names


@dataclass
class Report:
    """Everything a lab found out; :meth:`write` turns it into files."""

    name: str
    title: str
    description: str
    settings: dict[str, Any] = field(default_factory=dict)
    summaries: list[tuple[str, str]] = field(default_factory=list)
    histories: dict[str, dict[str, list[float]]] = field(default_factory=dict)
    test: dict[str, dict[str, float]] = field(default_factory=dict)
    headline: list[tuple[str, str]] = field(default_factory=list)
    class_names: Sequence[str] | None = None
    confusion: np.ndarray | None = None
    per_class: dict[str, dict[str, float] | float] | None = None
    samples: Samples | None = None
    sections: list[Section] = field(default_factory=list)
    figures: dict[str, Any] = field(default_factory=dict)
    extra_metrics: dict[str, Any] = field(default_factory=dict)
    model: Any = None

    @property
    def is_classifier(self) -> bool:
        return self.confusion is not None

    def write(self, out: str | os.PathLike) -> Path:
        """Write DIR/NAME/ and return that folder."""
        return write_report(self, out)


# -- atomic files -------------------------------------------------------------------------------

def _atomic_write(path: Path, data: bytes) -> None:
    """Write ``data`` at ``path`` atomically, with the usual permissions (0644 under a default
    umask; mkstemp alone would leave 0600)."""
    from faltung.saving.atomic import atomic_path
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        f.write(data)


def _save_figure(figure: Any, path: Path) -> None:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=figure.dpi)
    _atomic_write(path, buffer.getvalue())


def save_model(model: Any, path: Path) -> bool:
    """Save ``model`` atomically at ``path``; False when this faltung cannot save models yet."""
    # TODO(model saving): Model.save('x.keras') is being added by another engineer. Until it
    # lands the report is written without the model file; once Model.save exists this works as
    # is (and report.html links the file).
    if model is None or not hasattr(model, "save"):
        return False
    model.save(path)  # atomic itself, with the usual permissions
    return True


# -- plots --------------------------------------------------------------------------------------

def _metric_pairs(histories: dict[str, dict[str, list[float]]]) -> list[str]:
    """The quantities to plot: loss first, then the other training metrics (accuracy, mae)."""
    keys: list[str] = []
    for history in histories.values():
        for key in history:
            if not key.startswith("val_") and key not in keys and key != "learning_rate":
                keys.append(key)
    keys.sort(key=lambda k: (k != "loss", k))
    return keys[:3]


def plot_learning_curves(histories: dict[str, dict[str, list[float]]],
                         title: str = "") -> Any:
    """Training (solid) against validation (dashed) per epoch: one panel for the loss and one
    per metric (accuracy, mae), every run in its own colour; a log scale where the values span
    more than 1.5 decades."""
    Figure = _figure_class()
    from matplotlib.lines import Line2D
    from matplotlib.ticker import MaxNLocator
    keys = _metric_pairs(histories) or ["loss"]
    several = len(histories) > 1
    columns = min(len(histories), 3)
    legend_rows = math.ceil((len(histories) + 2) / (columns + 1)) if several else 0
    figure = Figure(figsize=(5.2 * len(keys), 4.0 + 0.25 * legend_rows), dpi=100,
                    layout="constrained")
    axes = figure.subplots(1, len(keys), squeeze=False)[0]
    for ax, key in zip(axes, keys):
        values_seen: list[float] = []
        for i, (run, history) in enumerate(histories.items()):
            colour = _COLOURS[i % len(_COLOURS)]
            for prefix, style, what in (("", "-", "training"), ("val_", "--", "validation")):
                values = history.get(prefix + key)
                if not values:
                    continue
                values_seen += [v for v in values if math.isfinite(v)]
                epochs = np.arange(1, len(values) + 1)
                ax.plot(epochs, values, style, color=colour, label=f"{run}: {what}",
                        marker="o" if len(values) <= 30 else None, markersize=3)
        positive = [v for v in values_seen if v > 0]
        if positive and len(positive) == len(values_seen) and \
                max(positive) / min(positive) > 10 ** 1.5:
            ax.set_yscale("log")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_xlabel("epoch")
        ax.set_ylabel(key)
        ax.set_title(key)
        ax.grid(True, alpha=0.3)
        if not several and ax.get_legend_handles_labels()[0]:
            ax.legend(["training", "validation"][:len(ax.lines)], fontsize=9)
    if several:
        handles = [Line2D([], [], color=_COLOURS[i % len(_COLOURS)], lw=2, label=run)
                   for i, run in enumerate(histories)]
        handles += [Line2D([], [], color="black", ls="-", label="training"),
                    Line2D([], [], color="black", ls="--", label="validation")]
        figure.legend(handles=handles, loc="outside lower center", ncol=columns + 1,
                      fontsize=8, frameon=False)
    if title:
        figure.suptitle(title)
    return figure


def plot_confusion_matrix(cm: np.ndarray, class_names: Sequence[str] | None = None,
                          title: str = "Confusion matrix (test set)") -> Any:
    """Counts of true (rows) against predicted (columns) classes; numbers written in the cells
    when there are at most 20 classes."""
    Figure = _figure_class()
    cm = np.asarray(cm)
    n = len(cm)
    names = list(class_names) if class_names is not None else [str(i) for i in range(n)]
    size = 5.5 if n <= 10 else (8.5 if n <= 20 else 12.0)
    figure = Figure(figsize=(size + 1.2, size), dpi=100, layout="constrained")
    ax = figure.subplots()
    image = ax.imshow(cm, cmap="Blues", interpolation="nearest")
    figure.colorbar(image, ax=ax, shrink=0.8, label="test samples")
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    ax.set_title(title)
    if n <= 20:
        ax.set_xticks(range(n), names, rotation=60, ha="right", fontsize=8)
        ax.set_yticks(range(n), names, fontsize=8)
        threshold = cm.max() / 2 if cm.size else 0
        for i in range(n):
            for j in range(n):
                if cm[i, j]:
                    ax.text(j, i, str(cm[i, j]), ha="center", va="center", fontsize=7,
                            color="white" if cm[i, j] > threshold else "black")
    else:
        ticks = range(0, n, max(1, n // 20))
        ax.set_xticks(list(ticks), [names[t] for t in ticks], rotation=90, fontsize=6)
        ax.set_yticks(list(ticks), [names[t] for t in ticks], fontsize=6)
    return figure


def plot_samples(samples: Samples, count: int = 16) -> Any:
    """The first test images with their true and predicted labels (green: right, red: wrong);
    for tabular data a table of the first rows with target and prediction."""
    Figure = _figure_class()
    x = np.asarray(samples.x)[:count]
    names = samples.class_names

    def label(value: Any) -> str:
        if names is not None:
            return str(names[int(value)])
        if isinstance(value, (float, np.floating)):
            return f"{value:.3g}"
        return str(value)

    if x.ndim >= 3:
        n = len(x)
        cols = min(8, n)
        rows = max(1, math.ceil(n / cols))
        figure = Figure(figsize=(1.6 * cols, 1.9 * rows), dpi=100, layout="constrained")
        axes = figure.subplots(rows, cols, squeeze=False)
        for k, ax in enumerate(axes.flat):
            ax.set_axis_off()
            if k >= n:
                continue
            image = x[k]
            if image.ndim == 3 and image.shape[-1] == 1:
                image = image[..., 0]
            image = image.astype(np.float64)
            low, high = image.min(), image.max()
            image = (image - low) / (high - low) if high > low else image * 0
            ax.imshow(image, cmap="gray_r" if image.ndim == 2 else None)
            right = int(samples.y_true[k]) == int(samples.y_pred[k])
            ax.set_title(f"true: {label(samples.y_true[k])}\npred: {label(samples.y_pred[k])}",
                         fontsize=8, color="#1a7f37" if right else "#cf222e")
        figure.suptitle("First test samples: true and predicted label")
        return figure
    columns = list(samples.columns or [f"x{i}" for i in range(x.shape[1])])
    header = columns + ["true", "predicted"]
    cells = [[f"{v:.3g}" for v in row] + [label(t), label(p)]
             for row, t, p in zip(x.reshape(len(x), -1), samples.y_true[:count],
                                  samples.y_pred[:count])]
    figure = Figure(figsize=(max(6.0, 0.75 * len(header)), 0.7 + 0.28 * (len(cells) + 1)),
                    dpi=100, layout="constrained")
    ax = figure.subplots()
    ax.set_axis_off()
    table = ax.table(cellText=cells, colLabels=header, cellLoc="center", bbox=[0, 0, 1, 1])
    table.auto_set_font_size(False)
    table.set_fontsize(8)
    ax.set_title("First test samples: target and prediction")
    return figure


# -- writing ------------------------------------------------------------------------------------

def history_rows(histories: dict[str, dict[str, list[float]]]) -> tuple[list[str], list[list]]:
    """CSV header and rows: ``run, epoch`` then every logged quantity (empty where a run lacks
    it)."""
    keys: list[str] = []
    for history in histories.values():
        for key in history:
            if key not in keys:
                keys.append(key)
    keys.sort(key=lambda k: (k.startswith("val_"), k != "loss", k))
    header = ["run", "epoch"] + keys
    rows = []
    for run, history in histories.items():
        length = max((len(v) for v in history.values()), default=0)
        for epoch in range(length):
            row: list[Any] = [run, epoch + 1]
            for key in keys:
                values = history.get(key, [])
                row.append(repr(float(values[epoch])) if epoch < len(values) else "")
            rows.append(row)
    return header, rows


def _json_ready(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _json_ready(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_ready(v) for v in value]
    if isinstance(value, np.ndarray):
        return _json_ready(value.tolist())
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, (float, np.floating)):
        value = float(value)
        return value if math.isfinite(value) else None
    return value


def metrics_document(report: Report) -> dict[str, Any]:
    """What metrics.json holds: settings, test figures per run, per-class scores, extras."""
    document: dict[str, Any] = {"lab": report.name, "title": report.title,
                                "settings": report.settings, "test": report.test}
    if report.per_class is not None:
        document["per_class"] = report.per_class
    if report.confusion is not None:
        document["confusion_matrix"] = np.asarray(report.confusion).tolist()
        if report.class_names is not None:
            document["class_names"] = list(report.class_names)
    document.update(report.extra_metrics)
    return _json_ready(document)


def summary_text(report: Report) -> str:
    """The plain-text version of the report (summary.txt)."""
    lines = [report.title, "=" * len(report.title), "", report.description, ""]
    if report.settings:
        lines += ["Settings: " + ", ".join(f"{k}={v}" for k, v in report.settings.items()), ""]
    for label, text in report.summaries:
        lines += [f"-- {label}", text, ""]
    if report.test:
        lines.append("Test figures")
        for run, values in report.test.items():
            lines.append(f"  {run}: " + ", ".join(f"{k} {_fmt(v)}" for k, v in values.items()))
        lines.append("")
    for section in report.sections:
        lines += [section.heading, "-" * len(section.heading)]
        lines += section.text
        if section.table is not None:
            header, rows = section.table
            lines.append(_text_table(header, rows))
        if section.pre:
            lines.append(section.pre)
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"


def _fmt(value: Any) -> str:
    if isinstance(value, (float, np.floating)):
        return f"{value:.4f}"
    return str(value)


def _text_table(header: list[str], rows: list[list[Any]]) -> str:
    cells = [[str(h) for h in header]] + [[_fmt(c) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    out = []
    for k, row in enumerate(cells):
        out.append("  ".join(c.rjust(w) for c, w in zip(row, widths)))
        if k == 0:
            out.append("  ".join("-" * w for w in widths))
    return "\n".join(out)


def write_report(report: Report, out: str | os.PathLike) -> Path:
    """Write every file of the report into ``out/<name>/`` and return that folder (under a
    faltung.distribution only rank 0 writes; the other ranks return the folder)."""
    folder = Path(out) / report.name
    distribution = sys.modules.get("faltung.distribution")
    if distribution is not None and not distribution.is_chief():
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    files: dict[str, str] = {}

    _atomic_write(folder / "summary.txt", summary_text(report).encode())
    files["summary.txt"] = "summary.txt"

    header, rows = history_rows(report.histories)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    _atomic_write(folder / "history.csv", buffer.getvalue().encode())

    _atomic_write(folder / "metrics.json",
                  (json.dumps(metrics_document(report), indent=2) + "\n").encode())

    figures = {"learning_curves.png": plot_learning_curves(report.histories)}
    if report.confusion is not None:
        figures["confusion_matrix.png"] = plot_confusion_matrix(report.confusion,
                                                                report.class_names)
    if report.samples is not None:
        figures["samples.png"] = plot_samples(report.samples)
    figures.update(report.figures)
    for name, figure in figures.items():
        _save_figure(figure, folder / name)

    model_file = None
    if save_model(report.model, folder / "model.keras"):
        model_file = "model.keras"
    _atomic_write(folder / "report.html",
                  render_html(report, list(figures), model_file).encode())
    return folder


# -- HTML ---------------------------------------------------------------------------------------

_CSS = """
body{font-family:-apple-system,'Segoe UI',Roboto,Helvetica,Arial,sans-serif;margin:0;
background:#f6f7f9;color:#1f2328;line-height:1.5}
main{max-width:1100px;margin:0 auto;padding:24px 28px 60px}
header{background:#24292f;color:#fff;padding:22px 28px}
header h1{margin:0 0 4px;font-size:26px}header p{margin:0;color:#d0d7de;max-width:1000px}
h2{font-size:19px;margin:32px 0 10px;border-bottom:1px solid #d0d7de;padding-bottom:4px}
.cards{display:flex;flex-wrap:wrap;gap:14px;margin-top:18px}
.card{background:#fff;border:1px solid #d0d7de;border-radius:8px;padding:12px 18px;
min-width:150px}.card .v{font-size:26px;font-weight:600}.card .k{color:#57606a;font-size:13px}
img{max-width:100%;background:#fff;border:1px solid #d0d7de;border-radius:6px}
table{border-collapse:collapse;background:#fff;font-size:14px;margin:8px 0}
th,td{border:1px solid #d0d7de;padding:4px 10px;text-align:right}
th{background:#eaeef2}td:first-child,th:first-child{text-align:left}
pre{background:#fff;border:1px solid #d0d7de;border-radius:6px;padding:12px;overflow-x:auto;
font-size:12.5px;line-height:1.15}
.settings{color:#57606a;font-size:14px}.files a{margin-right:14px}
details summary{cursor:pointer;color:#0969da}
"""


def _table_html(header: Sequence[Any], rows: Sequence[Sequence[Any]]) -> str:
    head = "".join(f"<th>{html.escape(str(h))}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(_fmt(c))}</td>" for c in row) + "</tr>"
                   for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def render_html(report: Report, figure_files: list[str], model_file: str | None) -> str:
    """One self-contained page (inline CSS, images referenced relatively)."""
    e = html.escape
    parts = [f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
             f"<meta name='viewport' content='width=device-width,initial-scale=1'>"
             f"<title>{e(report.title)}</title><style>{_CSS}</style></head><body>",
             f"<header><h1>{e(report.title)}</h1><p>{e(report.description)}</p></header><main>"]
    if report.settings:
        parts.append("<p class='settings'>" + " · ".join(
            f"{e(str(k))}: <b>{e(str(v))}</b>" for k, v in report.settings.items()) + "</p>")
    if report.headline:
        parts.append("<div class='cards'>" + "".join(
            f"<div class='card'><div class='v'>{e(v)}</div><div class='k'>{e(k)}</div></div>"
            for k, v in report.headline) + "</div>")
    if report.test:
        keys: list[str] = []
        for values in report.test.values():
            keys += [k for k in values if k not in keys]
        parts.append("<h2>Test figures</h2>" + _table_html(
            ["run"] + keys, [[run] + [values.get(k, "") for k in keys]
                             for run, values in report.test.items()]))
    parts.append("<h2>Learning curves</h2><p>Solid: training, dashed: validation, per epoch."
                 "</p><img src='learning_curves.png' alt='learning curves'>")
    if "confusion_matrix.png" in figure_files:
        parts.append("<h2>Confusion matrix</h2><img src='confusion_matrix.png' "
                     "alt='confusion matrix'>")
    if report.per_class is not None:
        rows = [[name, v.get("precision", ""), v.get("recall", ""), v.get("f1-score", ""),
                 v.get("support", "")] for name, v in report.per_class.items()
                if name != "accuracy"]
        table = _table_html(["class", "precision", "recall", "F1", "support"], rows)
        if len(rows) > 25:
            table = f"<details><summary>show all {len(rows)} rows</summary>{table}</details>"
        parts.append("<h2>Precision, recall and F1 per class (test set)</h2>" + table)
    if "samples.png" in figure_files:
        parts.append("<h2>First test samples</h2><img src='samples.png' alt='samples'>")
    for section in report.sections:
        parts.append(f"<h2>{e(section.heading)}</h2>")
        parts += [f"<p>{e(p)}</p>" for p in section.text]
        if section.table is not None:
            parts.append(_table_html(*section.table))
        if section.image:
            parts.append(f"<img src='{e(section.image)}' alt='{e(section.heading)}'>")
        if section.pre:
            parts.append(f"<pre>{e(section.pre)}</pre>")
    shown = {"learning_curves.png", "confusion_matrix.png", "samples.png"} | {
        s.image for s in report.sections if s.image}
    for name in figure_files:
        if name not in shown:
            parts.append(f"<h2>{e(name[:-4].replace('_', ' '))}</h2>"
                         f"<img src='{e(name)}' alt='{e(name)}'>")
    for label, text in report.summaries:
        parts.append(f"<h2>Model: {e(label)}</h2><pre>{e(text)}</pre>")
    links = ["summary.txt", "history.csv", "metrics.json"] + figure_files
    if model_file:
        links.append(model_file)
    parts.append("<h2>Files</h2><p class='files'>" + "".join(
        f"<a href='{e(f)}'>{e(f)}</a>" for f in links) + "</p>")
    if not model_file:
        parts.append("<p class='settings'>No model file: this faltung cannot save models "
                     "yet.</p>")
    parts.append("</main></body></html>\n")
    return "\n".join(parts)
