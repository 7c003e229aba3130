"""The shipped search spaces (``NAME.yaml``), presets (``presets/NAME.yaml``) and studies
(``studies/NAME.yaml``) as data, and their lookup by name or path.  Their models and checks
live in tuning.campaign.space and tuning.reproduction.study."""
from __future__ import annotations

from pathlib import Path

SPACES_DIR = Path(__file__).resolve().parent
PRESETS_DIR = SPACES_DIR / "presets"
STUDIES_DIR = SPACES_DIR / "studies"
YAML_SUFFIXES = (".yaml", ".yml")


def list_spaces() -> list[str]:
    """Names of the shipped search spaces."""
    return sorted(p.stem for p in SPACES_DIR.glob("*.yaml"))


def list_presets() -> list[str]:
    """Names of the shipped presets (full configs)."""
    return sorted(p.stem for p in PRESETS_DIR.glob("*.yaml"))


def list_studies() -> list[str]:
    """Names of the shipped studies (campaigns and reruns that reproduce the paper's claims)."""
    return sorted(p.stem for p in STUDIES_DIR.glob("*.yaml"))


def looks_like_path(name_or_path: str) -> bool:
    """Whether the user meant a file (a YAML suffix or a folder in it), not a shipped name."""
    return Path(name_or_path).suffix in YAML_SUFFIXES or "/" in name_or_path


def find_space(name_or_path: str) -> Path | None:
    """The YAML file of a shipped space name or of a path; None if there is none."""
    return _find(name_or_path, SPACES_DIR)


def find_preset(name_or_path: str) -> Path | None:
    """The YAML file of a shipped preset name or of a config path; None if there is none."""
    return _find(name_or_path, PRESETS_DIR)


def find_study(name_or_path: str) -> Path | None:
    """The YAML file of a shipped study name (``paper-fmnist`` or ``paper_fmnist``) or of a path."""
    return _find(name_or_path if looks_like_path(name_or_path) else name_or_path.replace("-", "_"), STUDIES_DIR)


def _find(name_or_path: str, directory: Path) -> Path | None:
    if looks_like_path(name_or_path):
        path = Path(name_or_path)
        return path if path.is_file() else None
    named = directory / f"{name_or_path}.yaml"
    return named if named.is_file() else None
