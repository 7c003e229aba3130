"""Figure parts: saved and read back, the newest of each part found, their section chooses on
select and reports test; a study refuses a part named like its main part or an unknown one."""
import pytest
import yaml

from tuning.errors import SearchSpaceError
from tuning.reproduction.parts import PART_FILE, CellOutcome, PartOutcome, newest_parts, part_section
from tuning.reproduction.reruns import load_study


def _part(folder, part="fig2", started="2026-12-01 10:00:00 UTC", study="paper_fmnist"):
    cells = [CellOutcome({"norm": "embedding", "d": 32}, "completed", 84.0, 80.0, 79.0, 60.0),
             CellOutcome({"norm": "embedding", "d": 128}, "completed", 83.0, 86.0, 82.0, 61.0),  # best on test only
             CellOutcome({"norm": "centering", "d": 32}, "completed", 85.5, 84.4, 81.0, 59.0),
             CellOutcome({"norm": "centering", "d": 128}, "errored", None, None, None, None)]
    folder.mkdir(parents=True, exist_ok=True)
    return PartOutcome(study, part, "fig2_normalization_fmnist", "Fig. 2 twin", folder.name, str(folder), started,
                       120.0, ["norm", "d"], cells, {"baseline_raw_pixels_linear_probe_test_top1": 82.5})


def test_a_part_round_trips_and_the_newest_of_each_part_is_found(tmp_path):
    old, new = _part(tmp_path / "a"), _part(tmp_path / "b", started="2026-12-01 11:00:00 UTC")
    other = _part(tmp_path / "c", part="figS3")
    stranger = _part(tmp_path / "d", study="another", started="2026-12-02 00:00:00 UTC")
    for outcome in (old, new, other, stranger):
        outcome.save()
    assert PartOutcome.load(tmp_path / "a" / PART_FILE) == old
    assert [(p.part, p.folder) for p in newest_parts(tmp_path, "paper_fmnist")] == [
        ("fig2", new.folder), ("figS3", other.folder)]


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
    ({"main": "smoke"}, "'main' names the tuning arms and reruns"),
    ({"fig2": "no_such_space"}, "unknown search space 'no_such_space'"),
])
def test_bad_parts_are_refused_before_compute(tmp_path, parts, message):
    with pytest.raises(SearchSpaceError, match=message):
        load_study(_study(tmp_path, parts))


def test_the_paper_study_has_a_part_per_figure():
    study = load_study("paper-fmnist")
    assert study.part_names() == ["main", "fig2", "figS3", "figS6", "table_s5"]
    assert {study.part_space(p).name for p in study.parts} == {
        "fig2_normalization_fmnist", "figS3_similarity_fmnist", "figS6_projector_fmnist", "table_s5_fmnist"}
    with pytest.raises(SearchSpaceError, match="no figure part 'fig9'; its parts: main, fig2"):
        study.part_space("fig9")
