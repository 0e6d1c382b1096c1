"""The public callbacks (sklearn_siamese.callbacks) and the estimators' ``max_time``."""

import itertools
import time

import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits
from torch import nn

from sklearn_siamese import SiameseEmbedder, SiameseVerifier
from sklearn_siamese.callbacks import training as callbacks_module
from sklearn_siamese._training.net import SiameseNet
from sklearn_siamese.callbacks import CosineLR, EpochSnapshot, NonFiniteLossGuard, RemainingTime, TimeBudget
from sklearn_siamese.encoders import MLPEncoder


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(return_X_y=True)
    return (X / 16).astype(np.float32), y


def _small(**params):
    fast = dict(
        encoder=MLPEncoder(hidden_sizes=(16,)), embedding_dim=8, validation_fraction=None, samples_per_epoch=1024,
        random_state=0,
    )
    return {**fast, **params}


def _fake_clock(monkeypatch, times):
    ticks = iter(times)
    monkeypatch.setattr(callbacks_module, "_now", lambda: next(ticks))


def _run_epoch(cb, net):
    net.history.new_epoch()
    cb.on_epoch_end(net)


def test_time_budget_stops_before_an_epoch_that_would_overrun(monkeypatch):
    net = SiameseNet(nn.Linear(2, 2), criterion=nn.MSELoss).initialize()
    cb = TimeBudget(10)
    # Epochs of 3 s: after the third (t=9) a fourth would end at 12 > 10.
    _fake_clock(monkeypatch, [0, 3, 6, 9])
    cb.on_train_begin(net)
    _run_epoch(cb, net)
    _run_epoch(cb, net)
    with pytest.raises(KeyboardInterrupt):
        _run_epoch(cb, net)
    assert [row.get("time_budget_reached", False) for row in net.history] == [False, False, True]
    assert net.history[:, "elapsed_s"] == [3, 6, 9]


def test_time_budget_lets_the_first_epoch_finish(monkeypatch):
    net = SiameseNet(nn.Linear(2, 2), criterion=nn.MSELoss).initialize()
    cb = TimeBudget(1)
    _fake_clock(monkeypatch, [0] + [5] * 3)
    cb.on_train_begin(net)
    net.history.new_epoch()
    cb.on_batch_end(net, training=True)  # 5 s > 1 s, but no epoch has finished yet
    cb.on_batch_end(net, training=False)
    with pytest.raises(KeyboardInterrupt):
        cb.on_epoch_end(net)


def test_max_time_mid_epoch_overrun_keeps_the_last_finished_epoch(monkeypatch, digits):
    X, y = digits
    # One clock reading per call: the first epoch ends at t=1, so a second
    # is expected to end at t=2 <= 2.5 and starts; its second batch reads
    # t=3 > 2.5 and training goes back to the end of the first epoch.
    _fake_clock(monkeypatch, itertools.count())
    emb = SiameseEmbedder(**_small(max_epochs=50, max_time=2.5)).fit(X, y)
    assert emb.n_epochs_ == 1 and emb.interrupted_
    assert emb.history_[-1, "interrupted"] and emb.history_[-1, "time_budget_reached"]
    monkeypatch.undo()
    one_epoch = SiameseEmbedder(**_small(max_epochs=1)).fit(X, y)
    np.testing.assert_array_equal(emb.transform(X[:20]), one_epoch.transform(X[:20]))


@pytest.mark.parametrize("Estimator", [SiameseEmbedder, SiameseVerifier])
def test_max_time_ends_a_long_fit_near_the_budget(Estimator, digits):
    X, y = digits
    start = time.perf_counter()
    est = Estimator(**_small(max_epochs=10_000, max_time=0.5)).fit(X, y)
    took = time.perf_counter() - start
    assert est.n_epochs_ < 10_000 and est.history_[-1, "time_budget_reached"]
    # Usually it stops before an epoch that would end past the budget. On a
    # loaded machine an epoch can run longer than the one before and cross
    # the budget mid-epoch: then it stops at the next step, marks the row
    # ``interrupted`` and keeps the last finished epoch (tested exactly,
    # with a fake clock, above). Either way the last finished epoch began
    # within the budget (its last step too, but the end-of-epoch
    # bookkeeping after that step can cross it by a little).
    assert est.interrupted_ == bool(est.history_[-1].get("interrupted", False))
    finished = [row for row in est.history_ if not row.get("interrupted", False)]
    assert len(finished) == est.n_epochs_
    assert est.n_epochs_ == 1 or finished[-2]["elapsed_s"] < 0.5
    # Loose on purpose (shared CI machines stall); without the budget the
    # 10,000 epochs would take hours.
    assert took < 30.0


