"""Saved outcomes: one save and load for every kind, read back equal (the shipped ones byte for
byte); a file an older dualtune wrote is refused naming what it lacks; only the study's own
parts are read back, in order."""
import json
from pathlib import Path

import pytest

from tests.tuning.reproduction.parts import fig2_part
from tuning.errors import SearchSpaceError
from tuning.reproduction.outcomes import (
    PartOutcome,
    StudyOutcome,
    TuneOutcome,
    outcome_path,
    saved_parts,
)


def test_the_saved_parts_of_the_study_are_read_back_in_order(tmp_path):
    fig2, s3 = fig2_part(tmp_path / "runs" / "a"), fig2_part(tmp_path / "runs" / "b", part="figS3")
    stranger = fig2_part(tmp_path / "runs" / "c", part="figS6", study="another")
    for outcome in (s3, fig2, stranger):
        outcome.save(outcome_path(tmp_path, outcome.part))
    assert outcome_path(tmp_path, "fig2") == tmp_path / "fig2.json"
    assert PartOutcome.load(tmp_path / "fig2.json") == fig2
    assert saved_parts(tmp_path, "paper_fmnist", ["fig2", "figS3", "figS6", "table_s5"]) == [fig2, s3]


def test_an_outcome_saved_by_an_older_dualtune_is_refused_naming_what_it_lacks(tmp_path):
    old = tmp_path / "main.json"
    old.write_text(json.dumps({"study": "paper_fmnist", "reruns": [], "arms": []}))
    with pytest.raises(SearchSpaceError, match=r"main.json was written by an older dualtune \(it lacks analysis, "
                                               r"baselines.*rerun that part"):
        StudyOutcome.load(old)


def _holds(saved, shipped) -> bool:
    """Whether ``saved`` holds everything ``shipped`` does (a newer config may add defaulted fields)."""
    if isinstance(shipped, dict):
        return isinstance(saved, dict) and all(k in saved and _holds(saved[k], v) for k, v in shipped.items())
    if isinstance(shipped, list):
        return isinstance(saved, list) and len(saved) == len(shipped) and all(map(_holds, saved, shipped))
    return saved == shipped


def test_every_shipped_outcome_is_read_back_and_saved_again_whole(tmp_path):
    shipped = Path(__file__).parents[3] / "docs" / "reproduction"
    kinds = {"tune": TuneOutcome, "main": StudyOutcome}
    saved = sorted(shipped.glob("*.json"))
    assert {"tune.json", "main.json"} <= {path.name for path in saved}
    for path in saved:
        kind = kinds.get(path.stem, PartOutcome)
        outcome = kind.load(path)
        again = outcome.save(tmp_path / path.name)
        assert _holds(json.loads(again.read_text()), json.loads(path.read_text())), path.name  # nothing lost
        assert kind.load(again) == outcome
        assert kind.load(again).save(tmp_path / "twice.json").read_text() == again.read_text()  # a fixed point
    main = StudyOutcome.load(shipped / "main.json")
    assert main.configs["SimCLR-Tuned"].loss.method == "simclr"  # configs come back as configs
    assert main.reruns[0].variant and main.analysis.names and main.paper["VICReg"].row == "VICReg"
