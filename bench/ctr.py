"""Click-through prediction on simulated users (course.clicks): the CNN-based model against
three baselines and the ground truth, 3 seeds, side by side.

The catalogue is the bundled handwritten digits (a fifth held back as cold-start items); 400
users like a few digit classes each; the training log is 150,000 sessions of 5 randomly
ranked items (750,000 impressions, about 22,000 clicks), the test logs 10,000 sessions on warm
items and 10,000 on cold ones. Every model sees the position (the log's position bias) and is
trained with log-loss:

- popularity: each item's smoothed click rate (cold items get the overall rate);
- image-only: the item's CNN embedding (the course's reference digits CNN: its class
  log-probabilities) -> MLP;
- user-only: a user embedding;
- CNN-based CTR (two towers): the user (an embedding plus the mean CNN embedding of the items
  they clicked in the training log) and the item's CNN embedding projected to one space, their
  dot product plus a user bias, an item MLP and (wide) each logged item's own bias -> the
  click logit;
- ground truth: the simulator's own click probability.

It prints test AUC on warm and on cold items and the warm log-loss, mean +- sd over the seeds,
and issue 15's three checks (AUC margin over the best baseline on warm items, over popularity
on cold items, log-loss within 5% of the ground truth's).

    .venv/bin/python bench/ctr.py
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")

import course  # noqa: E402

SLOTS = 5
TRAIN_SESSIONS = 150_000
EPOCHS = 6


def item_features(images: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Each item's CNN embedding: the class probabilities of the course's reference digits CNN
    (``models.fit_reference``, trained on the catalogue's labels: the image classifier, which
    sees no clicks), in logits."""
    from course import models

    x = images.astype("float32") / 255.0
    model, _ = models.fit_reference(x, labels, epochs=15, seed=0)
    probs = model.predict(x, verbose=0, batch_size=256)
    logits = np.log(np.clip(probs, 1e-6, 1.0))
    return (logits - logits.mean(0)) / (logits.std(0) + 1e-6)


def fit(model, inputs: dict, clicked: np.ndarray, seed: int) -> None:
    import keras

    keras.utils.set_random_seed(seed)
    model.compile(optimizer=keras.optimizers.Adam(3e-3), loss="binary_crossentropy")
    model.fit(inputs, clicked.astype("float32"), epochs=EPOCHS, batch_size=1024, verbose=0)


def build(kind: str, n_users: int, n_items: int, feature_dim: int):
    import keras
    from keras import layers

    user = keras.Input((), dtype="int32", name="user")
    history = keras.Input((feature_dim,), name="history")
    item = keras.Input((feature_dim,), name="item")
    item_id = keras.Input((), dtype="int32", name="item_id")
    position = keras.Input((), dtype="int32", name="position")
    where = layers.Flatten()(layers.Embedding(SLOTS, 1)(position))
    parts = [where]
    if kind in ("image", "cnn"):
        parts.append(layers.Dense(1)(layers.Dense(32, activation="relu")(item)))
    if kind in ("user", "cnn"):
        parts.append(layers.Flatten()(layers.Embedding(n_users, 1)(user)))
    if kind == "cnn":
        # the user: a free embedding plus what their past clicks looked like
        free = layers.Flatten()(layers.Embedding(n_users, 16)(user))
        u = layers.Add()([free, layers.Dense(16)(history)])
        v = layers.Dense(16)(layers.Dense(32, activation="relu")(item))
        parts.append(layers.Dot(axes=1)([u, v]))
        # the wide part: each logged item's own appeal (zero for an item never logged)
        appeal = layers.Embedding(n_items, 1, embeddings_initializer="zeros")(item_id)
        parts.append(layers.Flatten()(appeal))
    logit = layers.Add()(parts) if len(parts) > 1 else parts[0]
    out = layers.Activation("sigmoid")(logit)
    used = {"position": position}
    if kind in ("image", "cnn"):
        used["item"] = item
    if kind in ("user", "cnn"):
        used["user"] = user
    if kind == "cnn":
        used.update(history=history, item_id=item_id)
    return keras.Model(used, out)


