"""Campaign control from outside the driver: durations, the launch deadline the searcher
obeys, and ``dualtune stop`` reaching a real driver process (or saying there is none)."""
import json
import subprocess
import sys
import time

import pytest
from ray.tune.search import Searcher

from tuning.campaign.paths import RunsFolder
from tuning.campaign.search.control import launch_deadline, parse_duration, request_stop, write_control
from tuning.campaign.search.searcher import build_searcher
from tuning.campaign.services.stores import Stores
from tuning.campaign.space import SearchSpace
from tuning.errors import ConfigError, StoreError


@pytest.mark.parametrize("text,seconds", [("90s", 90), ("30m", 1800), ("48h", 172800), ("2d", 172800),
                                          ("1h30m", 5400), ("0.5h", 1800)])
def test_durations(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["48", "h", "2 days", "-1h", "0s", "1h 30m"])
def test_bad_durations_name_the_value_and_the_form(text):
    with pytest.raises(ConfigError, match=f"--time-budget '{text}'"):
        parse_duration(text)


def test_no_trial_is_launched_after_the_deadline(tmp_path):
    runs = RunsFolder(tmp_path)
    runs.campaign_dir("c").mkdir()
    space = SearchSpace(name="s", base="digits-simclr", num_samples=4,
                        params={"optim.base_lr": {"distribution": "float", "low": 0.1, "high": 1.0}})
    searcher = build_searcher(space, "c", Stores.default(runs), runs.control_file("c"))
    searcher.set_search_properties("online_select_top1", "max", {})
    write_control(runs, "c", time_budget_s=3600)
    assert launch_deadline(runs.control_file("c")) == pytest.approx(time.time() + 3600, abs=60)
    assert isinstance(searcher.suggest("t1"), dict)  # within the budget: a config
    write_control(runs, "c", time_budget_s=1e-3)
    time.sleep(0.01)
    assert searcher.suggest("t2") == Searcher.FINISHED  # past it: no more trials
    write_control(runs, "c", time_budget_s=None)  # a resume without a budget lifts it
    assert isinstance(searcher.suggest("t3"), dict)


@pytest.mark.service  # starts a process
def test_stop_signals_the_running_driver(tmp_path):
    runs = RunsFolder(tmp_path)
    runs.campaign_dir("c").mkdir()
    received = tmp_path / "received"
    # A stand-in driver: a real process named like one, which records the signal it gets.
    driver = subprocess.Popen([sys.executable, "-c", "import signal, sys, time, pathlib; "
                               f"signal.signal(signal.SIGUSR1, lambda *_: (pathlib.Path({str(received)!r})"
                               ".write_text('stop'), sys.exit(0))); time.sleep(60)", "tuning.cli", "tune"])
    try:
        runs.control_file("c").write_text(json.dumps({"driver_pid": driver.pid, "launch_until": None}))
        time.sleep(1)  # let it install its handler
        assert request_stop(runs, "c") == driver.pid
        assert driver.wait(timeout=30) == 0 and received.read_text() == "stop"
    finally:
        driver.kill()
    with pytest.raises(StoreError, match="has no running driver .pid .* is gone"):
        request_stop(runs, "c")
    with pytest.raises(StoreError, match="no campaign 'other'"):
        request_stop(runs, "other")
