"""The report's figures as PNG bytes: matplotlib on the Agg backend, shap for the SHAP plots.

Every function builds its own figure and closes it, so nothing leaks between plots and no
display is ever needed.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    import matplotlib.pyplot as plt

    from models.bundle import ModelBundle

ACCENT = "#c2410c"
MUTED = "#64748b"
GOOD = "#0f766e"
DPI = 110


def _pyplot():
    """pyplot on the Agg backend: reports are drawn by jobs and tests, never on a screen."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _png(figure: plt.Figure) -> bytes:
    """Serialise a figure to PNG bytes and close it."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=DPI, bbox_inches="tight", facecolor="white")
    _pyplot().close(figure)
    return buffer.getvalue()


def _style(ax: plt.Axes) -> None:
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    ax.grid(axis="x", color="#e2e8f0", linewidth=0.8)
    ax.set_axisbelow(True)


def calibration_curve(table: pd.DataFrame) -> bytes:
    """Observed churn rate against mean predicted probability per bin, with the diagonal."""
    plt = _pyplot()
    figure, ax = plt.subplots(figsize=(4.6, 4.2))
    top = float(max(table["mean_prediction"].max(), table["observed_rate"].max(), 1e-3)) * 1.08
    ax.plot([0, top], [0, top], color=MUTED, linestyle="--", linewidth=1, label="perfect")
    ax.plot(
        table["mean_prediction"],
        table["observed_rate"],
        marker="o",
        color=ACCENT,
        label="model (10 equal-size bins)",
    )
    ax.set(xlim=(0, top), ylim=(0, top), xlabel="mean predicted probability")
    ax.set_ylabel("observed churn rate")
    ax.legend(frameon=False, loc="upper left")
    _style(ax)
    return _png(figure)


def capture_chart(table: pd.DataFrame) -> bytes:
    """Share of churners caught as the contacted share (riskiest first) grows."""
    plt = _pyplot()
    figure, ax = plt.subplots(figsize=(4.6, 4.2))
    share = np.concatenate([[0.0], table["contacted_share"].to_numpy()]) * 100
    capture = np.concatenate([[0.0], table["capture"].to_numpy()]) * 100
    ax.plot(share, capture, color=ACCENT, marker="o", markersize=3, label="model")
    ax.plot([0, 100], [0, 100], color=MUTED, linestyle="--", linewidth=1, label="random")
    ax.set(xlabel="customers contacted, top % by risk", ylabel="churners caught (%)")
    ax.legend(frameon=False, loc="lower right")
    _style(ax)
    return _png(figure)


def lift_chart(table: pd.DataFrame) -> bytes:
    """Churn rate among the contacted over the base rate, by contacted share."""
    plt = _pyplot()
    figure, ax = plt.subplots(figsize=(4.6, 4.2))
    ax.bar(table["contacted_share"] * 100, table["lift"], width=3.6, color=ACCENT)
    ax.axhline(1.0, color=MUTED, linestyle="--", linewidth=1)
    ax.set(xlabel="customers contacted, top % by risk", ylabel="lift over random")
    _style(ax)
    return _png(figure)


def _shap_figure(draw: Callable[[], None]) -> bytes:
    """Run a shap plotting call (which draws on the current figure) and return its PNG."""
    plt = _pyplot()
    plt.figure()
    draw()
    figure = plt.gcf()
    figure.tight_layout()
    return _png(figure)


def shap_beeswarm(
    values: np.ndarray,
    shown: pd.DataFrame,
    max_display: int = 15,
    plot_size: tuple[float, float] | str = (8, 5.5),
) -> bytes:
    """The SHAP beeswarm: each dot a customer, colour the feature's value."""
    import shap

    return _shap_figure(
        lambda: shap.summary_plot(
            values, shown, show=False, max_display=max_display, plot_size=plot_size
        )
    )


def shap_summary_plot(
    bundle: ModelBundle,
    frame: pd.DataFrame,
    rows: int,
    seed: int,
    labels: dict[str, str] | None = None,
) -> bytes:
    """The training run's SHAP beeswarm: LightGBM's exact contributions on a sample of rows,
    each feature named by its label in words (`labels`, name -> label) when given."""
    sample = frame.sample(n=min(rows, len(frame)), random_state=seed)
    contributions = bundle.contributions(sample)
    values = contributions[bundle.spec.names].to_numpy()
    names = [(labels or {}).get(name, name) for name in bundle.spec.names]
    shown = pd.DataFrame(bundle.spec.to_matrix(sample), columns=names)
    # As the training run has always drawn it: 20 features at shap's own size.
    return shap_beeswarm(values, shown, max_display=20, plot_size="auto")


def shap_bar(values: np.ndarray, shown: pd.DataFrame, max_display: int = 15) -> bytes:
    """Mean |SHAP| per feature as drawn by shap."""
    import shap

    return _shap_figure(
        lambda: shap.summary_plot(
            values,
            shown,
            plot_type="bar",
            show=False,
            max_display=max_display,
            color=ACCENT,
            plot_size=(8, 5.5),
        )
    )


def horizontal_bars(series: pd.Series, xlabel: str, color: str = ACCENT) -> bytes:
    """A horizontal bar chart of a named series, largest at the top."""
    plt = _pyplot()
    series = series.iloc[::-1]
    figure, ax = plt.subplots(figsize=(5.6, 0.36 * len(series) + 1.0))
    ax.barh([str(i) for i in series.index], series.to_numpy(), color=color)
    ax.set_xlabel(xlabel)
    _style(ax)
    return _png(figure)


