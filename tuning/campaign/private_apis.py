"""The private Ray, Optuna and optuna-dashboard APIs dualtune relies on, in one place.

Each is used because no public API does the job (named beside it).  ``problems()`` checks
that every one is still where the pinned versions keep it, with the parameters used here;
tests/tuning/campaign/test_private_apis.py fails with its list when an upgrade moves one.
"""
from __future__ import annotations

import contextlib
import importlib
import importlib.metadata
import inspect
import sys
from dataclasses import dataclass
from typing import Callable, Iterator

RAY_HEAD_NODE_RESOURCE = "node:__internal_head__"
"""Ray's resource of the head node: where a multi-worker trial's coordinator is placed."""


@dataclass(frozen=True)
class PrivateApi:
    package: str  # the distribution whose version pins it
    module: str
    attribute: str  # dotted inside ``module``
    parameters: tuple[str, ...] | None  # the parameters used here (None: not a function)
    why: str


APIS = (
    PrivateApi("ray", "ray._private.worker", "print_to_stdstream", ("data", "ignore_prefix"),
               "Ray's driver prints cluster messages with it; replaced to send them to driver.log"),
    PrivateApi("ray", "ray._private.authentication.authentication_token_setup",
               "maybe_enable_token_auth_if_token_available", ("warn_if_disabled",),
               "tells Ray's core the token mode after ray was imported, when joining a cluster"),
    PrivateApi("ray", "ray._private.state", "state.get_max_resources_from_cluster_config", (),
               "whether the cluster has an autoscaler that may add nodes"),
    PrivateApi("ray", "ray.tune.search.optuna", "OptunaSearch._ot_trials", None,
               "the Optuna trial behind a Tune trial, to tell the study how it really ended"),
    PrivateApi("ray", "ray.tune.search.optuna", "OptunaSearch._ot_study", None, "the searcher's Optuna study"),
    PrivateApi("ray", "ray.tune.search.optuna", "OptunaSearch._completed_trials", None,
               "the trials the searcher has already told the study about"),
    PrivateApi("ray", "ray.tune.schedulers.async_hyperband", "AsyncHyperBandScheduler._brackets", None,
               "ASHA's rungs, refilled from the recorded results when a campaign resumes (Tune saves no scheduler)"),
    PrivateApi("ray", "ray.tune.schedulers.async_hyperband", "AsyncHyperBandScheduler._trial_info", None,
               "the rung bracket of each trial, kept for a resumed trial"),
    PrivateApi("ray", "ray.tune.schedulers.async_hyperband", "_Bracket.on_result", ("trial", "cur_iter", "cur_rew"),
               "records a recorded result in its rung when ASHA's rungs are refilled"),
    PrivateApi("optuna", "optuna.trial", "Trial._trial_id", None, "the storage id of a running Optuna trial"),
    PrivateApi("optuna", "optuna.study", "Study._storage", None, "reads a trial's state without a copy of the study"),
    PrivateApi("optuna-dashboard", "optuna_dashboard._cli", "main", (), "optuna-dashboard's own command line"),
)


def _resolve(api: PrivateApi):
    target = importlib.import_module(api.module)
    for part in api.attribute.split("."):
        if part.startswith("_") and isinstance(target, type) and part not in vars(target):
            target = _instance_attribute(target, part)
        else:
            target = getattr(target, part)
    return target


def _instance_attribute(cls: type, name: str):
    """An attribute set in ``__init__`` (so not on the class): its source must assign it."""
    if f"self.{name} =" not in inspect.getsource(cls.__init__) and f"self.{name}:" not in inspect.getsource(cls):
        raise AttributeError(f"{cls.__name__} no longer sets {name}")
    return name


def problems() -> list[str]:
    """One line per private API that is gone or whose parameters changed, naming the installed version."""
    found = []
    for api in APIS:
        where = f"{api.module}.{api.attribute} ({api.package} {importlib.metadata.version(api.package)})"
        try:
            target = _resolve(api)
        except (ImportError, AttributeError, TypeError, OSError) as error:
            found.append(f"{where} is gone ({error}); dualtune uses it because it {api.why}")
            continue
        if api.parameters is not None:
            names = tuple(p for p in inspect.signature(target).parameters if p != "self")
            if names[:len(api.parameters)] != api.parameters:
                found.append(f"{where} now takes {names}, not {api.parameters}; dualtune uses it because it {api.why}")
    return found


@contextlib.contextmanager
def ray_driver_messages_to(write: Callable[[str], None]) -> Iterator[None]:
    """Ray's driver prints the cluster's error messages ("(raylet) The node ... has been marked
    dead ...") with ``print_to_stdstream`` on stdout; send them to ``write`` instead (no public
    hook exists)."""
    import ray._private.worker as ray_worker

    original = ray_worker.print_to_stdstream

    def to_write(data, ignore_prefix: bool) -> None:
        write("".join(f"({data.get('pid')}) {line}\n" for line in data.get("lines", [])))

    ray_worker.print_to_stdstream = to_write
    try:
        yield
    finally:
        ray_worker.print_to_stdstream = original


def enable_ray_token_auth_if_available() -> None:
    """RAY_AUTH_MODE=token when a token is at hand and no mode is set, with Ray's core told so
    (it read the mode when ray was imported), as Ray does for clusters it starts itself."""
    from ray._private.authentication.authentication_token_setup import maybe_enable_token_auth_if_token_available

    maybe_enable_token_auth_if_token_available(warn_if_disabled=False)


def ray_has_autoscaler() -> bool:
    """Whether Ray knows an autoscaler config (node types it may add)."""
    from ray._private.state import state

    return state.get_max_resources_from_cluster_config() is not None


def asha_brackets(scheduler) -> list:
    """The rung brackets of an ``AsyncHyperBandScheduler``."""
    return scheduler._brackets


def optuna_trial_of(search, trial_id: str):
    """The Optuna trial behind Tune trial ``trial_id`` in an ``OptunaSearch`` (None if unknown)."""
    return search._ot_trials.get(trial_id)


def optuna_study_of(search):
    return search._ot_study


def told_trials(search) -> set[str]:
    """The Tune trials an ``OptunaSearch`` has already told its study about (mutable)."""
    return search._completed_trials


def optuna_trial_finished(ot_trial) -> bool:
    """Whether the storage already holds this running Optuna trial as finished."""
    return ot_trial.study._storage.get_trial(ot_trial._trial_id).state.is_finished()


def optuna_reported_steps(ot_trial) -> set[int]:
    """The steps whose intermediate values the storage holds for this running Optuna trial."""
    return set(ot_trial.study._storage.get_trial(ot_trial._trial_id).intermediate_values)


def optuna_dashboard_command(storage_url: str, host: str, port: int) -> list[str]:
    """optuna-dashboard's own command line, run with this Python (it has no ``-m`` entry)."""
    return [sys.executable, "-c", "from optuna_dashboard._cli import main; main()", storage_url, "--host", host,
            "--port", str(port)]
