"""The simulated recommender world: reproducible, clicks at the base rate, position bias as
stated, the true probability honest, tastes that a good ranking can exploit, cold items kept
apart."""

from __future__ import annotations

import numpy as np
import pytest

from course.clicks import ClickWorld, examine_probability

LABELS = np.repeat(np.arange(4), 60)  # 240 items of 4 classes, as data.load("shapes", per_class=60)


@pytest.fixture(scope="module")
def world():
    return ClickWorld(LABELS, n_users=300, seed=0)


def test_the_same_seed_gives_the_same_world_and_log():
    a, b = ClickWorld(LABELS, seed=3), ClickWorld(LABELS, seed=3)
    np.testing.assert_array_equal(a.taste, b.taste)
    la, lb = a.simulate(500), b.simulate(500)
    np.testing.assert_array_equal(la.item, lb.item)
    np.testing.assert_array_equal(la.clicked, lb.clicked)
    assert not np.array_equal(ClickWorld(LABELS, seed=4).simulate(500).item, la.item)


def test_random_rankings_click_at_the_base_rate(world):
    log = world.simulate(20_000)
    assert len(log) == 100_000
    se = np.sqrt(0.03 * 0.97 / len(log))
    assert abs(log.ctr() - 0.03) < 4 * se + 0.002, log.ctr()
    # the true probabilities are honest: their mean is the observed rate
    assert abs(log.p_click.mean() - log.ctr()) < 4 * se


def test_position_bias_follows_the_examination_curve(world):
    log = world.simulate(40_000)
    by_position = log.ctr_by_position()
    assert np.all(np.diff(by_position) < 0.004)  # falls (within noise) with the position
    ratio = by_position[4] / by_position[0]
    want = examine_probability(4) / examine_probability(0)
    assert abs(ratio - want) < 0.08, (ratio, want)


def test_a_ranking_by_true_relevance_beats_random_by_far(world):
    random_ctr = world.simulate(10_000).ctr()
    best = world.simulate(10_000, policy=world.relevance)
    assert best.ctr() > 2 * random_ctr
    # and shows users the classes they like
    liked = world.taste[best.user, LABELS[best.item]]
    assert liked.mean() > 1.5 / world.num_classes


def test_cold_items_are_shown_only_when_asked(world):
    assert len(world.cold_items) == 48 and not set(world.cold_items) & set(world.warm_items)
    assert not np.isin(world.simulate(2_000).item, world.cold_items).any()
    cold = world.simulate(2_000, items=world.cold_items, candidates=10)
    assert np.isin(cold.item, world.cold_items).all()


def test_a_session_never_shows_an_item_twice_and_logs_select(world):
    log = world.simulate(300, slots=5, candidates=8)
    per_session = log.item.reshape(300, 5)
    assert all(len(set(row)) == 5 for row in per_session)
    clicked = log.select(log.clicked)
    assert len(clicked) == int(log.clicked.sum()) and clicked.clicked.all()


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(slots=6, candidates=5), "slots"),
        (dict(candidates=1000), "items in the pool"),
        (dict(policy=lambda users, items: np.zeros(3)), "one score per candidate"),
    ],
)
def test_bad_requests_say_what_to_change(world, kwargs, message):
    with pytest.raises(ValueError, match=message):
        world.simulate(10, **kwargs)


def test_bad_worlds_are_refused():
    with pytest.raises(ValueError, match="one class per item"):
        ClickWorld(np.zeros((5, 2)))
    with pytest.raises(ValueError, match="base_rate"):
        ClickWorld(LABELS, base_rate=0.7)
