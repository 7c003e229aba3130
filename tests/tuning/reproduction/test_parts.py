"""Figure parts: saved and read back from the results folder (only the study's own parts), their
section chooses on select and reports test; a study refuses a part named like its own parts or
an unknown one, and runs its figure parts at its scale."""
import pytest
import yaml

from tuning.errors import SearchSpaceError
from tuning.reproduction.parts import CellOutcome, PartOutcome, outcome_path, part_section, saved_parts
from tuning.reproduction.reruns import load_study


def _part(folder, part="fig2", study="paper_fmnist"):
    cells = [CellOutcome({"norm": "embedding", "d": 32}, "completed", 84.0, 80.0, 79.0, 60.0),
             CellOutcome({"norm": "embedding", "d": 128}, "completed", 83.0, 86.0, 82.0, 61.0),  # best on test only
             CellOutcome({"norm": "centering", "d": 32}, "completed", 85.5, 84.4, 81.0, 59.0),
             CellOutcome({"norm": "centering", "d": 128}, "errored", None, None, None, None)]
    return PartOutcome(study, part, "fig2_normalization_fmnist", "Fig. 2 twin", folder.name, str(folder),
                       "2026-12-01 10:00:00 UTC", 120.0, ["norm", "d"], cells,
                       {"baseline_raw_pixels_linear_probe_test_top1": 82.5})


def test_the_saved_parts_of_the_study_are_read_back_in_order(tmp_path):
    fig2, s3 = _part(tmp_path / "runs" / "a"), _part(tmp_path / "runs" / "b", part="figS3")
    stranger = _part(tmp_path / "runs" / "c", part="figS6", study="another")
    for outcome in (s3, fig2, stranger):
        outcome.save(outcome_path(tmp_path, outcome.part))
    assert outcome_path(tmp_path, "fig2") == tmp_path / "fig2.json"
    assert PartOutcome.load(tmp_path / "fig2.json") == fig2
    assert saved_parts(tmp_path, "paper_fmnist", ["fig2", "figS3", "figS6", "table_s5"]) == [fig2, s3]


def test_the_section_chooses_on_select_and_reports_test(tmp_path):
    lines = part_section(_part(tmp_path / "a"))
    assert "- norm=embedding: 80.00 (d=32)" in lines  # select 84 beats 83, whatever test says
    assert "- norm=centering: 84.40 (d=32)" in lines  # the errored cell is passed over
    assert "| embedding | 128 | 83.00 | 86.00 | 82.00 |" in lines
    assert lines[-1] == "Raw pixels through the same linear probe: 82.50 on test."


def _study(tmp_path, parts):
    path = tmp_path / "study.yaml"
    path.write_text(yaml.safe_dump({"name": "s", "seeds": [0], "variants": {"A": {"base": "digits-simclr"}},
                                    "parts": parts}))
    return str(path)


@pytest.mark.parametrize("parts,message", [
    ({"main": "smoke"}, "'main' names a part of its own"),
    ({"tune": "smoke"}, "'tune' names a part of its own"),
    ({"fig2": "no_such_space"}, "unknown search space 'no_such_space'"),
])
def test_bad_parts_are_refused_before_compute(tmp_path, parts, message):
    with pytest.raises(SearchSpaceError, match=message):
        load_study(_study(tmp_path, parts))


def test_the_paper_study_has_a_part_per_figure():
    study = load_study("paper-fmnist")
    assert study.part_names() == ["tune", "main", "fig2", "figS3", "figS6", "table_s5", "gather"]
    spaces = {p: study.part_space(p) for p in study.parts}
    assert {s.name for s in spaces.values()} == {
        "fig2_normalization_fmnist", "figS3_similarity_fmnist", "figS6_projector_fmnist", "table_s5_fmnist",
        "gather_ablation_fmnist"}
    scale = study.scale
    for space in spaces.values():  # every cell trains at the study's scale, as its main table does
        data, epochs = space.base_config().data, space.base_config().schedule.epochs
        assert (data.train_subset, data.select_per_class, epochs) == (
            scale["data.train_subset"], scale["data.select_per_class"], scale["schedule.epochs"])
    with pytest.raises(SearchSpaceError, match="no figure part 'fig9'; its parts: tune, main, fig2"):
        study.part_space("fig9")
