"""Writing class-per-folder trees that the test makes: JPEG and PNG, odd sizes, grayscale,
CMYK and a corrupt file."""
import json

import numpy as np
import pytest
import torch
from PIL import Image
from typer.testing import CliRunner

from pipelines.beton import check_beton, classes_path
from pipelines.image_folder import ImageFolderSource, write_image_folder
from pipelines.loaders import eval_loader
from tuning.cli import app

pytestmark = pytest.mark.service  # writes .beton files with FFCV's writer processes


@pytest.fixture()
def tree(tmp_path):
    root = tmp_path / "images"
    rng = np.random.default_rng(0)
    (root / "cat").mkdir(parents=True)
    (root / "dog").mkdir()
    Image.fromarray(rng.integers(0, 255, (37, 51, 3), dtype=np.uint8)).save(root / "cat" / "a.jpg")
    Image.fromarray(rng.integers(0, 255, (64, 20, 3), dtype=np.uint8)).save(root / "cat" / "b.png")
    Image.fromarray(rng.integers(0, 255, (30, 30), dtype=np.uint8), mode="L").save(root / "dog" / "gray.png")
    Image.new("CMYK", (40, 33), (10, 200, 30, 0)).save(root / "dog" / "cmyk.jpg")
    (root / "dog" / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 this is not a jpeg")
    (root / "dog" / "notes.txt").write_text("not an image")
    return root


def test_readable_images_are_written_with_labels_and_corrupt_ones_listed(tree, tmp_path):
    out = tmp_path / "out.beton"
    summary = write_image_folder(tree, out, max_resolution=48)
    assert summary["images"] == 4 and summary["classes"] == 2
    assert [p for p, _ in summary["skipped"]] == [str(tree / "dog" / "broken.jpg")]
    assert summary["bytes"] == out.stat().st_size > 0
    assert json.loads(classes_path(out).read_text()) == ["cat", "dog"]
    assert check_beton(out).num_samples == 4
    labels = torch.cat([y for _, y in eval_loader(str(out), 4, 16, torch.device("cpu"), train=False)])
    assert sorted(labels.tolist()) == [0, 0, 1, 1]


def test_grayscale_and_cmyk_become_rgb(tree):
    source = ImageFolderSource(tree)
    for index in range(len(source)):
        image, _ = source[index]
        assert image.ndim == 3 and image.shape[2] == 3 and image.dtype == np.uint8
    gray = dict(source.samples)
    image, _ = source[list(gray).index(str(tree / "dog" / "gray.png"))]
    assert np.array_equal(image[..., 0], image[..., 1])


def test_empty_and_flat_sources_are_clear_errors(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="has no class sub-folders"):
        ImageFolderSource(tmp_path / "empty")
    (tmp_path / "noimg" / "cls").mkdir(parents=True)
    (tmp_path / "noimg" / "cls" / "x.txt").write_text("x")
    with pytest.raises(ValueError, match="has class folders but no image files"):
        ImageFolderSource(tmp_path / "noimg")
    with pytest.raises(ValueError, match="is not a directory"):
        ImageFolderSource(tmp_path / "missing")


def test_cli_refuses_to_overwrite_and_reports_the_summary(tree, tmp_path):
    out = tmp_path / "cli.beton"
    runner = CliRunner()
    first = runner.invoke(app, ["data", "write", "--source", str(tree), "--out", str(out)])
    assert first.exit_code == 0, first.output
    assert "4 images, 2 classes" in first.output and "skipped 1 unreadable file(s)" in first.output
    before = out.read_bytes()
    second = runner.invoke(app, ["data", "write", "--source", str(tree), "--out", str(out)])
    assert second.exit_code == 2 and "exists; pass --force" in second.output
    assert out.read_bytes() == before
    forced = runner.invoke(app, ["data", "write", "--source", str(tree), "--out", str(out), "--force"])
    assert forced.exit_code == 0


@pytest.fixture()
def wide_tree(tmp_path):
    """Five classes of 6 small images each (named like WordNet ids)."""
    root = tmp_path / "wide"
    rng = np.random.default_rng(1)
    for c in range(5):
        (root / f"n0{c}").mkdir(parents=True)
        for i in range(6):
            Image.fromarray(rng.integers(0, 255, (12, 14, 3), dtype=np.uint8)).save(root / f"n0{c}" / f"{i}.png")
    return root


def test_a_class_subset_is_written_in_the_lists_order_with_a_seeded_cap(wide_tree, tmp_path):
    (tmp_path / "subset.txt").write_text("# two classes\nn03\n\nn01\n")
    from pipelines.image_folder import read_class_list

    chosen = read_class_list(tmp_path / "subset.txt")
    assert chosen == ["n03", "n01"]
    summary = write_image_folder(wide_tree, tmp_path / "train.beton", classes=chosen, max_per_class=4, seed=2)
    assert (summary["images"], summary["classes"]) == (8, 2)
    assert json.loads(classes_path(tmp_path / "train.beton").read_text()) == ["n03", "n01"]
    labels = torch.cat([y for _, y in eval_loader(str(tmp_path / "train.beton"), 4, 12, torch.device("cpu"),
                                                  train=False)])
    assert np.bincount(labels.numpy()).tolist() == [4, 4]
    again = ImageFolderSource(wide_tree, only_classes=chosen, max_per_class=4, seed=2)
    other = ImageFolderSource(wide_tree, only_classes=chosen, max_per_class=4, seed=3)
    assert again.samples == ImageFolderSource(wide_tree, only_classes=chosen, max_per_class=4, seed=2).samples
    assert again.samples != other.samples and len(other.samples) == 8


def test_the_shipped_imagenet100_list_and_bad_lists(tmp_path, wide_tree):
    from pipelines.errors import DataError
    from pipelines.image_folder import read_class_list

    imagenet100 = read_class_list("imagenet100")
    assert len(imagenet100) == len(set(imagenet100)) == 100 and all(n.startswith("n") for n in imagenet100)
    (tmp_path / "twice.txt").write_text("n01\nn01\n")
    with pytest.raises(DataError, match=r"repeats \['n01'\]"):
        read_class_list(tmp_path / "twice.txt")
    with pytest.raises(DataError, match="has no folder for 1 listed class"):
        ImageFolderSource(wide_tree, only_classes=["n01", "n99"])


def test_the_writer_defaults_are_ffcvs_imagenet_recipe_and_stated_in_help():
    out = CliRunner().invoke(app, ["data", "write", "--help"], terminal_width=200)
    assert out.exit_code == 0
    for text in ("500", "90", "0.5", "--classes-file", "--max-per-class", "imagenet100"):
        assert text in out.output, text


def test_a_folder_written_twice_gives_the_same_file_and_another_seed_another(tmp_path):
    from benchmarks.writer import make_photos

    photos = make_photos(tmp_path / "photos", count=24, classes=3)
    written = {}
    for name, seed, workers in (("first", 0, 1), ("again", 0, 1), ("two_workers", 0, 2), ("other_seed", 5, 1)):
        write_image_folder(photos, tmp_path / f"{name}.beton", seed=seed, workers=workers)  # half JPEG, half raw
        written[name] = (tmp_path / f"{name}.beton").read_bytes()
    assert written["first"] == written["again"] == written["two_workers"]  # the JPEG/raw choice is the image's
    assert written["other_seed"] != written["first"]
