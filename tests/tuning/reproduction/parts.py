"""A small figure part's outcome for the reproduction tests: a Fig. 2 twin of four cells, the best
on select not the best on test, one errored."""
from pathlib import Path

from tuning.reproduction.outcomes import CellOutcome, PartOutcome


def fig2_part(folder: Path, part: str = "fig2", study: str = "paper_fmnist") -> PartOutcome:
    """The four-cell part ``part`` of ``study``, as if its campaign ran in ``folder``."""
    cells = [CellOutcome({"norm": "embedding", "d": 32}, "completed", 84.0, 80.0, 79.0, 60.0),
             CellOutcome({"norm": "embedding", "d": 128}, "completed", 83.0, 86.0, 82.0, 61.0),  # best on test only
             CellOutcome({"norm": "centering", "d": 32}, "completed", 85.5, 84.4, 81.0, 59.0),
             CellOutcome({"norm": "centering", "d": 128}, "errored", None, None, None, None)]
    return PartOutcome(study, part, "fig2_normalization_fmnist", "Fig. 2 twin", folder.name, str(folder),
                       "2026-12-01 10:00:00 UTC", 120.0, ["norm", "d"], cells,
                       {"baseline_raw_pixels_linear_probe_test_top1": 82.5}, probe_crop=1.0)
