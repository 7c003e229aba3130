"""Projector specs, backbones, LARS, the schedule, probes and embedding health."""
import math

import pytest
import torch
from torch import nn

from models.backbones import build_backbone
from models.health import normalized_embedding_std, rankme
from models.lars import LARS, lars_param_groups
from models.probes import (
    choose_head,
    choose_knn,
    knn_accuracy,
    lr_grid,
    nearest_neighbours,
    topk_correct,
    train_linear_heads,
)
from models.projector import build_projector, parse_projector_spec
from models.schedules import scaled_lr, warmup_cosine
from models.ssl_model import SSLModel


@pytest.mark.parametrize("spec,dim,sizes", [("8192-8192-8192", None, [8192, 8192, 8192]),
                                             ("2048-d", 256, [2048, 256]), ("d-d-d", 64, [64, 64, 64]),
                                             ("128", None, [128])])
def test_projector_specs_parse(spec, dim, sizes):
    assert parse_projector_spec(spec, dim) == sizes


@pytest.mark.parametrize("spec", ["", "8192--8192", "2048-x", "-1-2", "2048-0", "1.5-2", None])
def test_malformed_projector_specs_are_named(spec):
    with pytest.raises(ValueError, match="projector spec"):
        parse_projector_spec(spec, 16)


def test_d_without_embedding_dim_is_an_error():
    with pytest.raises(ValueError, match="uses 'd' but model.embedding_dim is not set"):
        parse_projector_spec("2048-d")


def test_projector_layers_follow_the_paper():
    proj = build_projector(32, "64-48-16")
    kinds = [type(m) for m in proj]
    assert kinds == [nn.Linear, nn.BatchNorm1d, nn.ReLU, nn.Linear, nn.BatchNorm1d, nn.ReLU, nn.Linear]
    assert proj[-1].bias is None and proj[-1].out_features == 16
    assert proj(torch.randn(5, 32)).shape == (5, 16)


@pytest.mark.parametrize("name,small_stem,dim", [("small_cnn", False, 256), ("resnet18", True, 512),
                                                 ("resnet50", True, 2048)])
def test_backbones_give_their_representation_dim(name, small_stem, dim):
    net, out_dim = build_backbone(name, small_stem)
    assert out_dim == dim
    assert net.eval()(torch.randn(2, 3, 32, 32)).shape == (2, dim)


def test_small_stem_keeps_resolution_in_the_first_layer():
    net, _ = build_backbone("resnet18", small_stem=True)
    assert net.conv1.kernel_size == (3, 3) and net.conv1.stride == (1, 1)
    assert isinstance(net.maxpool, nn.Identity)


def test_unknown_backbone_is_named():
    with pytest.raises(ValueError, match="unknown backbone 'vit'"):
        build_backbone("vit")


def test_ssl_model_probes_do_not_train_the_backbone_or_projector():
    model = SSLModel("small_cnn", "32-8", None, num_classes=3, embedding_probe=True)
    _, emb, logits = model(torch.randn(4, 3, 16, 16))
    assert emb.shape == (4, 8)
    shapes = {k: v.shape for k, v in logits.items()}
    assert shapes == {"online": (4, 3), "online_bn": (4, 3), "online_embedding": (4, 3)}
    labels = torch.tensor([0, 1, 2, 0])
    sum(nn.functional.cross_entropy(head, labels) for head in logits.values()).backward()
    assert all(p.grad is None for p in [*model.backbone.parameters(), *model.projector.parameters()])
    assert model.probes["online"].weight.grad is not None
    assert model.probes["online_embedding"].weight.grad is not None
    assert model.probes["online_bn"][1].weight.grad is not None
    assert not list(model.probes["online_bn"][0].parameters())  # non-affine: only running statistics


def test_lars_step_matches_hand_computation():
    torch.manual_seed(0)
    weight = nn.Parameter(torch.randn(3, 4))
    bias = nn.Parameter(torch.randn(3))
    weight.grad, bias.grad = torch.randn(3, 4), torch.randn(3)
    w0, b0, gw, gb = weight.detach().clone(), bias.detach().clone(), weight.grad.clone(), bias.grad.clone()
    module = nn.Module()
    module.weight, module.bias = weight, bias
    opt = LARS(lars_param_groups(module), lr=0.5, weight_decay=0.01, momentum=0.9, eta=0.02)
    opt.step()
    g = gw + 0.01 * w0
    trust = 0.02 * w0.norm() / g.norm()
    torch.testing.assert_close(weight.detach(), w0 - 0.5 * trust * g)
    torch.testing.assert_close(bias.detach(), b0 - 0.5 * gb)  # bias: no decay, no trust ratio
    # second step uses momentum: buf = 0.9 * buf + g'
    buf_w = trust * g
    weight.grad = gw.clone()
    w1 = weight.detach().clone()
    opt.step()
    g2 = gw + 0.01 * w1
    buf_w = 0.9 * buf_w + 0.02 * w1.norm() / g2.norm() * g2
    torch.testing.assert_close(weight.detach(), w1 - 0.5 * buf_w)


def test_lars_groups_exclude_biases_and_norms():
    groups = lars_param_groups(nn.Sequential(nn.Linear(4, 4), nn.BatchNorm1d(4)))
    assert [p.ndim for p in groups[0]["params"]] == [2]
    assert sorted(p.ndim for p in groups[1]["params"]) == [1, 1, 1]
    assert groups[1]["lars_exclude"] and groups[1]["weight_decay"] == 0.0


def test_schedule_values_at_chosen_steps():
    assert scaled_lr(0.5, 2048) == 4.0
    assert scaled_lr(0.075, 256, "sqrt") == pytest.approx(1.2) and scaled_lr(0.075, 4096, "sqrt") == pytest.approx(4.8)
    with pytest.raises(ValueError, match="unknown lr scaling rule 'cubic'; allowed: linear, sqrt"):
        scaled_lr(0.1, 256, "cubic")
    peak, total, warm = 4.0, 1000, 100
    assert warmup_cosine(0, total, warm, peak) == pytest.approx(0.04)
    assert warmup_cosine(49, total, warm, peak) == pytest.approx(2.0)
    assert warmup_cosine(100, total, warm, peak) == pytest.approx(4.0)
    mid = 0.004 + (4.0 - 0.004) * 0.5 * (1 + math.cos(math.pi * 0.5))
    assert warmup_cosine(550, total, warm, peak) == pytest.approx(mid)
    assert warmup_cosine(1000, total, warm, peak) == pytest.approx(0.004)


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


def test_health_flags_collapse():
    spread = torch.randn(256, 32)
    collapsed = torch.randn(1, 32).repeat(256, 1) + 1e-6 * torch.randn(256, 32)
    assert rankme(spread) > 25 and rankme(collapsed) < 3
    assert normalized_embedding_std(spread) > 0.1 > normalized_embedding_std(collapsed)
