"""The skorch glue in sklearn_siamese._training."""

import pickle

import numpy as np
import torch
from skorch.callbacks import Callback
from torch import nn

from sklearn_siamese._training.data import TensorDataset
from sklearn_siamese._training.net import BatchIterator, SiameseNet


def test_batch_iterator_yields_the_sampled_rows():
    X = torch.arange(40, dtype=torch.float32).reshape(20, 2)
    y = torch.arange(20) % 3
    batches = [np.array([3, 1, 4, 1]), np.array([19, 0])]
    got = list(BatchIterator(TensorDataset(X, y), sampler=batches))
    assert len(got) == 2
    for idx, (Xb, yb) in zip(batches, got):
        assert torch.equal(Xb, X[idx]) and torch.equal(yb, y[idx])


def test_siamese_net_switches_train_and_eval_mode():
    module = nn.Sequential(nn.Linear(2, 2), nn.Dropout(0.5))
    net = SiameseNet(module, criterion=nn.MSELoss).initialize()
    net._set_training(False)
    assert not any(m.training for m in net.module_.modules())
    net._set_training(True)
    assert all(m.training for m in net.module_.modules())
    assert net.criterion_.training


def test_siamese_net_calls_only_overridden_hooks_in_order():
    calls = []

    class Recorder(Callback):
        def __init__(self, name):
            self.name = name

        def on_batch_end(self, net, **kwargs):
            calls.append(self.name)

    class Silent(Callback):
        pass

    net = SiameseNet(
        nn.Linear(2, 2), criterion=nn.MSELoss, callbacks=[("a", Recorder("a")), ("s", Silent()), ("b", Recorder("b"))]
    ).initialize()
    net.notify("on_batch_end", batch=None, training=True)
    assert calls == ["a", "b"]
    assert [type(h.__self__).__name__ for h in net._overridden_hooks("on_batch_end")] == ["Recorder", "Recorder"]
    # Re-initialised callbacks are seen at once.
    net.set_params(callbacks=[("c", Recorder("c"))]).initialize_callbacks()
    net.notify("on_batch_end", batch=None, training=True)
    assert calls == ["a", "b", "c"]
    net.set_params(callbacks=[]).initialize_callbacks()
    net.notify("on_batch_end", batch=None, training=True)
    assert "_hook_cache" not in pickle.loads(pickle.dumps(net)).__dict__


def test_second_views_of_part_of_the_batch_and_the_rows_they_belong_to():
    from sklearn_siamese._training.net import first_views, second_views

    for n in range(1, 70):
        for fraction in (0.25, 0.5, 1.0):
            m = second_views(n, 1 + fraction)
            assert m == min(n, -(-n * int(fraction * 4) // 4))
            assert first_views(n + m, fraction) == n
    X = torch.arange(12, dtype=torch.float32).reshape(6, 2)
    y = torch.arange(6)
    (Xb, yb), = BatchIterator(TensorDataset(X, y), sampler=[np.array([5, 4, 3, 2])], views=1.5)
    # The four sampled rows, then a second view of the first two.
    assert torch.equal(yb, torch.tensor([5, 4, 3, 2, 5, 4])) and torch.equal(Xb[4:], X[[5, 4]])


def test_instance_term_on_part_of_the_batch_pairs_each_second_view_with_its_row():
    seen = {}

    class Criterion(nn.Module):
        def forward(self, z, y):
            seen["criterion_rows"] = len(z)
            return z.sum() * 0

    net = SiameseNet(nn.Linear(2, 2), criterion=Criterion, instance_weight=1.0, instance_fraction=0.5).initialize()
    y_pred = torch.randn(6, 2)  # 4 sampled rows, second views of the first 2
    loss = net.get_loss(y_pred, torch.tensor([0, 1, 2, 3, 0, 1]), training=True)
    assert seen["criterion_rows"] == 4 and torch.isfinite(loss)
    from sklearn_siamese._training.instance import instance_loss

    assert torch.allclose(loss, instance_loss(y_pred[:2], y_pred[4:], 0.2))
