"""The layer rule: tuning/run/ (one pretraining) never reaches the campaign layer, the search
spaces, or the campaign's services (Optuna, MLflow, Ray Tune)."""
import ast
from pathlib import Path

import tuning.run

FORBIDDEN = ("optuna", "mlflow", "ray.tune", "tuning.campaign", "tuning.reproduction", "search_spaces")
RUN_DIR = Path(tuning.run.__file__).parent


def _imported_modules(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def _forbidden(name: str) -> bool:
    return any(name == bad or name.startswith(f"{bad}.") for bad in FORBIDDEN)


def test_the_run_layer_imports_no_campaign_code():
    files = sorted(RUN_DIR.glob("*.py"))
    assert len(files) >= 7
    offending = {f"{path.name}: {name}" for path in files for name in _imported_modules(path) if _forbidden(name)}
    assert not offending, f"tuning/run/ reaches the campaign layer: {sorted(offending)}"


def test_the_rule_catches_each_forbidden_import(tmp_path):
    for statement in ("import optuna", "from mlflow.tracking import MlflowClient", "from ray import tune",
                      "import ray.tune", "from tuning.campaign.space import SearchSpace", "import search_spaces"):
        path = tmp_path / "probe.py"
        path.write_text(statement + "\n")
        assert any(_forbidden(name) for name in _imported_modules(path)), statement
    (tmp_path / "probe.py").write_text("import ray.train\nfrom tuning.config import PretrainConfig\n")
    assert not any(_forbidden(name) for name in _imported_modules(tmp_path / "probe.py"))
