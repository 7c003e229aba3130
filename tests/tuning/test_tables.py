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
