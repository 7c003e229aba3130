"""Shared fixtures: one real local Ray cluster for the tests that need it."""
import os

import hypothesis.database  # noqa: F401
import pytest

# hypothesis.database is imported here, not lazily by hypothesis's end-of-session summary: that
# late import makes pytest parse it while garbage from FFCV loaders may be collected, and
# Python 3.11.7's parser then fails with "AST constructor recursion depth mismatch".

os.environ.setdefault("RAY_TRAIN_HEALTH_CHECK_INTERVAL_S", "0.2")


@pytest.fixture(scope="session")
def ray_cluster():
    """A private local Ray cluster (address="local"), never a stale one on this machine."""
    import ray

    from tuning.campaign import cluster

    cluster.connect(None, num_cpus=5)
    yield ray
    ray.shutdown()
