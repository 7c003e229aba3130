"""The loaders over a real .beton: two different views with labels, crops that repeat for a seed and
change with the epoch, and the torch thread count the run asked for."""

import torch

from pipelines.loaders import ssl_loader


def test_ssl_loader_gives_two_different_views_with_labels(small_beton):
    path, _, labels = small_beton
    seen = []
    for view1, view2, y in ssl_loader(str(path), 8, 10, torch.device("cpu"), seed=0, distributed=False):
        assert view1.shape == view2.shape == (8, 3, 10, 10) and view1.dtype == torch.uint8
        assert not torch.equal(view1, view2)
        seen.append(y)
    assert sorted(torch.cat(seen).tolist()) == sorted(labels.tolist())


def _crops(path, seed=0, epoch=0, workers=1):
    loader = ssl_loader(str(path), 8, 10, torch.device("cpu"), seed=seed, distributed=False, workers=workers)
    loader.set_epoch(epoch)
    return [torch.cat([view1, view2]).clone() for view1, view2, _ in loader]


def test_ssl_crops_repeat_for_a_seed_and_change_with_epoch_and_seed(small_beton):
    path = small_beton[0]
    first = _crops(path)
    same = lambda a, b: all(torch.equal(x, y) for x, y in zip(a, b))
    assert same(first, _crops(path)), "a second loader on the same seed cropped differently"
    assert same(first, _crops(path, workers=2)), "crops depend on the loader's thread count"
    assert not same(first, _crops(path, epoch=1)) and not same(first, _crops(path, seed=1))


def test_loaders_keep_the_torch_thread_count_the_run_asked_for(small_beton):
    path, _, _ = small_beton
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        loader = ssl_loader(str(path), 8, 10, torch.device("cpu"), seed=0, distributed=False, workers=1,
                            torch_threads=2)
        for _ in loader:  # FFCV sets torch to its 1 worker thread as each epoch starts
            assert torch.get_num_threads() == 2
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)
