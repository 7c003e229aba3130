"""The network every method trains: its online probes read detached inputs, so they train themselves alone."""

import torch
from torch import nn

from models.ssl_model import SSLModel


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


def test_a_supervised_model_trains_its_backbone_through_the_online_probe():
    torch.manual_seed(0)
    images, labels = torch.randn(8, 3, 16, 16), torch.arange(8) % 2
    for supervised in (False, True):
        model = SSLModel("small_cnn", "32-d", 16, 2, supervised=supervised)
        _, _, logits = model(images)
        torch.nn.functional.cross_entropy(logits["online"], labels).backward()
        reached = any(p.grad is not None and p.grad.abs().sum() > 0 for p in model.backbone.parameters())
        assert reached == supervised
        assert all(p.grad is None for p in model.projector.parameters())  # the projector is never in this loss
