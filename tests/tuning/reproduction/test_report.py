"""The report: its sections choose on select and report test, set cells beside the paper's,
set retrained checkpoints beside the table's runs; the outcomes saved in git rewrite the shipped
report byte for byte."""
import shutil
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from tests.tuning.reproduction.parts import fig2_part
from tuning.reproduction.analyses import StudyAnalysis
from tuning.reproduction.claims import Summary, main_table_claims
from tuning.reproduction.outcomes import CellOutcome, RerunOutcome
from tuning.reproduction.paper_table import PaperCell
from tuning.reproduction.report import holm_line, paper_agreement, part_section, retrained_note
from tuning.reproduction.study import conduct, load_study
from tuning.reproduction.verdicts import Outcome


def test_the_section_chooses_on_select_and_reports_test(tmp_path):
    lines = part_section(fig2_part(tmp_path / "a"))
    assert "- norm=embedding: 80.00 (d=32)" in lines  # select 84 beats 83, whatever test says
    assert "- norm=centering: 84.40 (d=32)" in lines  # the errored cell is passed over
    assert "| embedding | 128 | 83.00 | 86.00 | 82.00 |" in lines
    assert lines[-1] == "Raw pixels through the same linear probe: 82.50 on test."


def test_a_part_that_ran_on_a_crop_says_so_and_one_on_the_whole_image_does_not(tmp_path):
    whole = part_section(fig2_part(tmp_path / "a"))
    cropped = fig2_part(tmp_path / "b")
    cropped.probe_crop = 0.875
    note = next(line for line in part_section(cropped) if line.startswith("Space "))
    assert "saw the centre 0.875 crop" in note and "not rerun since" in note
    assert not any("crop" in line for line in whole)


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
    part = fig2_part(tmp_path / "a")
    paper = [PaperCell("VICReg", "d-d-d", 512, 63.5), None, PaperCell("VICReg", "d-d-d", 256, 61.36), None]
    lines = part_section(part, paper)
    assert "| norm | d | paper (Table S5 cell) | linear probe (select) | linear probe (test) | k-NN (test) |" in lines
    assert "| embedding | 32 | 63.50 (512-512-512) | 84.00 | 80.00 | 79.00 |" in lines
    assert "| embedding | 128 | - | 83.00 | 86.00 | 82.00 |" in lines
    assert "Too few cells with a paper cell and a test score (2) to compare orderings." in lines


def test_the_saved_outcomes_in_git_rewrite_the_shipped_report_byte_for_byte(tmp_path):
    shipped = Path(__file__).parents[3] / "docs"
    shutil.copytree(shipped / "reproduction", tmp_path / "reproduction")
    written = conduct(load_study("paper-fmnist"), tmp_path / "reproduction.md", announce=lambda _: None)
    assert written.read_text() == (shipped / "reproduction.md").read_text()
    text = written.read_text()
    assert "| SimCLR-Orig | 64.66 (2048-2048)* |" in text and "\n* SimCLR-Orig: its 128-d head at d = 128" in text
    assert "As a share of the supervised ceiling's linear probe" in text  # the ceiling the main part measured
    assert "saw the centre 0.875 crop" not in text  # every part, the figures' included, saw the whole image
    assert "They do not search alike" in text and "Holm's step-down over the" in text

    (tmp_path / "reproduction" / "fig2.json").unlink()
    text = conduct(load_study("paper-fmnist"), tmp_path / "reproduction.md", announce=lambda _: None).read_text()
    assert "Not yet run, so neither shown nor judged: `fig2`." in text and "### Part `fig2`" not in text
    (tmp_path / "reproduction" / "main.json").unlink()
    said = []
    assert conduct(load_study("paper-fmnist"), tmp_path / "reproduction.md", announce=said.append) is None
    assert said == [f"no main part of paper_fmnist saved in {tmp_path / 'reproduction'}/ yet; run --part main to "
                    "write the report"]


def test_retrained_checkpoints_are_set_beside_the_tables_run_of_the_same_seed():
    scores = {"SimCLR-Orig": [79.9, 80.2, 79.6], "VICReg": [81.5, 81.2, 81.9]}  # seeds 0-2
    by_name = {name: Summary(name, name, None, [RerunOutcome(name, seed, "completed", None, score, None, None, None,
                                                             None) for seed, score in enumerate(values)])
               for name, values in scores.items()}
    analysis = StudyAnalysis(["SimCLR-Orig", "VICReg"], [{}, {}], None, [0, 2], [], retrained_in="s-analyses-1",
                             retrained_top1=[79.9, None])
    note = retrained_note(analysis, by_name)
    assert "(campaign `s-analyses-1`)" in note
    assert "SimCLR-Orig 79.90 (79.90), VICReg - (81.90)." in note  # VICReg's seed 2, not its seed 0


def _seeds(name, scores):
    return Summary(name, name, None, [RerunOutcome(name, seed, "completed", None, score, None, None, None, None)
                                      for seed, score in enumerate(scores)])


def test_the_holm_line_on_a_synthetic_seed_table():
    orig, vicreg = [80.0, 80.4, 79.6, 80.2, 79.8], [80.9, 80.1, 81.2, 80.4, 80.7]
    tuned = [80.8, 80.2, 81.3, 80.3, 80.6]
    by_name = {"SimCLR-Orig": _seeds("SimCLR-Orig", orig), "SimCLR-Tuned": _seeds("SimCLR-Tuned", tuned),
               "VICReg": _seeds("VICReg", vicreg)}
    verdicts = main_table_claims(by_name)
    # the reference: scipy's Welch tests (two one-sided ones for the tie), Holm's steps written out
    t, v = np.asarray(tuned), np.asarray(vicreg)
    p_values = [stats.ttest_ind(vicreg, orig, equal_var=False).pvalue,
                stats.ttest_ind(tuned, orig, equal_var=False).pvalue,
                2 * max(stats.ttest_ind(t + 1, v, equal_var=False, alternative="greater").pvalue,
                        stats.ttest_ind(t - 1, v, equal_var=False, alternative="less").pvalue)]
    assert [v.p_value for v in verdicts] == pytest.approx(p_values, rel=1e-9)
    order = np.argsort(p_values)
    assert p_values[order[0]] <= 0.05 / 3 and p_values[order[1]] > 0.05 / 2  # the second step fails
    assert all(v.outcome is Outcome.HELD for v in verdicts)  # each alone held
    assert holm_line(verdicts) == (
        "Taken together (Holm's step-down over the 3 main-table claims, family-wise 5%): 1 of the 3 decisive "
        "verdicts stand; these no longer do: Premise: VICReg beats SimCLR-Orig; Tuning SimCLR helps with the "
        "projector change included.")