def dependence_plot(name: str, values: np.ndarray, shown: pd.DataFrame) -> bytes:
    """How one feature's value moves its SHAP contribution (no interaction colouring); `name`
    is its column in `shown`, which the report labels in words."""
    plt = _pyplot()
    import shap

    figure, ax = plt.subplots(figsize=(4.4, 3.4))
    shap.dependence_plot(
        name, values, shown, interaction_index=None, show=False, ax=ax, color=ACCENT, alpha=0.5
    )
    ax.axhline(0.0, color=MUTED, linewidth=0.8)
    ax.set_xlabel(name)
    ax.set_ylabel("contribution to risk (log-odds)")
    return _png(figure)


def monthly_rates(kpis: pd.DataFrame) -> bytes:
    """Churn, retention and revenue churn by month."""
    plt = _pyplot()
    figure, (left, right) = plt.subplots(1, 2, figsize=(9.6, 3.6))
    months = pd.DatetimeIndex(kpis["month"]).tz_localize(None)
    left.plot(months, kpis["churn_rate"], marker="o", color=ACCENT, label="customer churn")
    left.plot(months, kpis["revenue_churn"], marker="s", color=MUTED, label="revenue churn")
    left.set_ylabel("% of the month's starting base")
    left.set_title("Churn by month", loc="left", fontsize=11)
    left.legend(frameon=False)
    right.plot(months, kpis["retention_rate"], marker="o", color=GOOD)
    right.set_ylabel("retention rate (%)")
    right.set_title("Retention by month", loc="left", fontsize=11)
    for ax in (left, right):
        _style(ax)
        ax.tick_params(axis="x", rotation=45)
    figure.tight_layout()
    return _png(figure)


def cohort_heatmap(table: pd.DataFrame) -> bytes:
    """Cohort retention (% still customers) by signup month and months since signup."""
    plt = _pyplot()
    grid = table.drop(columns="customers")
    figure, ax = plt.subplots(figsize=(0.55 * grid.shape[1] + 2.4, 0.34 * grid.shape[0] + 1.4))
    data = np.ma.masked_invalid(grid.to_numpy(dtype=np.float64))
    image = ax.imshow(data, cmap="Greens", vmin=0, vmax=100, aspect="auto")
    ax.set_xticks(range(grid.shape[1]), [str(c) for c in grid.columns])
    ax.set_yticks(range(grid.shape[0]), [f"{m:%Y-%m}" for m in grid.index])
    ax.set_xlabel("months since signup")
    for (row, col), value in np.ndenumerate(grid.to_numpy(dtype=np.float64)):
        if np.isfinite(value):
            ax.text(
                col,
                row,
                f"{value:.0f}",
                ha="center",
                va="center",
                fontsize=7,
                color="white" if value > 60 else "#1e293b",
            )
    figure.colorbar(image, ax=ax, label="% still customers", fraction=0.03)
    return _png(figure)


def audience_chart(curve: pd.DataFrame, marks: pd.DataFrame, currency: str) -> bytes:
    """Expected profit and the share of expected churners reached as more customers are
    contacted (best expected profit first), the table's audience sizes marked."""
    plt = _pyplot()
    figure, left = plt.subplots(figsize=(8.4, 3.6))
    share = curve["contacted_share"].to_numpy() * 100
    left.plot(share, curve["expected_profit"], color=ACCENT, label="expected profit")
    left.scatter(marks["contacted_share"] * 100, marks["expected_profit"], color=ACCENT, s=18)
    left.axhline(0.0, color=MUTED, linewidth=0.8)
    left.set_xlabel("customers contacted (% of scored, best expected profit first)")
    left.set_ylabel(f"expected profit ({currency})")
    # Contacting everyone can cost far more than the best audience earns: keep the peak legible.
    peak = float(curve["expected_profit"].max())
    if peak > 0:
        left.set_ylim(bottom=max(float(curve["expected_profit"].min()), -peak) * 1.1)
    right = left.twinx()
    right.plot(share, curve["churners_share"] * 100, color=GOOD, label="churners reached")
    right.set_ylabel("expected churners reached (%)")
    right.set_ylim(0, 105)
    handles = left.get_legend_handles_labels()[0] + right.get_legend_handles_labels()[0]
    left.legend(
        handles,
        [h.get_label() for h in handles],
        frameon=False,
        loc="lower center",
        bbox_to_anchor=(0.5, 1.0),
        ncol=2,
    )
    _style(left)
    right.spines["top"].set_visible(False)
    return _png(figure)


def backtest_chart(nights: pd.DataFrame) -> bytes:
    """Per night: expected churners (with two standard deviations) against the churners
    observed once the night matured; and ROC AUC against the model's test AUC."""
    plt = _pyplot()
    figure, (left, right) = plt.subplots(1, 2, figsize=(9.6, 3.4))
    x = np.arange(len(nights))
    left.errorbar(
        x - 0.08,
        nights["expected_churners"],
        yerr=2 * nights["expected_churners_sd"],
        fmt="o",
        color=MUTED,
        capsize=3,
        label="expected (± 2 sd)",
    )
    left.plot(x + 0.08, nights["observed_churners"], "s", color=ACCENT, label="observed")
    left.set_ylabel("churners")
    left.set_title("Predicted against observed churners", loc="left", fontsize=11)
    left.legend(frameon=False)
    right.plot(x, nights["roc_auc"], marker="o", color=ACCENT, label="night's ROC AUC")
    right.plot(x, nights["model_test_auc"], linestyle="--", color=MUTED, label="model's test AUC")
    right.set_ylabel("ROC AUC")
    right.set_title("ROC AUC over time", loc="left", fontsize=11)
    right.legend(frameon=False)
    for ax in (left, right):
        ax.set_xticks(x, list(nights.index), rotation=45, ha="right")
        ax.set_xlim(-0.5, len(nights) - 0.5)
        _style(ax)
    figure.tight_layout()
    return _png(figure)
