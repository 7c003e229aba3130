"""Stopping a real campaign at a drawn moment and reading back everything it recorded.

A draw is a seed: it picks how many times the campaign is interrupted, when (seconds after the
driver started, up to the uninterrupted campaign's length) and how (``dualtune stop``, SIGINT to
the driver's process group as Ctrl-C sends it, SIGKILL of the driver and the local Ray cluster it
started).  Each stop is followed by the resume command a user would run: the one the driver
printed, or (after SIGKILL, when nothing is printed) the one ``dualtune status`` prints.

``records`` reads a finished campaign as every view shows it: Tune's ``result.json`` files,
``dualtune status --format json``, MLflow's runs and metric histories, the exported best config
and replay's reading of the campaign.  Trial ids are Tune's random ids, so trials are keyed by
their sampled values; times and ids are left out, every other value is compared.
"""
from __future__ import annotations

import json
import os
import random
import re
import shlex
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from tuning.run import reports

STOP_WAYS = ("stop", "sigint", "sigkill")
COMPARED_KEYS = (reports.EPOCH, reports.RUN_STATE, reports.LOSS, reports.ONLINE_TOP1, reports.FROZEN_RIDGE_SELECT_TOP1,
                 reports.FROZEN_KNN_SELECT_TOP1, reports.LINEAR_PROBE_SELECT_TOP1, reports.LINEAR_PROBE_TEST_TOP1,
                 "rankme", "embedding_std", "training_iteration")
"""The values of a report that training determines (times, ids and hosts are left out)."""


def cli(*args: str) -> list[str]:
    """A ``dualtune`` command as this interpreter runs it (the venv's bin may not be on PATH)."""
    return [sys.executable, "-m", "tuning.cli", *args]


def as_printed(line: str) -> list[str]:
    """The ``dualtune ...`` command at the end of a printed line, to run as printed."""
    words = shlex.split(line[line.index("dualtune "):])
    return cli(*words[1:])


@dataclass
class Stop:
    """One interruption: ``at_s`` seconds after the driver started, by ``way``."""
    at_s: float
    way: str
    moment: str = ""  # what the campaign was doing when it came (filled in when it lands)


@dataclass
class Draw:
    """A seeded plan of interruptions; ``stops`` fill in their moments as they land."""
    seed: int
    stops: list[Stop] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # what a stop itself said wrong (see ``check_stopped``)

    @classmethod
    def of(cls, seed: int, length_s: float, ways: tuple[str, ...] = STOP_WAYS) -> Draw:
        rng = random.Random(seed)
        count = rng.choice((1, 1, 2, 3))
        return cls(seed, [Stop(rng.uniform(1.0, length_s), rng.choice(ways)) for _ in range(count)])

    def describe(self) -> str:
        said = ", ".join(f"{s.way} at {s.at_s:.1f} s ({s.moment or 'not reached'})" for s in self.stops)
        return f"draw seed {self.seed}: {said}"


def moment(runs: Path, epochs: int) -> str:
    """What the campaign was doing, read from its files: no trial folder yet, a trial created
    but not yet reporting (pending), a checkpoint stored whose report is not recorded yet, a
    trial in its last epoch or its final probes, mid-epoch, or every trial finished."""
    trials = sorted((runs / "ray").glob("*/run_trial_*"))
    if not trials:
        return "before any trial"
    lines = [_lines(t / "result.json") for t in trials]
    checkpoints = [len(list(t.glob("checkpoint_*"))) for t in trials]
    if all(not n for n in lines):
        return "before the first report"
    if any(c > min(n, 2) for c, n in zip(checkpoints, lines)):
        return "between a checkpoint and its report"
    if any(not n for n in lines):
        return "while a trial is pending"
    if any(n == epochs - 1 for n in lines):
        return "in a last epoch or its final probes"
    return "mid-epoch"


def _lines(path: Path) -> int:
    return len(path.read_text().splitlines()) if path.is_file() else 0


def start(runs: Path, space: Path, name: str, log: Path) -> subprocess.Popen:
    """The campaign's driver, in a process group of its own (as a terminal starts it)."""
    with log.open("a") as out:
        return subprocess.Popen(cli("tune", "--space", str(space), "--name", name, "--runs-dir", str(runs)),
                                stdout=out, stderr=subprocess.STDOUT, start_new_session=True)


def interrupt(driver: subprocess.Popen, stop: Stop, runs: Path, name: str, epochs: int) -> str | None:
    """Interrupt ``driver`` as ``stop`` says, once it has run ``stop.at_s``; the resume command
    printed for it (None when the campaign had already ended)."""
    started = time.monotonic()
    while driver.poll() is None and time.monotonic() - started < stop.at_s:
        time.sleep(0.05)
    if driver.poll() is not None:
        return None
    stop.moment = moment(runs, epochs)
    if stop.way == "stop":
        said = subprocess.run(cli("stop", name, "--runs-dir", str(runs)), capture_output=True, text=True, timeout=60)
        if driver.wait(timeout=300) == 0:  # the stop came as the campaign finished: nothing to resume
            return None
        return next((line for line in said.stdout.splitlines() if "--resume" in line), None)
    os.killpg(driver.pid, signal.SIGINT if stop.way == "sigint" else signal.SIGKILL)
    if driver.wait(timeout=300) == 0:
        return None
    if stop.way == "sigkill":
        _reap_ray(runs)
    return next_command(runs, name)


