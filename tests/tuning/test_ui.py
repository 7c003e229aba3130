"""dualtune ui --optuna: a real optuna-dashboard on loopback over the campaigns' study
storage, rendered in headless Chromium, showing a study that is still being written."""
import json
import urllib.request

import optuna
import pytest
from typer.testing import CliRunner

from tests.chromium import render, visible_text
from tests.servers import dualtune_server
from tuning.cli import app

pytestmark = pytest.mark.service  # starts optuna-dashboard and Chromium


@pytest.fixture
def dashboard(tmp_path):
    runs = tmp_path / "runs"
    runs.mkdir()
    study = optuna.create_study(study_name="smoke-20261125-120000", storage=f"sqlite:///{runs / 'optuna.db'}")
    study.optimize(lambda t: t.suggest_float("optim.base_lr", 0.05, 5.0, log=True), n_trials=3)
    with dualtune_server(["ui", "--optuna", "--runs-dir", str(runs)], "/api/studies", wait_s=120) as (url, _):
        yield url, study


def test_the_dashboard_shows_the_campaigns_studies_live(dashboard, tmp_path):
    url, study = dashboard
    listing = visible_text(render(f"{url}/dashboard", tmp_path / "chromium"))
    assert "smoke-20261125-120000" in listing
    study.optimize(lambda t: t.suggest_float("optim.base_lr", 0.05, 5.0, log=True), n_trials=2)  # still running
    with urllib.request.urlopen(f"{url}/api/studies", timeout=10) as response:
        (summary,) = json.loads(response.read())["study_summaries"]
    with urllib.request.urlopen(f"{url}/api/studies/{summary['study_id']}", timeout=10) as response:
        trials = json.loads(response.read())["trials"]
    assert summary["study_name"] == "smoke-20261125-120000" and len(trials) == 5  # the two new ones too
    page = visible_text(render(f"{url}/dashboard/studies/{summary['study_id']}", tmp_path / "chromium"))
    assert "smoke-20261125-120000" in page and "optim.base_lr" in page


def test_the_dashboard_binds_loopback_only(dashboard):
    import psutil

    url, _ = dashboard
    port = int(url.rsplit(":", 1)[1])
    listening = {c.laddr.ip for c in psutil.net_connections("inet") if c.laddr.port == port and c.status == "LISTEN"}
    assert listening == {"127.0.0.1"}


def test_no_study_storage_is_a_clear_error(tmp_path):
    out = CliRunner().invoke(app, ["ui", "--optuna", "--runs-dir", str(tmp_path)])
    assert out.exit_code == 2 and "no Optuna study storage" in out.output
