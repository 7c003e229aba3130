"""Writing and checking real .beton files."""
import json

import numpy as np
import pytest
import torch

from pipelines.beton import ArraySource, check_beton, classes_path, write_beton
from pipelines.errors import DataError
from pipelines.loaders import eval_loader
from tests.pipelines.images import random_images


def test_written_beton_reads_back_images_and_labels(small_beton):
    path, images, labels = small_beton
    info = check_beton(path)
    assert info.num_samples == 24 and info.classes == ["a", "b", "c"]
    assert json.loads(classes_path(path).read_text()) == ["a", "b", "c"]
    batches = [(x.clone(), y) for x, y in eval_loader(str(path), 8, 12, torch.device("cpu"), train=False,
                                                      center_crop_ratio=1.0)]  # images live in reused buffers
    got_images = torch.cat([x for x, _ in batches]).permute(0, 2, 3, 1).numpy()
    got_labels = torch.cat([y for _, y in batches]).numpy()
    assert np.array_equal(got_labels, labels)
    assert np.abs(got_images.astype(int) - images.astype(int)).max() <= 1  # raw pixels, resize is identity


def test_existing_output_is_not_overwritten(small_beton, tmp_path):
    path, images, labels = small_beton
    before = path.read_bytes()
    with pytest.raises(FileExistsError, match="exists; pass force=True"):
        write_beton(ArraySource(images[:2], labels[:2]), path, ["a"])
    assert path.read_bytes() == before


@pytest.mark.service  # starts a process
def test_interrupted_write_leaves_no_file(tmp_path, monkeypatch):
    # A crash while the file is being finalised (simulated: the disk "fills up").
    from ffcv.writer import DatasetWriter

    def disk_full(self, allocations):
        raise OSError("No space left on device")

    monkeypatch.setattr(DatasetWriter, "finalize", disk_full)
    images, labels = random_images()
    out = tmp_path / "broken.beton"
    with pytest.raises(OSError, match="No space left"):
        write_beton(ArraySource(images, labels), out, ["a", "b", "c"])
    assert list(tmp_path.iterdir()) == []


def test_missing_beton_is_a_clear_error(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        check_beton(tmp_path / "nope.beton")


def test_truncated_beton_is_detected(small_beton, tmp_path):
    path, _, _ = small_beton
    cut = tmp_path / "cut.beton"
    cut.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(DataError, match="corrupt or truncated|is truncated"):
        check_beton(cut)


def test_garbage_file_is_detected(tmp_path):
    bad = tmp_path / "bad.beton"
    bad.write_bytes(b"not a beton at all" * 10)
    with pytest.raises(DataError, match="corrupt or truncated"):
        check_beton(bad)


@pytest.mark.service  # starts a process
def test_beton_with_other_fields_is_rejected(tmp_path):
    from ffcv.fields import FloatField, IntField
    from ffcv.writer import DatasetWriter

    out = tmp_path / "tabular.beton"
    DatasetWriter(str(out), {"x": FloatField(), "y": IntField()}).from_indexed_dataset([(1.0, 1), (2.0, 0)])
    with pytest.raises(DataError, match=r"missing \['image', 'label'\]"):
        check_beton(out)


def test_fingerprint_reads_samples_and_sees_changes(tmp_path):
    from pipelines.beton import FINGERPRINT_BLOCK, fingerprint

    data = np.random.default_rng(0).integers(0, 256, 5_000_000, dtype=np.uint8).tobytes()
    original = tmp_path / "a.beton"
    original.write_bytes(data)
    copy = tmp_path / "b.beton"
    copy.write_bytes(data)
    assert fingerprint(original) == fingerprint(copy) and len(fingerprint(original)) == 16
    sampled = len(data) * 3 // 17 + 10  # inside the third sampled block
    changed = bytearray(data)
    changed[sampled] ^= 0xFF
    copy.write_bytes(bytes(changed))
    assert fingerprint(copy) != fingerprint(original)
    copy.write_bytes(data + b"x")  # a different size
    assert fingerprint(copy) != fingerprint(original)
    unsampled = bytearray(data)
    unsampled[len(data) // 17 + FINGERPRINT_BLOCK + 10] ^= 0xFF  # between two samples: cheap by design
    copy.write_bytes(bytes(unsampled))
    assert fingerprint(copy) == fingerprint(original)
