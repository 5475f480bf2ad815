"""Terminal output shared by the verbs: progress lines, summaries, tables, errors."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

if TYPE_CHECKING:
    from raylight.jobs.submit import JobRow
    from raylight.serving.deployment import ServingEndpoint
    from raylight.training import TrainingResult
    from raylight.training.placement import Placement
    from raylight.tuning import SweepStatus, TrialSummary, TuningResult
    from raylight.tuning.plan import SweepPlan

# Piped output (CI logs, `| tee`) gets wide lines instead of rich's 80-column default.
_WIDTH = None if sys.stdout.isatty() else 160
console = Console(highlight=False, soft_wrap=True, width=_WIDTH)
errors = Console(stderr=True, highlight=False, soft_wrap=True, width=_WIDTH)
TABLE_ROWS = 20  # of a sweep's trials on screen; trials.csv and report.html have them all


def print_error(message: str, *, hint: str | None = None) -> None:
    errors.print(f"[bold red]error:[/] {escape(message)}", soft_wrap=True)
    if hint:
        errors.print(hint, soft_wrap=True, markup=False)


def print_epoch(epochs: int, metric: str) -> Any:
    def emit(metrics: dict[str, Any]) -> None:
        console.print(f"  {format_metrics(metrics, epochs, metric)}")

    return emit


def print_placement(placement: Placement) -> None:
    console.print(f"  [dim]workers: {placement.describe()}[/]")


def print_trial(trial: TrialSummary) -> None:
    value = "-" if trial.metric_value is None else f"{trial.metric_value:.4f}"
    params = "  ".join(f"{k}={_short(v)}" for k, v in trial.config.items())
    status = trial.status.lower()
    console.print(f"  trial {trial.trial_id} {status:<10} {value}  epochs {trial.epochs}  {params}")


def print_status(status: SweepStatus) -> None:
    """The sweep's live line: trials by state and the best value so far."""
    order = ("RUNNING", "PENDING", "PAUSED", "TERMINATED", "ERROR")
    counts = "  ".join(
        f"{state.lower()} {status.counts[state]}" for state in order if status.counts.get(state)
    )
    best = "-" if status.best_value is None else f"{status.best_value:.4f} ({status.best_trial})"
    console.print(
        f"[dim]{status.elapsed_s:5.0f}s[/]  {counts}  of {status.total}  "
        f"best {status.metric} {best}"
    )


def print_training(result: TrainingResult) -> None:
    console.print(f"[bold green]trained[/]: {result.metric} {result.metric_value:.4f}")
    console.print(f"  checkpoint  {result.checkpoint_path}")
    console.print(f"  run         {result.run_path}")


def print_tuning(result: TuningResult) -> None:
    table = Table(title=f"trials by {result.metric} ({result.mode})", title_justify="left")
    keys = sorted({k for t in result.trials for k in t.config})
    for column in ("trial", "status", result.metric, "epochs", *keys):
        table.add_column(column)
    for trial in result.trials[:TABLE_ROWS]:
        value = "-" if trial.metric_value is None else f"{trial.metric_value:.4f}"
        table.add_row(
            trial.trial_id,
            trial.status.lower(),
            value,
            str(trial.epochs),
            *[_short(trial.config.get(k)) for k in keys],
        )
    console.print(table)
    if len(result.trials) > TABLE_ROWS:
        console.print(f"  ... {len(result.trials) - TABLE_ROWS} more trials in trials.csv")
    failed = [t for t in result.trials if t.error]
    for trial in failed:
        console.print(f"  [red]{trial.trial_id} failed:[/] {escape(trial.error or '')}")
        console.print(f"    logs: {trial.log_path}", markup=False)
    best = "  ".join(f"{k}={_short(v)}" for k, v in result.best_config.items())
    console.print(
        f"[bold green]best trial[/] {result.best_trial_id}: "
        f"{result.metric} {result.metric_value:.4f}  {best}"
    )
    console.print(f"  checkpoint  {result.checkpoint_path}")
    console.print(f"  sweep       {result.sweep_path}")
    console.print(f"  exported    {result.trials_csv}, {result.history_csv}")
    console.print(f"  report      {result.report_html}")


def print_plan(plan: SweepPlan, title: str = "plan") -> None:
    console.print(f"[bold]{title}[/]")
    for line in plan.lines():
        console.print(f"  {line}", markup=False)


def print_endpoint(endpoint: ServingEndpoint, curl: str | None = None) -> None:
    console.print(f"[bold green]serving[/] {endpoint.app_name} at {endpoint.url}")
    base = endpoint.url.rstrip("/")
    console.print(f"  POST {endpoint.predict_url}   GET {base}/healthz   GET {base}/metadata")
    console.print(f"  OpenAPI     {base}/docs   {base}/openapi.json")
    console.print(f"  checkpoint  {endpoint.checkpoint_path}")
    console.print(f"  {endpoint.ingress.describe()}")
    if endpoint.token_env:
        console.print(f"  auth        bearer token from ${endpoint.token_env}")
    if curl:
        console.print("Try it:")
        console.print(curl, soft_wrap=True, markup=False)


def print_jobs(rows: list[JobRow]) -> None:
    table = Table()
    for column in ("job id", "spec", "verb", "status", "started", "duration"):
        table.add_column(column)
    for row in rows:
        started = (
            row.started_at.astimezone().strftime("%Y-%m-%d %H:%M:%S") if row.started_at else "-"
        )
        duration = f"{row.duration_s:.0f}s" if row.duration_s is not None else "-"
        table.add_row(row.job_id, row.spec_name, row.verb, row.status, started, duration)
    console.print(table)


def format_metrics(metrics: dict[str, Any], epochs: int, metric: str) -> str:
    """The epoch, the losses, accuracy and the spec's metric (under the loop's own name)."""
    parts = [f"epoch {int(metrics.get('epoch', 0))}/{epochs}"]
    shown = [k for k in metrics if k.startswith(("train_loss", "val_loss"))]
    shown += [k for k in ("val_accuracy", metric) if k in metrics and k not in shown]
    parts += [f"{k} {metrics[k]:.4f}" for k in shown if isinstance(metrics[k], int | float)]
    return "  ".join(parts)


def _short(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)
