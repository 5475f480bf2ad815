"""report.html: a sweep explained in one self-contained file (figures inlined, no server needed).

Learning curves of every trial, best-so-far against compute spent (trial-epochs, in the order
they were reported), the effect of each hyperparameter on the best value each trial reached, and
the table of trials. Drawn with matplotlib and inlined as base64 PNGs.
"""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from raylight.tuning.live import TrialSummary

REPORT_HTML = "report.html"
TABLE_ROWS = 50


def write_report(
    sweep_path: Path,
    trials: Sequence[TrialSummary],
    history: pd.DataFrame,
    metric: str,
    mode: str,
) -> Path:
    """Write sweep_path/report.html and return its path."""
    figures = [
        ("Learning curves", _learning_curves(history, metric)),
        ("Best so far against compute spent", _best_so_far(history, metric, mode)),
        ("Effect of each hyperparameter", _effects(trials, metric)),
    ]
    sections = "\n".join(
        f"<h2>{html.escape(title)}</h2>\n<img alt='{html.escape(title)}' src='{_png(figure)}'>"
        for title, figure in figures
        if figure is not None
    )
    path = sweep_path / REPORT_HTML
    path.write_text(_page(sweep_path, trials, metric, mode, sections))
    return path


def _page(
    sweep_path: Path, trials: Sequence[TrialSummary], metric: str, mode: str, sections: str
) -> str:
    counts = pd.Series([t.status for t in trials]).value_counts().to_dict()
    summary = ", ".join(f"{n} {status.lower()}" for status, n in counts.items())
    return f"""<!doctype html>
<html><head><meta charset="utf-8"><title>Sweep {html.escape(sweep_path.name)}</title>
<style>body{{font-family:sans-serif;margin:2em;max-width:1100px}}img{{max-width:100%}}
table{{border-collapse:collapse;font-size:13px}}td,th{{border:1px solid #ccc;padding:2px 6px}}
</style></head><body>
<h1>Sweep {html.escape(sweep_path.name)}</h1>
<p>{len(trials)} trials ({html.escape(summary)}), ranked by {html.escape(metric)} ({mode}).
Directory: <code>{html.escape(str(sweep_path))}</code></p>
{sections}
<h2>Trials (best {min(TABLE_ROWS, len(trials))} of {len(trials)}; all in trials.csv)</h2>
{_table(trials, metric)}
</body></html>
"""


def _table(trials: Sequence[TrialSummary], metric: str) -> str:
    keys = sorted({k for t in trials for k in t.config})
    head = "".join(
        f"<th>{html.escape(c)}</th>" for c in ["trial", "status", metric, "epochs", *keys]
    )
    rows = []
    for t in trials[:TABLE_ROWS]:
        value = "-" if t.metric_value is None else f"{t.metric_value:.4f}"
        cells = [t.trial_id, t.status.lower(), value, str(t.epochs)]
        cells += [_short(t.config.get(k)) for k in keys]
        rows.append("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in cells) + "</tr>")
    return f"<table><tr>{head}</tr>{''.join(rows)}</table>"


def _learning_curves(history: pd.DataFrame, metric: str) -> Figure | None:
    if history.empty or metric not in history:
        return None
    figure, (axes,) = _figure()
    for _, rows in history.groupby("trial_id"):
        axes.plot(rows["epoch"], rows[metric], alpha=0.5, linewidth=1)
    axes.set_xlabel("epoch")
    axes.set_ylabel(metric)
    return figure


def _best_so_far(history: pd.DataFrame, metric: str, mode: str) -> Figure | None:
    if history.empty or metric not in history or "reported_at" not in history:
        return None
    ordered = history.sort_values("reported_at")[metric].reset_index(drop=True)
    best = ordered.cummax() if mode == "max" else ordered.cummin()
    figure, (axes,) = _figure()
    axes.plot(range(1, len(best) + 1), best, drawstyle="steps-post")
    axes.set_xlabel("trial-epochs spent (all trials, in report order)")
    axes.set_ylabel(f"best {metric} so far")
    return figure


def _effects(trials: Sequence[TrialSummary], metric: str) -> Figure | None:
    scored = [t for t in trials if t.metric_value is not None]
    keys = sorted({k for t in scored for k in t.config})
    if not scored or not keys:
        return None
    figure, all_axes = _figure(columns=len(keys))
    for axes, key in zip(all_axes, keys, strict=True):
        values = [t.config.get(key) for t in scored]
        results = [t.metric_value for t in scored]
        numbers = [v for v in values if isinstance(v, int | float) and not isinstance(v, bool)]
        if len(numbers) == len(values):
            axes.scatter(numbers, results, s=12, alpha=0.7)
            if min(numbers) > 0 and max(numbers) / min(numbers) > 20:
                axes.set_xscale("log")
        else:
            labels = sorted({str(v) for v in values})
            axes.scatter([labels.index(str(v)) for v in values], results, s=12, alpha=0.7)
            axes.set_xticks(range(len(labels)), labels)
        axes.set_xlabel(key)
        axes.set_ylabel(f"best {metric}")
    return figure


def _figure(columns: int = 1) -> tuple[Figure, list[Any]]:
    """A figure drawn straight to PNG: no pyplot, so a user's own backend is left alone."""
    from matplotlib.figure import Figure

    figure = Figure(figsize=(min(5 * columns, 15), 3.6), layout="tight")
    axes = figure.subplots(1, columns, squeeze=False)
    return figure, list(axes[0])


def _png(figure: Figure) -> str:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=90)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


def _short(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)