def test_max_time_none_sets_no_budget(digits):
    X, y = digits
    emb = SiameseEmbedder(**_small(max_epochs=2)).fit(X, y)
    assert "time_budget" not in dict(emb.net_.callbacks_)
    assert emb.n_epochs_ == 2


@pytest.mark.parametrize("bad", [0, -1.0, "600", [600]])
@pytest.mark.parametrize("Estimator", [SiameseEmbedder, SiameseVerifier])
def test_bad_max_time_is_refused_before_training(Estimator, bad, digits):
    X, y = digits
    with pytest.raises(ValueError, match="max_time"):
        Estimator(max_time=bad).fit(X, y)


@pytest.mark.parametrize("bad", [0, -5, None])
def test_bad_time_budget_seconds(bad):
    net = SiameseNet(nn.Linear(2, 2), criterion=nn.MSELoss, callbacks=[TimeBudget(bad)])
    with pytest.raises(ValueError, match="seconds"):
        net.initialize()


def test_max_time_prints_the_row_of_the_last_epoch(monkeypatch, digits, capsys):
    X, y = digits
    # One batch per epoch and one clock reading per call: epoch 1 ends at
    # t=1, epoch 2 at t=3, when a third would end past the 3.5 s budget.
    _fake_clock(monkeypatch, itertools.count())
    params = _small(max_epochs=50, max_time=3.5, verbose=1, samples_per_epoch=64)
    emb = SiameseEmbedder(**params).fit(X, y)
    assert emb.n_epochs_ == 2 and not emb.interrupted_
    rows = [line.split()[0] for line in capsys.readouterr().out.splitlines() if line.strip()[:1].isdigit()]
    assert rows == ["1", "2"]


def test_non_finite_loss_guard_names_the_learning_rate():
    net = SiameseNet(nn.Linear(2, 2), criterion=nn.MSELoss, lr=10.0).initialize()
    guard = NonFiniteLossGuard()
    guard.on_train_begin(net)
    guard.on_batch_end(net, training=True, loss=torch.tensor(1.0))  # finite: nothing happens
    guard.on_batch_end(net, training=False, loss=torch.tensor(float("nan")))  # validation: ignored
    with pytest.raises(FloatingPointError, match="lr=10.0"):
        guard.on_batch_end(net, training=True, loss=torch.tensor(float("nan")))


def test_loss_guard_stops_a_diverging_bounded_loss():
    net = SiameseNet(nn.Linear(2, 2), criterion=nn.MSELoss, lr=10.0).initialize()
    guard = NonFiniteLossGuard(divergence_factor=1e3)
    guard.on_train_begin(net)
    guard.on_batch_end(net, training=True, loss=torch.tensor(2.0))
    guard.on_batch_end(net, training=True, loss=torch.tensor(1999.0))  # under 1e3 x the first
    with pytest.raises(FloatingPointError, match="training diverged.*lower lr"):
        guard.on_batch_end(net, training=True, loss=torch.tensor(2001.0))


# ------------------------------------------------------------- CosineLR
def _steps(cb, net, n):
    """``n`` training steps of the callback; the first group's rate at each."""
    rates = []
    for _ in range(n):
        cb.on_batch_begin(net, training=True)
        rates.append(net.optimizer_.param_groups[0]["lr"])
    return rates


def test_cosine_lr_follows_the_half_cosine_over_max_steps():
    net = SiameseNet(nn.Linear(2, 2), criterion=nn.MSELoss, lr=0.1).initialize()
    cb = CosineLR(max_steps=4)
    cb.on_train_begin(net)
    rates = _steps(cb, net, 5)
    expected = [0.1 * 0.5 * (1 + np.cos(np.pi * k / 4)) for k in range(5)]
    np.testing.assert_allclose(rates, expected, atol=1e-12)
    cb.on_batch_begin(net, training=False)  # validation batches do not step
    assert cb.steps_ == 5
    cb.on_train_end(net)
    assert net.optimizer_.param_groups[0]["lr"] == 0.1


