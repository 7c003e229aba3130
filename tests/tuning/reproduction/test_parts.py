"""Figure parts: saved and read back from the results folder (only the study's own parts), their
section chooses on select and reports test, beside the paper's cells where the study names its
rows; a study refuses a part named like its own parts or an unknown one, paper rows that do not
fit the part, and runs its figure parts at its scale."""
import itertools
from pathlib import Path

import pytest
import yaml

from tuning.errors import SearchSpaceError
from tuning.reproduction.paper_table import TABLE_S5, PaperCell
from tuning.reproduction.parts import (
    CellOutcome,
    PartOutcome,
    outcome_path,
    paper_agreement,
    part_section,
    saved_parts,
)
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


def _study(tmp_path, parts, paper_rows=None):
    path = tmp_path / "study.yaml"
    path.write_text(yaml.safe_dump({"name": "s", "seeds": [0], "variants": {"A": {"base": "digits-simclr"}},
                                    "parts": parts, "paper_rows": paper_rows or {}}))
    return str(path)


ROWS = {"vicreg": "VICReg", "vicreg-exp": "VICReg-exp", "vicreg-ctr": "VICReg-ctr", "simclr": "SimCLR-Tuned"}


@pytest.mark.parametrize("parts,paper_rows,message", [
    ({"main": "smoke"}, None, "'main' names a part of its own"),
    ({"tune": "smoke"}, None, "'tune' names a part of its own"),
    ({"fig2": "no_such_space"}, None, "unknown search space 'no_such_space'"),
    ({"s5": "table_s5_cpu"}, {"s6": ROWS}, "paper_rows names 's6', which is not one of its figure parts .s5."),
    ({"fig2": "fig2_normalization_fmnist"}, {"fig2": ROWS}, "part 'fig2' has paper_rows but does not vary "
                                                            "loss.method; a Table S5 cell is named by"),
    ({"s5": "table_s5_cpu"}, {"s5": {"vicreg": "VICReg"}}, "paper_rows name the methods .'vicreg'.; its space "
                                                           "varies loss.method over .'simclr', 'vicreg', "),
    ({"s5": "table_s5_cpu"}, {"s5": {**ROWS, "simclr": "SimCLR-Best"}}, "paper_rows"),
])
def test_bad_parts_are_refused_before_compute(tmp_path, parts, paper_rows, message):
    with pytest.raises(SearchSpaceError, match=message):
        load_study(_study(tmp_path, parts, paper_rows))


def test_the_paper_studys_table_s5_cells_each_sit_beside_the_papers_cell():
    study = load_study("paper-fmnist")
    params = study.part_space("table_s5").params
    grid = list(itertools.product(*(params[a].choices for a in ("loss.method", "model.projector",
                                                                 "model.embedding_dim"))))
    cells = [CellOutcome({"loss.method": m, "model.projector": p, "model.embedding_dim": d}, "completed",
                         80.0, 80.0, 80.0, 1.0) for m, p, d in grid]
    outcome = PartOutcome("paper_fmnist", "table_s5", "table_s5_fmnist", "", "c", "f", "", 0.0,
                          ["loss.method", "model.projector", "model.embedding_dim"], cells)
    matched = study.part_paper_cells(outcome)
    assert len(matched) == 16 and None not in matched
    by_shape = {(m, p, d): cell for (m, p, d), cell in zip(grid, matched)}
    # 512-512-d at d = 128 is the paper's 8192-8192-d at d = 2048 (x16); SimCLR's Table S6 recipe is SimCLR-Tuned
    assert by_shape["vicreg", "512-512-d", 128] == PaperCell("VICReg", "8192-8192-d", 2048, 68.07)
    assert by_shape["simclr", "128-128-d", 512] == PaperCell("SimCLR-Tuned", "2048-2048-d", 8192,
                                                             TABLE_S5["SimCLR-Tuned"]["2048-2048-d"][4])
    assert study.part_paper_cells(_part(Path("x"))) is None  # fig2 names no paper rows


def _cells(tops):
    return [CellOutcome({"d": i}, "completed", t, t, t, 1.0) for i, t in enumerate(tops)]


def test_the_ordering_against_the_papers_cells_can_hold_fail_or_be_noise():
    paper = [PaperCell("VICReg", "d-d-d", 256, top1) for top1 in (60.0, 61.0, 62.0, 63.0, 64.0, 65.0, 66.0, 67.0)]
    assert "rho +1.00" in (line := paper_agreement(_cells([80, 81, 82, 83, 84, 85, 86, 87]), paper))
    assert "carries over" in line and "over 8 cells" in line
    assert "ordered against the paper's" in paper_agreement(_cells([87, 86, 85, 84, 83, 82, 81, 80]), paper)
    assert "told from noise" in paper_agreement(_cells([83, 80, 86, 81, 87, 82, 84, 85]), paper)
    assert "Too few cells" in paper_agreement(_cells([80, 81, 82, 83, 84, 85, 86, 87]), [None] * 6 + paper[:2])


def test_the_section_sets_each_cell_beside_its_paper_cell(tmp_path):
    part = _part(tmp_path / "a")
    paper = [PaperCell("VICReg", "d-d-d", 512, 63.5), None, PaperCell("VICReg", "d-d-d", 256, 61.36), None]
    lines = part_section(part, paper)
    assert "| norm | d | paper (Table S5 cell) | linear probe (select) | linear probe (test) | k-NN (test) |" in lines
    assert "| embedding | 32 | 63.50 (512-512-512) | 84.00 | 80.00 | 79.00 |" in lines
    assert "| embedding | 128 | - | 83.00 | 86.00 | 82.00 |" in lines
    assert "Too few cells with a paper cell and a test score (2) to compare orderings." in lines


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
