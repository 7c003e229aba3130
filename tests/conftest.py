"""Shared fixtures: one real local Ray cluster for the tests that need it."""
import os
import platform

import pytest

os.environ.setdefault("RAY_TRAIN_HEALTH_CHECK_INTERVAL_S", "0.2")

# MLflow's telemetry reads platform.processor() when mlflow is first imported, which runs
# `uname -p` once and caches it: run it now, so that whichever unit test imports mlflow first
# is not refused a subprocess by the guard below.
platform.processor()

# torch's first import runs `ldconfig -p` (to find libdl for its CUDA bindings): import it now,
# so that a unit test that happens to import it first is not refused a subprocess either.
import torch  # noqa: E402, F401


@pytest.fixture(scope="session")
def ray_cluster():
    """A private local Ray cluster (address="local"), never a stale one on this machine."""
    import ray

    from tuning.campaign.services import cluster

    cluster.connect(None, num_cpus=5)
    yield ray
    ray.shutdown()


SERVICE_FIXTURES = {"ray_cluster"}
"""Fixtures that start a service: a test using one is marked ``service`` without saying so."""


def pytest_collection_modifyitems(items):
    """Slow tests and tests on a service fixture are ``service`` tests (not in ``make test-fast``)."""
    for item in items:
        if item.get_closest_marker("slow") or SERVICE_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.service)


def _refused(what: str):
    """Stands in for ``what`` in a unit test: the fast suite starts no process."""

    def refuse(*args, **_):
        raise AssertionError(f"a unit test started {what} ({args!r:.160}); mark its test or module "
                             "`pytest.mark.service` (make test-fast runs only unit tests)")

    return refuse


@pytest.fixture(autouse=True)
def _unit_tests_start_no_process(request, monkeypatch):
    """Unit tests (not marked ``service``) may start no subprocess and no Ray: ``make test-fast``
    is then fast by construction, and a test that needs a service says so with its mark."""
    if request.node.get_closest_marker("service"):
        yield
        return
    import multiprocessing.process
    import subprocess

    import ray

    monkeypatch.setattr(subprocess, "Popen", _refused("a subprocess"))
    monkeypatch.setattr(multiprocessing.process.BaseProcess, "start", _refused("a multiprocessing process"))
    monkeypatch.setattr(ray, "init", _refused("Ray"))
    yield
