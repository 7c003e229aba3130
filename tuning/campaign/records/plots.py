"""A campaign's Optuna study as plots: one self-contained HTML page (interactive, works
offline) and a PNG per plot, logged to the campaign's parent MLflow run at the end and,
while the campaign runs, every few finished trials."""
from __future__ import annotations

import logging
import tempfile
import warnings
from pathlib import Path
from typing import Callable

import optuna
from ray import tune

logger = logging.getLogger("dualtune")

PLOTS = ("optimization_history", "intermediate_values", "timeline", "param_importances", "parallel_coordinate",
         "slice")


def _png(study: optuna.Study, name: str, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np
    from optuna.visualization import matplotlib as mpl_plots

    axes = getattr(mpl_plots, f"plot_{name}")(study)
    figure = np.ravel(axes)[0].figure
    figure.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(figure)


def write_study_plots(study: optuna.Study, out_dir: Path) -> dict[str, str]:
    """Write ``plots.html`` and ``<plot>.png`` for each of PLOTS into ``out_dir``.

    Returns {plot name: reason} for the plots the study cannot support yet (e.g. parameter
    importances need two finished trials)."""
    from optuna import visualization

    out_dir.mkdir(parents=True, exist_ok=True)
    sections, skipped = [], {}
    verbosity = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.ERROR)  # "no complete trials" is reported below
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # optuna's matplotlib backend is marked experimental
        for name in PLOTS:
            try:
                figure = getattr(visualization, f"plot_{name}")(study)
                _png(study, name, out_dir / f"{name}.png")
            except (ValueError, RuntimeError, ZeroDivisionError) as error:
                skipped[name] = str(error) or type(error).__name__
                continue
            sections.append(f"<h2>{name.replace('_', ' ')}</h2>"
                            + figure.to_html(full_html=False, include_plotlyjs=not sections))
    optuna.logging.set_verbosity(verbosity)
    body = "".join(sections) or "<p>No finished trials to plot.</p>"
    notes = "".join(f"<p>{name}: not drawn ({reason})</p>" for name, reason in skipped.items())
    (out_dir / "plots.html").write_text(f"<html><head><meta charset='utf-8'><title>{study.study_name}</title>"
                                        f"</head><body><h1>Optuna study {study.study_name}</h1>{body}{notes}"
                                        "</body></html>")
    return skipped


class StudyPlotsRefresher(tune.Callback):
    """Redraws the study's plots on the parent run every ``every`` finished trials, so the
    search can be watched in MLflow while it runs.  A failure (MLflow down, a study not yet
    plottable) is logged and skipped: the campaign's end draws them again."""

    def __init__(self, load_study: Callable[[], optuna.Study], log_plots: Callable[[Path], None], every: int = 3):
        self.load_study, self.log_plots, self.every = load_study, log_plots, every
        self.finished = 0

    def on_trial_complete(self, iteration, trials, trial, **info):
        self.finished += 1
        if self.finished % self.every:
            return
        try:
            with tempfile.TemporaryDirectory() as tmp:
                write_study_plots(self.load_study(), Path(tmp))
                self.log_plots(Path(tmp))
        except Exception as error:  # never fail the campaign on a plot
            logger.warning("could not refresh the Optuna plots (%s); they are drawn at the end",
                           str(error).splitlines()[0])