def next_command(runs: Path, name: str) -> str | None:
    """What a user runs after a driver died without a word: the resume command ``status`` prints
    (None when it prints none: the campaign had finished); with no campaign to show yet, the
    original command again, or (when that says the campaign exists) the command its error names."""
    said = subprocess.run(cli("status", name, "--runs-dir", str(runs)), capture_output=True, text=True, timeout=120)
    if said.returncode == 0:
        return next((line for line in said.stdout.splitlines() if "dualtune tune --resume" in line), None)
    if (runs / name / "campaign.json").is_file():
        return f"dualtune tune --resume {name} --runs-dir {runs}"  # as the refusal to start it again says
    return "dualtune tune (started again)"


def _reap_ray(runs: Path) -> None:
    """After SIGKILL of a driver's process group, let the local cluster's orphans go (a node
    left by a lost head exits by itself; wait for its ports to close)."""
    time.sleep(2)


def check_stopped(runs: Path, name: str, log: Path, stop: Stop) -> list[str]:
    """A stopped campaign as its user finds it: ``status`` lists every started trial, the
    unfinished ones as stopped, and (unless the driver was killed) the driver's summary counts
    the same unfinished trials and prints the command that resumes them."""
    started = len(list((runs / "ray").glob(f"{name}*/run_trial_*/params.json")))
    said = subprocess.run(cli("status", name, "--runs-dir", str(runs), "--format", "json"), capture_output=True,
                          text=True)
    if said.returncode:  # no trial run in MLflow yet
        return [] if not started else [f"after {stop.way}: status failed with {started} trials started"]
    trials = json.loads(said.stdout)["trials"]
    stopped = sum(t["status"] == "stopped" for t in trials)
    # A trial created just before the stop has its MLflow run while its folder may not have reached
    # storage yet: status must list at least every trial with a folder
    problems = [] if len(trials) >= started else [f"after {stop.way}: status lists {len(trials)} of {started}"]
    if stop.way != "sigkill":
        summary = r"stopped with (\d+) trials unfinished.*?continue it: dualtune tune --resume"
        said = re.findall(summary, log.read_text(), flags=re.S)
        if not said or int(said[-1]) != stopped:
            problems.append(f"after {stop.way}: the summary says {said[-1:] or 'nothing'} unfinished, status {stopped}")
    return problems


