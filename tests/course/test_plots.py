"""course.plots: figures are built without a display and say what they should."""

import matplotlib.pyplot as plt
import numpy as np
import pytest
from matplotlib.figure import Figure

from course import plots


@pytest.fixture
def images():
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, size=(12, 8, 8, 1), dtype=np.uint8)


def test_image_grid_draws_one_titled_panel_per_image_and_leaves_pyplot_empty(images, tmp_path):
    fig = plots.image_grid(images, np.arange(12) % 3, class_names=["a", "b", "c"], n=9)
    assert isinstance(fig, Figure)
    shown = [ax for ax in fig.axes if ax.images]
    assert len(shown) == 9
    assert [ax.get_title() for ax in shown[:4]] == ["a", "b", "c", "a"]
    assert plt.get_fignums() == []  # never registered with pyplot: shown once in a notebook
    fig.savefig(tmp_path / "grid.png")
    assert (tmp_path / "grid.png").stat().st_size > 1000


def test_image_grid_colours_right_and_wrong_predictions(images):
    fig = plots.image_grid(images[:2], [0, 1], predictions=[0, 2], class_names=["x", "y", "z"])
    right, wrong = (ax for ax in fig.axes if ax.images)
    assert right.get_title() == "x / x" and wrong.get_title() == "y / z"
    assert right.title.get_color() != wrong.title.get_color()


def test_image_grid_accepts_colour_floats_and_images_without_channel_axis():
    rgb = np.random.default_rng(1).random((4, 6, 6, 3)).astype("float32")
    assert len([a for a in plots.image_grid(rgb).axes if a.images]) == 4
    grey = np.zeros((3, 5, 5))
    assert len([a for a in plots.image_grid(grey).axes if a.images]) == 3


def test_image_grid_of_no_images_says_so_instead_of_failing():
    fig = plots.image_grid(np.zeros((0, 8, 8, 1)), np.zeros(0), title="mistakes")
    assert [t.get_text() for t in fig.axes[0].texts] == ["no images to show"]


def test_image_grid_explains_a_wrong_shape():
    with pytest.raises(ValueError, match=r"expected images shaped \(n, h, w, c\)"):
        plots.image_grid(np.zeros((2, 3, 4, 5, 6)))
    with pytest.raises(ValueError, match="one per image"):
        plots.image_grid(np.zeros((4, 5, 5, 1)), labels=[1, 2])


def test_class_distribution_bars_show_the_counts():
    fig = plots.class_distribution(np.array([0, 0, 0, 1, 2, 2]), class_names=["a", "b", "c"])
    heights = [p.get_height() for p in fig.axes[0].patches]
    assert heights == [3, 1, 2]


def test_class_distribution_of_several_splits_shows_shares():
    fig = plots.class_distribution({"train": [0, 0, 1, 1], "test": [0, 1, 1, 1]})
    heights = [p.get_height() for p in fig.axes[0].patches]
    assert heights == pytest.approx([0.5, 0.5, 0.25, 0.75])
    assert [t.get_text() for t in fig.axes[0].get_legend().get_texts()] == ["train", "test"]


def test_learning_curves_plot_train_and_validation_per_metric():
    logs = {
        "loss": [1.0, 0.5, 0.3],
        "val_loss": [1.1, 0.7, 0.6],
        "accuracy": [0.5, 0.8, 0.9],
        "val_accuracy": [0.4, 0.7, 0.8],
    }
    fig = plots.learning_curves(logs)
    assert [ax.get_title() for ax in fig.axes] == ["loss", "accuracy"]
    assert [len(ax.lines) for ax in fig.axes] == [2, 2]
    assert list(fig.axes[0].lines[1].get_ydata()) == [1.1, 0.7, 0.6]


def test_learning_curves_take_a_keras_history():
    import keras

    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2, activation="softmax")])
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    x, y = np.random.default_rng(0).random((16, 3)), np.arange(16) % 2
    history = model.fit(x, y, validation_split=0.25, epochs=2, verbose=0)
    fig = plots.learning_curves(history)
    assert {ax.get_title() for ax in fig.axes} == {"loss", "accuracy"}


def test_learning_curves_reject_what_is_not_a_history():
    with pytest.raises(ValueError, match="Keras History"):
        plots.learning_curves([0.1, 0.2])
    with pytest.raises(ValueError, match="has no"):
        plots.learning_curves({"loss": [1.0]}, metrics=["accuracy"])


def test_grouped_bars_draws_one_bar_per_series_and_category_with_a_reference_line():
    table = {"trained": {"Grad-CAM": 0.9, "saliency": 0.8}, "untrained": {"Grad-CAM": 0.3}}
    fig = plots.grouped_bars(table, reference=(0.25, "random"), ylabel="score")
    ax = fig.axes[0]
    heights = sorted(round(p.get_height(), 2) for p in ax.patches if not np.isnan(p.get_height()))
    assert heights == [0.3, 0.8, 0.9]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["Grad-CAM", "saliency"]
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["random", "trained", "untrained"]
    with pytest.raises(ValueError, match="series"):
        plots.grouped_bars({})


def test_learning_curves_join_phases_and_mark_where_each_starts():
    frozen = {"loss": [2.0, 1.0, 0.8], "val_loss": [2.1, 1.2, 1.0]}
    tuned = {"loss": [0.5, 0.4], "val_loss": [0.9, 0.85]}
    fig = plots.learning_curves({"frozen": frozen, "fine-tuned": tuned})
    ax = fig.axes[0]
    train, val = (line.get_ydata() for line in ax.lines[:2])
    assert list(train) == [2.0, 1.0, 0.8, 0.5, 0.4] and list(val) == [2.1, 1.2, 1.0, 0.9, 0.85]
    assert [t.get_text() for t in ax.texts] == ["frozen", "fine-tuned"]
    starts = sorted(line.get_xdata()[0] for line in ax.lines[2:])
    assert starts == [0.5, 3.5]
