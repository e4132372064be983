"""The fit loop's metrics for per-pixel targets: pixel accuracy, IoU per class, the mean IoU over the classes
present, recorded per epoch as val_miou."""
import numpy as np
import pytest

import cnnumpy
from cnnumpy import nn, optim
from cnnumpy.data import DataLoader
from cnnumpy.data.segment import SegmentationDataset
from cnnumpy.train import History, confusion_matrix, evaluate, fit, iou, mean_iou


def test_iou_by_hand():
    truth = np.array([[0, 0, 1, 1], [0, 2, 2, 1]])
    pred = np.array([[0, 1, 1, 1], [0, 2, 0, 1]])
    c = confusion_matrix(truth, pred, 4)
    assert c.tolist() == [[2, 1, 0, 0], [0, 3, 0, 0], [1, 0, 1, 0], [0, 0, 0, 0]]
    # class 0: 2 / (3 + 3 - 2); class 1: 3 / (3 + 4 - 3); class 2: 1 / (2 + 1 - 1); class 3: absent
    values = iou(c)
    assert np.allclose(values[:3], [0.5, 0.75, 0.5]) and np.isnan(values[3])
    assert mean_iou(c) == pytest.approx((0.5 + 0.75 + 0.5) / 3)
    assert mean_iou(confusion_matrix(truth, truth, 4)) == 1.0


def test_a_class_only_predicted_counts_with_iou_zero():
    c = confusion_matrix(np.array([0, 0, 0, 0]), np.array([0, 0, 0, 1]), 2)
    assert np.allclose(iou(c), [0.75, 0.0]) and mean_iou(c) == pytest.approx(0.375)


def toy_set(n=48, seed=0):
    """Bright squares on a dark field, labelled 1 where bright: a 1x1 conv can learn it."""
    rng = np.random.default_rng(seed)
    y = (rng.random((n, 8, 8)) < 0.3).astype(np.int64)
    x = (y[:, None] * 2.0 - 1.0 + 0.3 * rng.standard_normal((n, 1, 8, 8))).astype(np.float32)
    return SegmentationDataset(x, y)


def test_evaluate_counts_pixels():
    ds = toy_set(10)
    model = nn.Sequential(nn.Conv2d(1, 2, 1))
    ev = evaluate(model, DataLoader(ds, 4), num_classes=2)
    x, y = ds.batch(np.arange(10))
    pred = model(x).argmax(axis=1)
    assert ev.segmentation and ev.confusion.sum() == y.size
    assert ev.accuracy == pytest.approx((pred == y).mean())
    assert ev.mean_iou == pytest.approx(mean_iou(confusion_matrix(y, pred, 2)))


def test_fit_records_the_mean_iou_and_learns():
    cnnumpy.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 2, 1))
    train, test = toy_set(64, 0), toy_set(32, 1)
    history = fit(model, nn.CrossEntropyLoss(), optim.Adam(model.parameters(), lr=0.1),
                  DataLoader(train, 16, shuffle=True, seed=0), DataLoader(test, 16), epochs=6, progress=False)
    assert isinstance(history, History) and len(history["val_miou"]) == 6
    assert history["val_miou"][-1] > 0.9 and 0 <= history["train_acc"][-1] <= 1
    assert history["val_acc"][-1] > 0.95


def test_classification_records_no_iou():
    x = np.random.default_rng(0).standard_normal((16, 3)).astype(np.float32)
    from cnnumpy.data import ArrayDataset
    ds = ArrayDataset(x, (x[:, 0] > 0).astype(np.int64))
    model = nn.Sequential(nn.Linear(3, 2))
    history = fit(model, nn.CrossEntropyLoss(), optim.SGD(model.parameters(), lr=0.1), DataLoader(ds, 8),
                  DataLoader(ds, 8), epochs=1, progress=False)
    assert "val_miou" not in history.records[0]