def one_seed(seed: int, ds, features: np.ndarray) -> dict:
    from sklearn.metrics import log_loss, roc_auc_score

    from course.clicks import ClickWorld

    world = ClickWorld(ds.labels, n_users=400, seed=seed)
    train = world.simulate(TRAIN_SESSIONS, slots=SLOTS, seed=seed * 10 + 1)
    warm = world.simulate(10_000, slots=SLOTS, seed=seed * 10 + 2)
    cold = world.simulate(10_000, slots=SLOTS, items=world.cold_items, seed=seed * 10 + 3)

    # each user's click history in the training log: the mean embedding of what they clicked
    clicked = train.select(train.clicked)
    history = np.zeros((world.n_users, features.shape[1]))
    np.add.at(history, clicked.user, features[clicked.item])
    history /= np.maximum(np.bincount(clicked.user, minlength=world.n_users), 1)[:, None]

    def inputs(log):
        return {
            "user": log.user,
            "history": history[log.user],
            "item": features[log.item],
            "item_id": log.item,
            "position": log.position,
        }

    scores: dict[str, tuple] = {}
    # popularity: smoothed item click rate times the position's rate
    shown = np.bincount(train.item, minlength=len(ds.labels))
    clicks = np.bincount(train.item, weights=train.clicked, minlength=len(ds.labels))
    overall = train.ctr()
    item_rate = (clicks + 20 * overall) / (shown + 20)
    by_position = train.ctr_by_position() / overall

    def popularity(log):
        return np.clip(item_rate[log.item] * by_position[log.position], 1e-6, 1 - 1e-6)

    scores["popularity"] = (popularity(warm), popularity(cold))
    for kind, name in (("image", "image-only"), ("user", "user-only"), ("cnn", "CNN-based CTR")):
        model = build(kind, world.n_users, len(features), features.shape[1])

        def feed(log, model=model):
            return {k: v for k, v in inputs(log).items() if k in model.input}

        fit(model, feed(train), train.clicked, seed)
        predict = [
            np.clip(model.predict(feed(log), verbose=0, batch_size=4096)[:, 0], 1e-6, 1 - 1e-6)
            for log in (warm, cold)
        ]
        scores[name] = tuple(predict)
    scores["ground truth"] = (warm.p_click, cold.p_click)
    return {
        name: (
            roc_auc_score(warm.clicked, w),
            roc_auc_score(cold.clicked, c),
            log_loss(warm.clicked, w),
        )
        for name, (w, c) in scores.items()
    }


def main() -> None:
    course.setup(seed=0, verbose=False)
    from course import data

    started = time.perf_counter()
    ds = data.load("digits")
    features = item_features(ds.images, ds.labels)
    runs = [one_seed(seed, ds, features) for seed in (0, 1, 2)]
    names = list(runs[0])
    table = {n: np.array([run[n] for run in runs]) for n in names}
    print(
        f"\nClick-through prediction, digits catalogue ({len(ds.labels)} items, a fifth cold), "
        f"400 users, {TRAIN_SESSIONS:,} training sessions of {SLOTS} impressions, 3 seeds, "
        f"{time.perf_counter() - started:.0f} s"
    )
    print(f"{'':<16} {'AUC warm':>16} {'AUC cold':>16} {'log-loss warm':>18}")
    for name in names:
        mean, sd = table[name].mean(0), table[name].std(0)
        print(
            f"{name:<16} {mean[0]:8.4f} +- {sd[0]:.4f} {mean[1]:8.4f} +- {sd[1]:.4f} "
            f"{mean[2]:10.5f} +- {sd[2]:.5f}"
        )
    cnn = table["CNN-based CTR"]
    best = np.max([table[n][:, 0] for n in ("popularity", "image-only", "user-only")], axis=0)
    margin = cnn[:, 0] - best
    over_pop_cold = cnn[:, 1] - table["popularity"][:, 1]
    excess = cnn[:, 2] / table["ground truth"][:, 2] - 1
    print(
        f"\nCNN-based AUC minus the best baseline, warm items: {margin.mean():+.4f} "
        f"(per seed {', '.join(f'{m:+.4f}' for m in margin)}; target >= +0.03)"
    )
    print(
        f"CNN-based AUC minus popularity, cold items: {over_pop_cold.mean():+.4f} "
        f"(per seed {', '.join(f'{m:+.4f}' for m in over_pop_cold)}; target > 0)"
    )
    print(
        f"CNN-based log-loss over the ground truth's: {100 * excess.mean():+.2f}% "
        f"(per seed {', '.join(f'{100 * e:+.2f}%' for e in excess)}; target within 5%)"
    )


if __name__ == "__main__":
    main()
