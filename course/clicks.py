"""Simulated users who click on images: a recommender's world whose truth is known (lesson 12).

A catalogue of items, each an image of a course dataset with its class; users who each like a
few classes (a taste per class, drawn from a Dirichlet); sessions in which a ranking shows
``slots`` items in order. A user looks at the item in position ``k`` with a probability that
falls with ``k`` (position bias) and clicks it, once seen, with a probability set by their taste
for its class and the item's own appeal::

    P(click | user u, item i, position k)
        = examine[k] * sigmoid(intercept + taste_scale * taste[u, class(i)] + appeal[i])

``examine[k] = 1 / log2(k + 2)`` (1, 0.63, 0.5, 0.43, ...). The intercept is solved so that
random rankings of the warm items are clicked at ``base_rate`` (3% by default, as in a feed).
Every number comes from ``seed``, and each logged impression carries its true click probability,
so a click-through model, a calibration plot or an A/B test can be checked against the truth.
A share of the catalogue (``cold_share``) is held back as ``cold_items``: new images that the
default sessions never show, for cold-start.

Example::

    ds = data.load("shapes", per_class=60)
    world = clicks.ClickWorld(ds.labels, n_users=300, seed=0)
    log = world.simulate(5000, slots=5)                     # random rankings
    print(log.ctr(), log.ctr_by_position())
    best = world.simulate(5000, policy=world.relevance)     # the ideal ranking
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, fields

import numpy as np

__all__ = ["ClickLog", "ClickWorld", "examine_probability"]

Policy = Callable[[np.ndarray, np.ndarray], np.ndarray]


def examine_probability(positions: np.ndarray | int) -> np.ndarray:
    """How likely a user is to look at position ``k`` (0 = the top): ``1 / log2(k + 2)``."""
    return 1.0 / np.log2(np.asarray(positions, dtype=float) + 2.0)


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-z))


@dataclass
class ClickLog:
    """Impressions, one row each: the session, user, item (an index into the catalogue), the
    position it was shown at, whether it was clicked, and the true click probability."""

    session: np.ndarray
    user: np.ndarray
    item: np.ndarray
    position: np.ndarray
    clicked: np.ndarray
    p_click: np.ndarray

    def __len__(self) -> int:
        return len(self.item)

    def ctr(self) -> float:
        """Clicks per impression."""
        return float(self.clicked.mean()) if len(self) else float("nan")

    def ctr_by_position(self) -> np.ndarray:
        """Clicks per impression at each position (the position bias, as logged)."""
        top = int(self.position.max()) + 1 if len(self) else 0
        shown = np.bincount(self.position, minlength=top)
        clicks = np.bincount(self.position, weights=self.clicked, minlength=top)
        return clicks / np.maximum(shown, 1)

    def select(self, mask: np.ndarray) -> ClickLog:
        """The impressions where ``mask`` is true (a boolean array or indices)."""
        return ClickLog(**{f.name: getattr(self, f.name)[mask] for f in fields(self)})


class ClickWorld:
    """Users, items and a known click model; ``simulate`` logs sessions under a ranking policy.

    ``labels`` is the class of each catalogue item (``ds.labels`` of a course dataset: item
    ``i`` is the image ``ds.images[i]``). ``likes`` sets how concentrated tastes are (the
    Dirichlet's total concentration: small values, one or two favourite classes),
    ``taste_scale`` how much taste moves the odds, ``appeal_scale`` how much items of one class
    differ.
    """

    def __init__(
        self,
        labels: np.ndarray,
        n_users: int = 300,
        *,
        base_rate: float = 0.03,
        cold_share: float = 0.2,
        likes: float = 1.0,
        taste_scale: float = 4.0,
        appeal_scale: float = 0.5,
        seed: int = 0,
    ):
        labels = np.asarray(labels)
        if labels.ndim != 1 or len(labels) < 10:
            raise ValueError(
                f"labels must be one class per item, at least 10 items; got shape {labels.shape}"
            )
        if not 0 < base_rate < 0.5:
            raise ValueError(f"base_rate must be in (0, 0.5); got {base_rate}")
        if not 0 <= cold_share < 1:
            raise ValueError(f"cold_share must be in [0, 1); got {cold_share}")
        if n_users < 1:
            raise ValueError(f"n_users must be at least 1; got {n_users}")
        rng = np.random.default_rng(seed)
        self.labels = labels.astype(int)
        self.num_classes = int(self.labels.max()) + 1
        self.n_users = n_users
        self.seed = seed
        self.taste = rng.dirichlet(np.full(self.num_classes, likes / self.num_classes), n_users)
        self.taste_scale = taste_scale
        self.appeal = rng.normal(0.0, appeal_scale, len(labels))
        order = rng.permutation(len(labels))
        n_cold = int(round(cold_share * len(labels)))
        self.cold_items = np.sort(order[:n_cold])
        self.warm_items = np.sort(order[n_cold:])
        self.base_rate = base_rate
        self.intercept = self._solve_intercept(base_rate, rng)

    def _logit(self, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        taste = self.taste[users, self.labels[items]]
        return self.taste_scale * taste + self.appeal[items]

    def _solve_intercept(self, rate: float, rng: np.random.Generator) -> float:
        """The intercept at which random rankings of warm items click at ``rate`` (bisection
        on a fixed sample of user, item, position triples)."""
        n = 20_000
        users = rng.integers(0, self.n_users, n)
        items = rng.choice(self.warm_items, n)
        seen = examine_probability(rng.integers(0, 5, n))
        logit = self._logit(users, items)
        low, high = -20.0, 20.0
        for _ in range(60):
            mid = (low + high) / 2
            if np.mean(seen * _sigmoid(mid + logit)) < rate:
                low = mid
            else:
                high = mid
        return (low + high) / 2

    def relevance(self, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        """P(click | seen) for each (user, item) pair: the ideal ranking score. Usable as a
        ``policy`` (``world.simulate(..., policy=world.relevance)``)."""
        users, items = np.asarray(users), np.asarray(items)
        if users.ndim < items.ndim:
            users = users.reshape(users.shape + (1,) * (items.ndim - users.ndim))
        return _sigmoid(self.intercept + self._logit(users, items))

    def click_probability(
        self, users: np.ndarray, items: np.ndarray, positions: np.ndarray
    ) -> np.ndarray:
        """The true P(click) of showing ``items`` to ``users`` at ``positions``."""
        return examine_probability(positions) * self.relevance(users, items)

    def simulate(
        self,
        sessions: int,
        *,
        slots: int = 5,
        candidates: int = 20,
        policy: Policy | None = None,
        items: np.ndarray | None = None,
        users: np.ndarray | None = None,
        seed: int | None = None,
    ) -> ClickLog:
        """Log ``sessions`` sessions: each draws a user (from ``users``, default all), draws
        ``candidates`` items (from ``items``, default the warm ones), ranks them with
        ``policy(users, items) -> scores`` (both ``(sessions, candidates)``; None ranks at
        random), shows the top ``slots`` and draws the clicks. ``seed`` defaults to the world's
        seed + 1, so the same call gives the same log."""
        pool = self.warm_items if items is None else np.asarray(items)
        who = np.arange(self.n_users) if users is None else np.asarray(users)
        if not 1 <= slots <= candidates <= len(pool):
            raise ValueError(
                f"need 1 <= slots ({slots}) <= candidates ({candidates}) <= items in the pool "
                f"({len(pool)})"
            )
        rng = np.random.default_rng(self.seed + 1 if seed is None else seed)
        session_users = rng.choice(who, sessions)
        # candidates without repeats in a session (random keys, the smallest `candidates`),
        # a block of sessions at a time so memory stays small for big catalogues
        picks = np.empty((sessions, candidates), dtype=int)
        for start in range(0, sessions, 2048):
            keys = rng.random((min(2048, sessions - start), len(pool)))
            picks[start : start + len(keys)] = np.argpartition(keys, candidates - 1, axis=1)[
                :, :candidates
            ]
        shown_items = pool[picks]
        if policy is None:
            scores = rng.random(shown_items.shape)
        else:
            scores = np.asarray(policy(session_users[:, None].repeat(candidates, 1), shown_items))
            if scores.shape != shown_items.shape:
                raise ValueError(
                    f"the policy must return one score per candidate, shape {shown_items.shape}; "
                    f"got {scores.shape}"
                )
        ranked = np.argsort(-scores, axis=1, kind="stable")[:, :slots]
        item = np.take_along_axis(shown_items, ranked, axis=1)
        position = np.broadcast_to(np.arange(slots), item.shape)
        user = np.broadcast_to(session_users[:, None], item.shape)
        p = self.click_probability(user, item, position)
        clicked = rng.random(p.shape) < p
        session = np.broadcast_to(np.arange(sessions)[:, None], item.shape)
        return ClickLog(
            session.ravel().copy(),
            user.ravel().copy(),
            item.ravel().copy(),
            position.ravel().copy(),
            clicked.ravel(),
            p.ravel(),
        )
