"""Probes: the linear probe learns separable features, k-NN matches a naive reference whatever
the chunking, top-k counts."""
import math

import pytest
import torch

from models.probes import (
    choose_head,
    choose_knn,
    knn_accuracy,
    lr_grid,
    nearest_neighbours,
    topk_correct,
    train_linear_heads,
)


def test_linear_probe_learns_separable_features():
    g = torch.Generator().manual_seed(0)
    centers = 4 * torch.randn(5, 16, generator=g)
    labels = torch.randint(0, 5, (600,), generator=g)
    feats = centers[labels] + torch.randn(600, 16, generator=g)
    lrs = lr_grid(0.5, 3)
    assert lrs == pytest.approx((0.25, 0.5, 1.0))
    heads = train_linear_heads(lambda epoch: (feats[:450], labels[:450]), 16, 5, lrs, epochs=30, batch_size=64)
    choice = choose_head(heads, lrs, (feats[450:500], labels[450:500]), (feats[500:], labels[500:]))
    assert choice.lr in lrs and choice.test_top1 > 95.0 and choice.test_top5 == 100.0
    knn = choose_knn((feats[:450], labels[:450]), (feats[450:500], labels[450:500]), (feats[500:], labels[500:]), 5)
    assert knn.test_top1 > 95.0


def _naive_knn_top1(train_x, train_y, val_x, val_y, num_classes, k, temperature):
    """Per val sample: cosine to every train sample, the k largest vote exp(cos / T)."""
    correct = 0
    for x, y in zip(val_x.tolist(), val_y.tolist()):
        cosines = []
        for j, t in enumerate(train_x.tolist()):
            dot = sum(a * b for a, b in zip(x, t))
            cosines.append((dot / (math.sqrt(sum(a * a for a in x)) * math.sqrt(sum(b * b for b in t))), j))
        votes = [0.0] * num_classes
        for cosine, j in sorted(cosines, reverse=True)[:k]:
            votes[int(train_y[j])] += math.exp(cosine / temperature)
        correct += votes.index(max(votes)) == y
    return 100.0 * correct / len(val_y)


def test_knn_matches_a_naive_reference_whatever_the_chunking():
    g = torch.Generator().manual_seed(5)
    centers = 0.8 * torch.randn(4, 6, generator=g, dtype=torch.float64)
    labels = torch.randint(0, 4, (90,), generator=g)
    feats = centers[labels] + torch.randn(90, 6, generator=g, dtype=torch.float64)
    train_x, train_y, val_x, val_y = feats[:60], labels[:60], feats[60:], labels[60:]
    whole = nearest_neighbours(train_x, val_x, 200)
    chunked = nearest_neighbours(train_x, val_x, 200, max_elements=7 * 60)  # 7 val rows a chunk
    assert whole[0].shape == (30, 60)  # k capped at the train set's size
    torch.testing.assert_close(chunked[0], whole[0])
    assert torch.equal(chunked[1], whole[1])
    accuracies = set()
    for k, temperature in [(1, 0.07), (5, 0.1), (20, 0.5), (60, 1.0)]:
        expected = _naive_knn_top1(train_x, train_y, val_x, val_y, 4, k, temperature)
        assert knn_accuracy(*chunked, train_y, val_y, 4, k, temperature) == pytest.approx(expected)
        accuracies.add(expected)
    assert len(accuracies) > 1 and max(accuracies) < 100.0  # the grid points really differ
    # choose on a held-out slice of the bank's split, then score val with the chosen setting
    choice = choose_knn((train_x[:45], train_y[:45]), (train_x[45:], train_y[45:]), (val_x, val_y), 4)
    assert choice.select_top1 == pytest.approx(_naive_knn_top1(train_x[:45], train_y[:45], train_x[45:],
                                                                train_y[45:], 4, choice.k, choice.temperature))
    assert choice.test_top1 == pytest.approx(_naive_knn_top1(train_x[:45], train_y[:45], val_x, val_y, 4, choice.k,
                                                            choice.temperature))


def test_topk_correct_counts():
    logits = torch.tensor([[0.1, 0.9, 0.0], [0.8, 0.1, 0.1]])
    assert topk_correct(logits, torch.tensor([1, 2]), ks=(1, 2)) == {1: 1, 2: 1}
