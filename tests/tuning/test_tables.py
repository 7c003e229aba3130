"""The tables' one number formatter."""
import pytest

from tuning.tables import baselines_line, fmt


@pytest.mark.parametrize("value, digits, expected", [
    (None, 2, "-"), (95.8333, 2, "95.83"), (0.0005, 2, "0.0005"), (2.0, 0, "2"), ("0.30000001", 3, "0.300"),
    ("lars", 2, "lars"), (7, 2, "7"), ("1e-06", 3, "1e-06"),
])
def test_cells_are_rounded_and_small_numbers_keep_their_digits(value, digits, expected):
    assert fmt(value, digits) == expected


def test_the_baselines_line_names_each_representation_and_probe():
    line = baselines_line({"baseline_raw_pixels_linear_probe_test_top1": 82.884,
                           "baseline_raw_pixels_knn_test_top1": 80.5,
                           "baseline_untrained_linear_probe_test_top1": 77.45})
    assert line == ("Baselines (the same probes, test top-1): raw pixels: linear probe 82.88, k-NN 80.50; "
                    "untrained network: linear probe 77.45")
    assert baselines_line({}) is None


def test_status_stars_the_best_shows_typed_params_and_keeps_headers_whole():
    from rich.console import Console

    from tuning.campaign.records.history import CampaignOverview, TrialSummary
    from tuning.tables import status_document, status_table

    def trial(trial_id, dim, select, status="completed"):
        return TrialSummary(trial_id, status, f"run-{trial_id}", {"model.embedding_dim": dim, "seed": 0},
                            {"linear_probe_select_top1": select, "linear_probe_test_top1": select - 1.0,
                             "knn_test_top1": select - 2.0, "frozen_ridge_select_top1": 70.0, "time_total_s": 12.5},
                            epochs=4 if status == "completed" else 2, duration_s=12.5)

    overview = CampaignOverview("c", [trial("a", 32, 80.0), trial("b", 512, 81.5), trial("c", 128, 90.0,
                                                                                        "early_stopped")],
                                "frozen_ridge_select_top1", {"baseline_raw_pixels_linear_probe_test_top1": 82.5})
    console = Console(width=160, record=True)
    console.print(status_table(overview))
    text = console.export_text()
    assert "b *" in text and "a *" not in text  # the early-stopped trial's higher score does not count
    assert "embedding_dim" in text and "rung (select): frozen_ridge_select_top1" in text
    assert " 32 " in text and "32.000" not in text and "k-NN (test)" in text
    document = status_document(overview)
    assert document["best_trial"] == "b"
    assert document["baselines"] == {"baseline_raw_pixels_linear_probe_test_top1": 82.5}
    first = document["trials"][0]
    assert first["model.embedding_dim"] == 32 and first["epochs"] == 4 and first["knn_test_top1"] == 78.0


def _result(rows, best=None):
    from pathlib import Path

    from tuning.campaign.records.results import CampaignResult, TrialRow

    trials = [TrialRow(trial_id=t, status=status, sampled={}, params={"loss.params.temperature": 0.1234,
                                                                       "optim.base_lr": 1.5},
                       duration_s=96.04, online_select_top1=41.5, linear_probe_select_top1=88.25,
                       linear_probe_test_top1=87.75, knn_test_top1=86.5, epoch=4) for t, status in rows]
    return CampaignResult(name="fm3", rows=trials, tracking_uri="sqlite:////r/mlflow.db", experiment="smoke",
                          experiment_id="1", parent_run_id="p", best=trials[0] if best else None, exported=None,
                          runs_dir=Path("/r"), storage="/r/ray", wall_time_s=1.0,
                          param_names=["loss.params.temperature", "optim.base_lr"])


@pytest.mark.parametrize("width", [60, 80, 100, 120, 1000])
def test_a_narrow_console_drops_whole_columns_and_never_cuts_a_number(width):
    from rich.console import Console

    from tuning.tables import trials_table

    console = Console(width=width, record=True)
    console.print(trials_table(_result([("a1b2c3d4", "completed"), ("e5f6a7b8", "early_stopped")], best=True),
                  width))
    text = console.export_text()
    assert max(len(line) for line in text.splitlines()) <= width and "…" not in text  # folded, never cut
    if width < 80:
        return  # narrower than the columns that always stay: their cells wrap onto a second line
    for number in ("88.25", "87.75", "0.123", "1.500"):  # what a choice and a report read: always whole
        assert number in text
    kept_time = "96.0" in text and "96.04" not in text
    assert kept_time or "left out to fit" in text  # the time column whole, or left out and said so
    assert all(line.rstrip()[-1] in "┓┃┩│┘" for line in text.splitlines()[1:-2] if line.strip()[:1] in "┏┃┡│└")
    if width == 1000:
        assert kept_time and "86.50" in text and "left out" not in text


def test_the_best_footnote_comes_only_with_a_starred_row():
    from rich.console import Console

    from tuning.tables import BEST_NOTE, trials_table

    for best, noted in ((True, True), (False, False)):
        console = Console(width=1000, record=True)
        console.print(trials_table(_result([("a1b2c3d4", "diverged")], best=best), 1000))
        text = console.export_text()
        assert (BEST_NOTE.split(":")[0] in text) == noted and ("a1b2c3d4 *" in text) == noted
