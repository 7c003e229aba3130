"""A small real .beton of random images, written once per test module, that the pipeline tests read."""
import pytest

from pipelines.beton import ArraySource, write_beton
from tests.pipelines.images import random_images


@pytest.fixture(scope="module")
def small_beton(tmp_path_factory):
    images, labels = random_images()
    out = tmp_path_factory.mktemp("beton") / "small.beton"
    write_beton(ArraySource(images, labels), out, ["a", "b", "c"])
    return out, images, labels
