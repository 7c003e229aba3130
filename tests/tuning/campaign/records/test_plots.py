"""The study's plots: every plot drawn from a real study with intermediate values, and the
live refresher redrawing them every few finished trials."""
from pathlib import Path

import optuna

from tuning.campaign.records.plots import PLOTS, StudyPlotsRefresher, write_study_plots


def _study(tmp_path) -> optuna.Study:
    study = optuna.create_study(study_name="c", storage=f"sqlite:///{tmp_path / 'optuna.db'}", direction="maximize")

    def objective(trial):
        lr = trial.suggest_float("optim.base_lr", 0.05, 5.0, log=True)
        temperature = trial.suggest_float("loss.params.temperature", 0.05, 1.0)
        for epoch in range(1, 4):
            trial.report(epoch * lr / (1 + temperature), epoch)
        return lr / (1 + temperature)

    study.optimize(objective, n_trials=4)
    return study


def test_every_plot_is_drawn_with_intermediate_values_and_timeline(tmp_path):
    skipped = write_study_plots(_study(tmp_path), tmp_path / "plots")
    assert skipped == {} and {"intermediate_values", "timeline"} <= set(PLOTS)
    assert {p.name for p in (tmp_path / "plots").iterdir()} == {"plots.html", *(f"{n}.png" for n in PLOTS)}
    assert "intermediate values" in (tmp_path / "plots" / "plots.html").read_text()


def test_the_refresher_redraws_every_few_finished_trials(tmp_path):
    study = _study(tmp_path)
    logged: list[set[str]] = []
    def log_plots(folder):
        logged.append({p.name for p in Path(folder).iterdir()})

    refresher = StudyPlotsRefresher(lambda: study, log_plots, every=2)
    refresher.on_trial_complete(0, [], None)
    assert logged == []
    refresher.on_trial_complete(1, [], None)
    assert len(logged) == 1 and {"plots.html", "timeline.png"} <= logged[0]
    broken = StudyPlotsRefresher(lambda: (_ for _ in ()).throw(RuntimeError("store down")), logged.append, every=1)
    broken.on_trial_complete(0, [], None)  # a failure is a warning, not a failed campaign
    assert len(logged) == 1