def run_with_stops(runs: Path, space: Path, name: str, draw: Draw, epochs: int, log: Path) -> None:
    """Run the campaign, interrupting it as ``draw`` says and resuming it each time as printed,
    to its end."""
    driver = start(runs, space, name, log)
    for stop in draw.stops:
        line = interrupt(driver, stop, runs, name, epochs)
        if line is None:  # the campaign had ended, before the stop or as it came
            failed = f"{draw.describe()}: the driver failed\n{log.read_text()[-4000:]}"
            assert stop.moment or driver.returncode == 0, failed
            finished = json.loads(subprocess.run(cli("status", name, "--runs-dir", str(runs), "--format", "json"),
                                                 capture_output=True, text=True, check=True).stdout)
            assert finished["resume"] is None, f"{draw.describe()}: nothing to resume, yet status says {finished}"
            return
        if "(started again)" in line:
            with log.open("a") as out:
                out.write(f"\n### {stop.way} ({stop.moment}) before the campaign existed: started again\n")
            driver = start(runs, space, name, log)
            continue
        draw.problems += check_stopped(runs, name, log, stop)
        with log.open("a") as out:
            out.write(f"\n### {stop.way} ({stop.moment}); resuming with: {line.strip()}\n")
            out.flush()
            driver = subprocess.Popen(as_printed(line), stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    assert driver.wait(timeout=900) == 0, f"{draw.describe()}: the last driver failed\n{log.read_text()[-4000:]}"


def _key(config: dict, params: list[str]) -> str:
    return json.dumps({p: config.get(p) for p in params}, sort_keys=True)


def records(runs: Path, name: str, params: list[str]) -> dict:
    """Everything the campaign recorded, by view, its trials keyed by their searched values."""
    from mlflow.tracking import MlflowClient

    from tuning.campaign.records.tracking import Tags

    tune_view = {}
    for result_json in (runs / "ray").glob(f"{name}*/run_trial_*/result.json"):
        results = [json.loads(line) for line in result_json.read_text().splitlines() if line.strip()]
        config = json.loads((result_json.parent / "params.json").read_text())
        tune_view[_key(config, params)] = [{k: r.get(k) for k in COMPARED_KEYS} for r in results]
    status = json.loads(subprocess.run(cli("status", name, "--runs-dir", str(runs), "--format", "json"),
                                       capture_output=True, text=True, check=True).stdout)
    status_view = {_key(t, params): {"status": t["status"], "epochs": t["epochs"], "best": t["best"]}
                   for t in status["trials"]}
    client = MlflowClient(f"sqlite:///{runs / 'mlflow.db'}")
    experiment = client.get_experiment_by_name(name) or client.search_experiments()[-1]
    mlflow_view, parents = {}, []
    for run in client.search_runs([experiment.experiment_id], f"tags.`{Tags.CAMPAIGN}` = '{name}'"):
        if Tags.TRIAL_ID not in run.data.tags:
            parents.append({"status": run.info.status, "dualtune.status": run.data.tags.get(Tags.TRIAL_STATUS)})
            continue
        sampled = {p: float(run.data.params[p]) for p in params}
        key = _key(sampled, params)
        history = {metric: [(m.step, m.value) for m in sorted(client.get_metric_history(run.info.run_id, metric),
                                                              key=lambda m: m.step)]
                   for metric in (reports.LOSS, reports.FROZEN_RIDGE_SELECT_TOP1)}
        mlflow_view.setdefault(key, []).append({"status": run.info.status,
                                                "trial_status": run.data.tags.get(Tags.TRIAL_STATUS),
                                                **history})
    exported = yaml.safe_load((runs / name / "best_config.yaml").read_text())
    exported.pop("provenance", None)
    return {"tune": tune_view, "status": status_view, "mlflow": mlflow_view, "parents": parents,
            "export": exported}


def differences(reference: dict, got: dict, prefix: str = "") -> list[str]:
    """Where ``got`` differs from ``reference``, one line a difference (floats to 1e-9)."""
    if isinstance(reference, dict) and isinstance(got, dict):
        out = []
        for key in sorted(set(reference) | set(got), key=str):
            if key not in got:
                out.append(f"{prefix}/{key}: missing")
            elif key not in reference:
                out.append(f"{prefix}/{key}: not in the reference ({str(got[key])[:200]})")
            else:
                out += differences(reference[key], got[key], f"{prefix}/{key}")
        return out
    if isinstance(reference, list) and isinstance(got, list) and len(reference) == len(got):
        return [line for i, (a, b) in enumerate(zip(reference, got)) for line in differences(a, b, f"{prefix}[{i}]")]
    if isinstance(reference, float) and isinstance(got, float) and abs(reference - got) <= 1e-9:
        return []
    return [] if reference == got else [f"{prefix}: {str(got)[:300]} (reference: {str(reference)[:300]})"]


def inconsistencies(runs: Path, name: str, params: list[str], recorded: dict) -> list[str]:
    """What must hold however timing went (two trials at a time, where ASHA's choices depend on
    it): every started trial in every view; each trial's epochs 1..n once, Tune's iteration the
    epoch; the same epoch counts in result.json, ``status`` and MLflow; one MLflow run a trial;
    the parent run closed and its status tag saying so; the exported best a completed trial."""
    found = []
    started = {_key(json.loads(p.read_text()), params) for p in (runs / "ray").glob(f"{name}*/run_trial_*/params.json")}
    for view in ("tune", "status", "mlflow"):
        missing = started - set(recorded[view])
        if missing:
            found.append(f"{view} lacks started trials {sorted(missing)}")
    for key, results in recorded["tune"].items():
        epochs = [r[reports.EPOCH] for r in results]
        if epochs != list(range(1, len(epochs) + 1)):
            found.append(f"{key}: result.json epochs {epochs}")
        if [r["training_iteration"] for r in results] != epochs:
            found.append(f"{key}: training_iteration {[r['training_iteration'] for r in results]} for epochs {epochs}")
        counts = {"tune": len(epochs), "status": recorded["status"].get(key, {}).get("epochs"),
                  "mlflow": [len(run[reports.LOSS]) for run in recorded["mlflow"].get(key, [])]}
        if counts["status"] != len(epochs) or counts["mlflow"] != [len(epochs)]:
            found.append(f"{key}: epochs counted {counts}")
        for run in recorded["mlflow"].get(key, []):
            if [step for step, _ in run[reports.LOSS]] != epochs:
                found.append(f"{key}: MLflow steps {[step for step, _ in run[reports.LOSS]]}")
    if recorded["parents"] != [{"status": "FINISHED", "dualtune.status": "completed"}]:
        found.append(f"parent runs {recorded['parents']}")
    best = [key for key, trial in recorded["status"].items() if trial["best"]]
    if len(best) != 1 or recorded["status"][best[0]]["status"] != "completed":
        found.append(f"best trials {best}")
    return found
