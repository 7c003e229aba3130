"""The study's report (docs/reproduction.md): our numbers beside the paper's."""
from __future__ import annotations

from pathlib import Path

from tuning.campaign.study import StudyOutcome


def write_report(outcome: StudyOutcome, path: Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [f"# {outcome.study}", ""]
    for r in outcome.reruns:
        lines.append(f"- {r.variant} seed {r.seed}: {r.status} online {r.online_top1} linear {r.linear_probe_top1}")
    path.write_text("\n".join(lines) + "\n")
    return path
