"""The layer rule over every package of tuning/: a module imports only from its own layer
or the layers below it, lowest first: one pretraining, the analysis of its checkpoints, a campaign's shared definitions,
its services, its records, the search, replay, the paper's reproduction, the command line.  And
tuning/run/ (one pretraining) uses none of a campaign's services: Optuna, MLflow, Ray Tune,
the search spaces."""
import ast
from pathlib import Path

import pytest

import tuning

LAYERS = (  # lowest first; a module's layer is its longest matching prefix
    "tuning.run",
    "tuning.analysis",  # reads what one pretraining wrote: its checkpoints
    "tuning.campaign",  # space, statuses, paths: what every room uses
    "tuning.campaign.services",
    "tuning.campaign.records",
    "tuning.campaign.search",
    "tuning.campaign.replay",  # plays recorded curves to the search's own decision-makers
    "tuning.reproduction",
    "tuning.cli",
    "tuning.tables",
)
RANK = {"tuning.tables": LAYERS.index("tuning.cli")}  # the CLI's tables sit beside it
ROOT = Path(tuning.__file__).parent.parent
CAMPAIGN_SERVICES = ("optuna", "mlflow", "ray.tune", "search_spaces")


def layer(module: str) -> int | None:
    """The rank of ``module``'s layer, or None outside the layered packages (config, errors)."""
    matches = [name for name in LAYERS if module == name or module.startswith(f"{name}.")]
    if not matches:
        return None
    longest = max(matches, key=len)
    return RANK.get(longest, LAYERS.index(longest))


def imported(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def upward_imports(path: Path) -> list[str]:
    module = ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
    own = layer(module)
    return sorted(f"{module} -> {name}" for name in imported(path)
                  if own is not None and (other := layer(name)) is not None and other > own)


def test_no_module_of_tuning_imports_from_a_layer_above_its_own():
    files = sorted((ROOT / "tuning").rglob("*.py"))
    assert len(files) >= 40
    offending = [line for path in files for line in upward_imports(path)]
    assert not offending, "imports that reach up a layer:\n" + "\n".join(offending)


@pytest.mark.parametrize("module, statement", [
    ("tuning/campaign/services/probe.py", "from tuning.campaign.records.results import TrialRow"),
    ("tuning/campaign/records/probe.py", "from tuning.campaign.search import driver"),
    ("tuning/campaign/probe.py", "from tuning.campaign.services import cluster"),
    ("tuning/campaign/search/probe.py", "from tuning.reproduction.study import load_study"),
    ("tuning/campaign/search/probe.py", "from tuning.campaign.replay.engine import replay"),
    ("tuning/campaign/replay/probe.py", "from tuning.reproduction.study import load_study"),
    ("tuning/reproduction/probe.py", "from tuning.cli import app"),
    ("tuning/run/probe.py", "import tuning.campaign.space"),
    ("tuning/run/probe.py", "from tuning.analysis.checkpoint import analyze"),
    ("tuning/analysis/probe.py", "from tuning.campaign.records.tracking import log_checkpoint_metrics"),
])
def test_the_rule_catches_an_import_that_reaches_up(tmp_path, monkeypatch, module, statement):
    monkeypatch.setattr(f"{__name__}.ROOT", tmp_path)
    path = tmp_path / module
    path.parent.mkdir(parents=True)
    path.write_text(statement + "\n")
    assert upward_imports(path)
    path.write_text("from tuning.run.reports import ONLINE_TOP1\nfrom tuning.config import PretrainConfig\n")
    assert not upward_imports(path)


def _uses_a_campaign_service(name: str) -> bool:
    return any(name == service or name.startswith(f"{service}.") for service in CAMPAIGN_SERVICES)


@pytest.mark.parametrize("package", ["run", "analysis"])
def test_one_pretraining_and_its_analysis_use_no_campaign_service(package):
    files = sorted((ROOT / "tuning" / package).glob("*.py"))
    assert len(files) >= 4
    offending = sorted(f"{path.name}: {name}" for path in files for name in imported(path)
                       if _uses_a_campaign_service(name))
    assert not offending, f"tuning/{package}/ uses a campaign's services: {offending}"


def test_the_service_rule_catches_each_service_and_lets_ray_train_pass(tmp_path):
    probe = tmp_path / "probe.py"
    for statement in ("import optuna", "from mlflow.tracking import MlflowClient", "from ray import tune",
                      "import ray.tune", "import search_spaces"):
        probe.write_text(statement + "\n")
        assert any(_uses_a_campaign_service(name) for name in imported(probe)), statement
    probe.write_text("import ray.train\nfrom tuning.config import PretrainConfig\n")
    assert not any(_uses_a_campaign_service(name) for name in imported(probe))
