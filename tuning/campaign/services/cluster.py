"""Starting or joining the Ray cluster, the resources a trial holds, and checking a trial
fits on the cluster before launch."""
from __future__ import annotations

import logging
import os
import socket
from contextlib import contextmanager
from pathlib import Path

import ray

from tuning.campaign.private_apis import RAY_HEAD_NODE_RESOURCE, enable_ray_token_auth_if_available
from tuning.campaign.private_apis import ray_has_autoscaler as has_autoscaler
from tuning.config import PretrainConfig
from tuning.errors import ClusterError

logger = logging.getLogger("dualtune")

ON_THE_HEAD_NODE = {RAY_HEAD_NODE_RESOURCE: 0.001}  # a coordinator's place
PROJECT_ROOT = Path(__file__).resolve().parents[3]
SHIPPING_EXCLUDES = [".venv/", "runs/", ".git/", "*.beton", "mlruns/", "mlartifacts/", "*.db", "__pycache__/",
                     ".pytest_cache/", ".hypothesis/"]


RAY_JOB_ENV = "RAY_JOB_CONFIG_JSON_ENV_VAR"  # set by Ray on the driver of a submitted job (its runtime_env)
JOB_WORKING_DIRS = "runtime_resources/working_dir_files"  # where Ray unpacks a job's working_dir, per job


def code_runtime_env() -> dict:
    """The runtime_env that ships this source checkout to a cluster's workers (its
    ``working_dir`` goes on their import path); empty when dualtune is installed as a
    package, which the cluster's nodes then need too, and in a submitted Ray job, whose own
    ``--working-dir`` already ships the code (Ray refuses to merge a second one)."""
    if not (PROJECT_ROOT / "pyproject.toml").is_file() or RAY_JOB_ENV in os.environ:
        return {}
    return {"working_dir": str(PROJECT_ROOT), "excludes": SHIPPING_EXCLUDES}


def check_outlives_job(path: Path, flag: str) -> None:
    """Refuse a runs folder or store file (``flag`` names where it came from) inside a Ray
    job's temporary working directory: it is deleted with the job, and the campaign's MLflow
    and Optuna records with it."""
    if JOB_WORKING_DIRS in str(Path(path).resolve()):
        raise ClusterError(f"{flag} {path} lies in this Ray job's temporary working directory, which Ray "
                           "deletes with the job (and the campaign's MLflow and Optuna records with it); give an "
                           f"absolute path on storage that outlives the job, e.g. {flag} /shared/dualtune, or "
                           "shared stores: --tracking-uri http://MLFLOW-SERVER:5000 --optuna-storage postgresql://...")


def connect(address: str | None, num_cpus: int | None = None) -> None:
    """Join ``address`` ("auto", "ray://host:port", "host:port"), shipping the code to its
    workers, or start a private local cluster.  A local cluster gets ``num_cpus`` logical
    CPUs (default: twice the cores plus one, so two-worker trials can share a small
    machine); its dashboard binds 127.0.0.1."""
    os.environ.setdefault("RAY_TRAIN_HEALTH_CHECK_INTERVAL_S", "0.2")
    if ray.is_initialized():
        return
    if address:
        _join(address)
        return
    with pinned_local_address():
        ray.init(address="local", num_cpus=num_cpus or 2 * (os.cpu_count() or 1) + 1,
                 object_store_memory=256 * 1024 ** 2, include_dashboard=True, dashboard_host="127.0.0.1",
                 log_to_driver=False, configure_logging=False)


@contextmanager
def pinned_local_address():
    """While a private cluster starts, give it a GCS port chosen here and name it in RAY_ADDRESS,
    so that every process the cluster starts inherits its own address (this process's
    environment is restored after).  Ray's actors look their cluster up by "auto" (Ray Train's
    placement-group cleaner does): with a second campaign's cluster on the same machine that
    lookup fails, the cleaner dies, stopped trials' CPUs are never released, and the next
    trials wait for their workers for ever.  ``ray.init(address="local")`` ignores RAY_ADDRESS."""
    with socket.socket() as probe:
        probe.bind(("", 0))
        port = probe.getsockname()[1]
    pinned = {"RAY_GCS_SERVER_PORT": str(port), "RAY_ADDRESS": f"{ray.util.get_node_ip_address()}:{port}"}
    before = {name: os.environ.get(name) for name in pinned}
    os.environ.update(pinned)
    try:
        yield
    finally:
        for name, value in before.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _check_reachable(address: str) -> None:
    """A quick TCP probe of a "host:port" or "ray://host:port" address (Ray itself retries an
    unreachable one for minutes); "auto" is left to Ray."""
    host_port = address.split("://", 1)[-1]
    if address == "auto" or ":" not in host_port:
        return
    host, port = host_port.rsplit(":", 1)
    hosts = [host]
    if host in ("127.0.0.1", "localhost"):  # Ray connects to a loopback address via this node's address
        hosts.append(ray.util.get_node_ip_address())
    errors = []
    for candidate in hosts:
        try:
            socket.create_connection((candidate, int(port)), timeout=5).close()
            return
        except (OSError, ValueError) as error:
            errors.append(f"{candidate}: {error}")
    raise ClusterError(f"cannot join the Ray cluster at {address!r}: nothing answers there ({'; '.join(errors)}); "
                       "start it with `ray start --head` or check the address")