def test_cosine_lr_follows_the_clock_when_time_runs_out_first(monkeypatch):
    net = SiameseNet(nn.Linear(2, 2), criterion=nn.MSELoss, lr=1.0).initialize()
    cb = CosineLR(max_steps=1000, seconds=10)
    # Step k is taken at 5 * k seconds: half the time budget per step.
    _fake_clock(monkeypatch, [0, 0, 5, 10, 20])
    cb.on_train_begin(net)
    np.testing.assert_allclose(_steps(cb, net, 4), [1.0, 0.5, 0.0, 0.0], atol=1e-12)


def test_cosine_lr_scales_every_parameter_group_from_its_own_rate():
    module = nn.Sequential(nn.Linear(2, 2), nn.Linear(2, 2))
    # skorch's groups: the first layer's parameters at a rate of their own.
    net = SiameseNet(module, criterion=nn.MSELoss, lr=0.1, optimizer__param_groups=[("0.*", {"lr": 0.01})]).initialize()
    cb = CosineLR(max_steps=2)
    cb.on_train_begin(net)
    _steps(cb, net, 2)
    assert [g["lr"] for g in net.optimizer_.param_groups] == pytest.approx([0.005, 0.05])


@pytest.mark.parametrize("params", [dict(max_steps=0), dict(seconds=0), dict(seconds=-1.0), dict(max_steps=2.5)])
def test_bad_cosine_lr_budget(params):
    net = SiameseNet(nn.Linear(2, 2), criterion=nn.MSELoss, callbacks=[CosineLR(**params)])
    with pytest.raises(ValueError, match=next(iter(params))):
        net.initialize()


@pytest.mark.parametrize("Estimator", [SiameseEmbedder, SiameseVerifier])
def test_lr_schedule_cosine_anneals_over_the_epochs_and_restores_lr(Estimator, digits):
    X, y = digits
    est = Estimator(**_small(max_epochs=4, lr=0.01, lr_schedule="cosine")).fit(X, y)
    # Each epoch starts where the half cosine over 4 epochs is at its start.
    expected = [0.01 * 0.5 * (1 + np.cos(np.pi * e / 4)) for e in range(4)]
    np.testing.assert_allclose(est.history_[:, "lr"], expected, rtol=1e-9)
    # Every group (the verifier's head has a rate of its own) is back at its rate.
    configured = Estimator(**_small(max_epochs=1, lr=0.01)).fit(X, y).net_.optimizer_.param_groups
    assert [g["lr"] for g in est.net_.optimizer_.param_groups] == [g["lr"] for g in configured]
    # "constant" adds nothing and keeps lr throughout.
    const = Estimator(**_small(max_epochs=2, lr=0.01, lr_schedule="constant")).fit(X, y)
    assert "lr_schedule" not in dict(const.net_.callbacks_)
    assert "lr" not in const.history_[-1]


def test_lr_schedule_cosine_changes_the_fit(digits):
    X, y = digits
    const = SiameseEmbedder(**_small(max_epochs=2, lr_schedule="constant")).fit(X, y)
    cosine = SiameseEmbedder(**_small(max_epochs=2, lr_schedule="cosine")).fit(X, y)
    # The rate is lower from the second step on, so the weights differ.
    assert not np.allclose(const.transform(X[:50]), cosine.transform(X[:50]))


def test_lr_schedule_cosine_anneals_each_refit_run_over_its_own_epochs(digits):
    X, y = digits
    emb = SiameseEmbedder(
        **_small(max_epochs=6, validation_fraction=0.3, n_iter_no_change=1, lr_schedule="cosine")
    ).fit(X, y)
    first, second = emb.validation_history_, emb.history_
    assert first[0, "lr"] == second[0, "lr"] == emb.lr
    n = len(second)
    expected = [emb.lr * 0.5 * (1 + np.cos(np.pi * e / n)) for e in range(n)]
    np.testing.assert_allclose(second[:, "lr"], expected, rtol=1e-9)


def test_lr_schedule_cosine_warm_start_goes_on_along_the_longer_curve(digits):
    X, y = digits
    emb = SiameseEmbedder(**_small(max_epochs=2, lr_schedule="cosine", warm_start=True)).fit(X, y)
    emb.set_params(max_epochs=4).fit(X, y)
    # The first two epochs annealed over 2 epochs; the continuation picks up
    # at step 2 epochs' worth of a 4-epoch curve.
    np.testing.assert_allclose(emb.history_[:, "lr"], [1e-3, 5e-4, 5e-4, 1e-3 * 0.5 * (1 + np.cos(0.75 * np.pi))])
    assert emb.net_.optimizer_.param_groups[0]["lr"] == 1e-3


