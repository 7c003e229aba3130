"""The private Ray, Optuna and optuna-dashboard APIs dualtune relies on are where the pinned
versions keep them; an upgrade that moves one fails here, naming it and why it is used."""
import importlib.metadata

import ray._private.worker as ray_worker

from tuning.campaign import private_apis
from tuning.campaign.private_apis import PrivateApi, problems, ray_driver_messages_to


def test_every_private_api_is_where_the_pinned_versions_keep_it():
    assert problems() == [], "\n".join(problems())


def test_a_moved_or_changed_api_is_named_with_the_installed_version(monkeypatch):
    monkeypatch.setattr(private_apis, "APIS", (
        PrivateApi("ray", "ray._private.worker", "print_to_stdstream", ("data", "strip"), "prints"),
        PrivateApi("ray", "ray._private.worker", "no_longer_here", None, "was used"),
        PrivateApi("ray", "ray.tune.search.optuna", "OptunaSearch._gone_attribute", None, "was read"),
    ))
    found = problems()
    version = importlib.metadata.version("ray")
    assert len(found) == 3 and all(f"(ray {version})" in line for line in found)
    assert "now takes ('data', 'ignore_prefix'), not ('data', 'strip')" in found[0]
    assert "no_longer_here" in found[1] and "is gone" in found[1] and "because it was used" in found[1]
    assert "_gone_attribute" in found[2]


def test_ray_driver_messages_go_to_the_writer_and_the_hook_is_restored():
    original, written = ray_worker.print_to_stdstream, []
    with ray_driver_messages_to(written.append):
        ray_worker.print_to_stdstream({"pid": "raylet", "lines": ["node marked dead", "again"]}, False)
    assert written == ["(raylet) node marked dead\n(raylet) again\n"]
    assert ray_worker.print_to_stdstream is original
