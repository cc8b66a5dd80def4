"""course.plots.filters and course.plots.feature_maps: kernels and feature maps as images."""

import matplotlib.pyplot as plt
import numpy as np
import pytest
from matplotlib.figure import Figure

from course import plots

SOBEL_X = np.array([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]])


def _panels(fig):
    return [ax for ax in fig.axes if ax.images]


def test_filters_draws_one_panel_per_output_filter_of_a_conv2d_kernel():
    kernel = np.random.default_rng(0).normal(size=(3, 3, 1, 6))
    fig = plots.filters(kernel)
    assert isinstance(fig, Figure)
    assert len(_panels(fig)) == 6
    assert plt.get_fignums() == []


def test_filters_writes_the_weights_of_a_small_kernel_in_its_cells():
    fig = plots.filters(SOBEL_X, titles=["x gradient"])
    (ax,) = _panels(fig)
    assert ax.get_title() == "x gradient"
    assert sorted(t.get_text() for t in ax.texts) == sorted(
        ["-1", "0", "1", "-2", "0", "2", "-1", "0", "1"]
    )


def test_filters_centres_the_colour_scale_at_zero():
    fig = plots.filters(np.stack([SOBEL_X, SOBEL_X.T], axis=-1)[:, :, None, :])
    lo, hi = _panels(fig)[0].images[0].get_clim()
    assert lo == -hi == -2.0


def test_filters_draws_three_channel_filters_in_colour_and_limits_the_count():
    kernel = np.random.default_rng(1).normal(size=(5, 5, 3, 40))
    fig = plots.filters(kernel, n=10)
    panels = _panels(fig)
    assert len(panels) == 10
    assert panels[0].images[0].get_array().shape == (5, 5, 3)
    assert not panels[0].texts  # colour filters are not annotated


def test_filters_explains_a_wrong_shape():
    with pytest.raises(ValueError, match=r"\(kh, kw, c_in, c_out\)"):
        plots.filters(np.zeros((3, 3, 4)))
    with pytest.raises(ValueError, match="one per filter"):
        plots.filters(np.zeros((3, 3, 1, 4)), titles=["a"])


def test_feature_maps_shows_each_channel_of_one_image_with_its_titles():
    maps = np.random.default_rng(2).random((1, 12, 12, 5))
    fig = plots.feature_maps(maps, titles=list("abcde"))
    panels = _panels(fig)
    assert [ax.get_title() for ax in panels] == list("abcde")
    assert panels[0].images[0].get_array().shape == (12, 12)


def test_feature_maps_uses_a_zero_centred_scale_for_signed_maps_only():
    signed = np.zeros((4, 4, 2))
    signed[..., 0] = np.linspace(-3, 1, 16).reshape(4, 4)
    signed[..., 1] = np.linspace(0, 2, 16).reshape(4, 4)
    first, second = _panels(plots.feature_maps(signed))
    assert first.images[0].get_clim() == (-3.0, 3.0)
    assert second.images[0].get_clim() == (0.0, 2.0)


def test_feature_maps_shows_at_most_n_maps_and_explains_a_batch():
    assert len(_panels(plots.feature_maps(np.ones((6, 6, 30)), n=8))) == 8
    with pytest.raises(ValueError, match="one image's maps"):
        plots.feature_maps(np.zeros((4, 6, 6, 3)))


def test_feature_maps_draws_non_negative_maps_with_the_chosen_colour_map():
    (panel,) = _panels(plots.feature_maps(np.ones((5, 5, 1)), cmap="gray"))
    assert panel.images[0].get_cmap().name == "gray"