@pytest.mark.parametrize("bad", ["linear", None, 1])
@pytest.mark.parametrize("Estimator", [SiameseEmbedder, SiameseVerifier])
def test_bad_lr_schedule_is_refused_before_training(Estimator, bad, digits):
    X, y = digits
    with pytest.raises(ValueError, match="lr_schedule"):
        Estimator(lr_schedule=bad).fit(X, y)


def test_epoch_snapshot_in_a_plain_skorch_net_restores_the_last_finished_epoch():
    """EpochSnapshot on its own, in any skorch net: an interrupt inside epoch 2 leaves epoch 1's weights."""
    from skorch import NeuralNetRegressor
    from skorch.callbacks import Callback

    class Record(Callback):
        def initialize(self):
            self.after_epoch = []
            return self

        def on_epoch_end(self, net, **kwargs):
            self.after_epoch.append({k: v.clone() for k, v in net.module_.state_dict().items()})

    class InterruptInEpoch2(Callback):
        def on_batch_end(self, net, **kwargs):
            if len(net.history) == 2 and len(net.history[-1]["batches"]) == 2:
                raise KeyboardInterrupt

    record = Record()
    torch.manual_seed(0)
    net = NeuralNetRegressor(
        nn.Linear(4, 1), max_epochs=3, batch_size=8, lr=0.1, train_split=None,
        callbacks=[("snapshot", EpochSnapshot()), ("record", record), ("interrupt", InterruptInEpoch2())],
    )
    X = np.random.default_rng(0).normal(size=(64, 4)).astype(np.float32)
    net.fit(X, X.sum(1, keepdims=True))  # skorch ends fit quietly on KeyboardInterrupt
    snapshot = dict(net.callbacks_)["snapshot"]
    assert snapshot.interrupted_ and len(record.after_epoch) == 1
    for key, value in net.module_.state_dict().items():
        torch.testing.assert_close(value, record.after_epoch[0][key], rtol=0, atol=0)
    assert net.history[-1]["interrupted"] is True and "interrupted" not in net.history[0]


def _remaining_after_epochs(cb, durations, max_epochs=5):
    """The ``remaining_s`` that ``cb`` records after epochs of the given durations."""
    net = SiameseNet(nn.Linear(2, 2), criterion=nn.MSELoss, max_epochs=max_epochs).initialize()
    cb.on_train_begin(net)
    for dur in durations:
        net.history.new_epoch()
        net.history.record("dur", dur)
        cb.on_epoch_end(net)
    return net.history[:, "remaining_s"]


def test_remaining_time_is_the_mean_epoch_times_the_epochs_left():
    # Epochs of 2 s and 4 s: 3 s each, 3 epochs left.
    assert _remaining_after_epochs(RemainingTime(), (2.0, 4.0)) == [8.0, 9.0]
    # A budget of 10 s, 6 s of it spent, ends sooner than the epochs would.
    assert _remaining_after_epochs(RemainingTime(seconds=10), (2.0, 4.0)) == [8.0, 4.0]


def test_verbose_fit_prints_the_remaining_time_and_warm_start_counts_the_new_ceiling(digits, capsys):
    X, y = digits
    emb = SiameseEmbedder(**_small(max_epochs=3, verbose=1, samples_per_epoch=256)).fit(X, y)
    header = capsys.readouterr().out.splitlines()[0]
    assert "remaining_s" in header.split()
    assert emb.history_[-1, "remaining_s"] == 0.0 and emb.history_[0, "remaining_s"] >= 0.0
    emb.set_params(warm_start=True, max_epochs=40).fit(X, y)
    # The first resumed epoch (the 4th of 40) expects 36 more, whatever their length.
    row = emb.history_[3]
    assert row["remaining_s"] == pytest.approx(row["dur"] * 36, abs=0.06)


@pytest.mark.parametrize("params", [{"max_epochs": 0}, {"seconds": -1.0}])
def test_bad_remaining_time(params):
    net = SiameseNet(nn.Linear(2, 2), criterion=nn.MSELoss, callbacks=[RemainingTime(**params)])
    with pytest.raises(ValueError, match="RemainingTime"):
        net.initialize()