def _join(address: str) -> None:
    """Connect to a running cluster.  Like Ray does for clusters it starts itself, use token
    authentication when a token is at hand and RAY_AUTH_MODE is not set."""
    enable_ray_token_auth_if_available()
    _check_reachable(address)
    try:
        ray.init(address=address, runtime_env=code_runtime_env(), log_to_driver=False, configure_logging=False)
    except (ConnectionError, RuntimeError) as error:
        raise ClusterError(f"cannot join the Ray cluster at {address!r}: {error}. Check the address, and that "
                           "RAY_AUTH_MODE and RAY_AUTH_TOKEN (or ~/.ray/auth_token) match the cluster's") from None


def runs_in_trial_process(cfg: PretrainConfig) -> bool:
    """One-worker runs train in the Tune trial's process: no Train worker group to start."""
    return cfg.resources.workers == 1


def trial_function_resources(cfg: PretrainConfig) -> dict[str, float]:
    """What the Tune trial's own process asks for (Tune's lower-case resource names).  A
    multi-worker trial's process only coordinates (it and Train's controller, which Train
    puts on the same node, use no CPU): it runs on the head node, beside the driver, so a
    lost worker node never takes a trial's coordinator, only workers that Train restarts."""
    if runs_in_trial_process(cfg):
        return {"cpu": cfg.resources.cpus_per_worker, "gpu": cfg.resources.gpus_per_worker}
    return {"cpu": 0.0, **ON_THE_HEAD_NODE}


def trial_demand(cfg: PretrainConfig) -> dict[str, float]:
    """CPUs and GPUs one trial holds: its Train workers plus the Tune function."""
    own = trial_function_resources(cfg)
    workers = 0 if runs_in_trial_process(cfg) else cfg.resources.workers
    return {"CPU": workers * cfg.resources.cpus_per_worker + own["cpu"],
            "GPU": workers * cfg.resources.gpus_per_worker + own.get("gpu", 0.0)}


def alive_nodes() -> list[dict[str, float]]:
    """Each live node's resources."""
    return [node["Resources"] for node in ray.nodes() if node.get("Alive")]


def check_fits(cfg: PretrainConfig, nodes: list[dict[str, float]] | None = None) -> None:
    """Raise a clear error when one trial cannot be placed on the cluster's nodes (otherwise
    Ray would wait for them forever): its total against the cluster's, each worker against
    the largest node (a worker runs on one node), and the placement strategy's own rule."""
    nodes = nodes if nodes is not None else alive_nodes()
    res = cfg.resources
    demand = trial_demand(cfg)
    for resource, needed in demand.items():
        have = sum(float(node.get(resource, 0.0)) for node in nodes)
        if needed > have + 1e-9:
            raise ClusterError(
                f"one trial needs {needed:g} {resource} (resources.workers={res.workers} x "
                f"{'cpus' if resource == 'CPU' else 'gpus'}_per_worker="
                f"{res.cpus_per_worker if resource == 'CPU' else res.gpus_per_worker}) "
                f"but the cluster has {have:g}; lower resources.* or add nodes")
    worker = {"CPU": res.cpus_per_worker, "GPU": res.gpus_per_worker}
    holding = [node for node in nodes if _holds(node, worker)]
    if not holding:
        largest = max(nodes, key=lambda n: (n.get("GPU", 0.0), n.get("CPU", 0.0)), default={})
        raise ClusterError(f"one worker needs {res.cpus_per_worker:g} CPU and {res.gpus_per_worker:g} GPU on one "
                           f"node, but the largest node has {largest.get('CPU', 0.0):g} CPU and "
                           f"{largest.get('GPU', 0.0):g} GPU; lower resources.cpus_per_worker / gpus_per_worker")
    if res.placement_strategy == "STRICT_PACK" and not any(_holds(node, demand) for node in nodes):
        raise ClusterError(f"placement_strategy STRICT_PACK puts the whole trial ({demand['CPU']:g} CPU, "
                           f"{demand['GPU']:g} GPU) on one node, and no node has that; use PACK or fewer workers")
    if res.placement_strategy == "STRICT_SPREAD" and res.workers > len(holding):
        raise ClusterError(f"placement_strategy STRICT_SPREAD puts each of the {res.workers} workers on its own "
                           f"node, and only {len(holding)} nodes can hold one; use SPREAD or fewer workers")


def check_fits_or_warn(cfg: PretrainConfig) -> None:
    """``check_fits`` before a campaign's first trial; where an autoscaler could add nodes
    that hold the trial, only a warning (saying so), and the trials wait for those nodes."""
    try:
        check_fits(cfg)
    except ClusterError as error:
        if not has_autoscaler():
            raise
        logger.warning("%s. The cluster has an autoscaler, so the campaign starts anyway and its trials wait "
                       "for the nodes it adds", error)


def _holds(node: dict[str, float], need: dict[str, float]) -> bool:
    return all(float(node.get(resource, 0.0)) + 1e-9 >= amount for resource, amount in need.items())
