"""Prune while fine-tuning: a Keras callback (this module imports Keras; ``course.mobile``
imports it only when ``mobile.PruningCallback`` is first used)."""

from __future__ import annotations

from typing import Any

import keras

from course.mobile.pruning import (
    MIN_WEIGHTS,
    _check_sparsity,
    _magnitude_mask,
    _prunable,
    polynomial_sparsity,
)


class PruningCallback(keras.callbacks.Callback):
    """Prune while fine-tuning: masks follow a polynomial schedule and stay applied.

    Introduced in lesson 10 (mobile-and-optimization). Every ``frequency`` steps from
    ``begin_step`` to ``end_step`` the masks of the Conv/Dense kernels are recomputed from
    the current weights at the sparsity :func:`polynomial_sparsity` gives, and after
    *every* batch they are applied again, so that weights once pruned stay exactly zero
    although the optimizer keeps nudging them. ``end_step=None`` reaches ``sparsity`` at
    two thirds of the run (``fit``'s epochs times steps), leaving the last third to
    recover at the final sparsity; ``end_step=0`` prunes to ``sparsity`` at once. Layers
    with fewer than ``min_weights`` kernel entries are left whole, as in :func:`prune`.
    ``self.schedule`` records ``(step, sparsity)`` at each mask update.

    Example::

        model.fit(X_train, y_train, epochs=3,
                  callbacks=[mobile.PruningCallback(0.8)])
    """

    def __init__(
        self,
        sparsity: float,
        *,
        begin_step: int = 0,
        end_step: int | None = None,
        frequency: int = 10,
        power: float = 3.0,
        min_weights: int = MIN_WEIGHTS,
    ) -> None:
        super().__init__()
        self.target = _check_sparsity(sparsity)
        if int(frequency) < 1:
            raise ValueError(f"frequency is in steps, at least 1; got {frequency}")
        self.begin_step, self.end_step = int(begin_step), end_step
        self.frequency, self.power = int(frequency), float(power)
        self.min_weights = int(min_weights)
        self.step = 0
        self.masks: dict[str, Any] = {}
        self.schedule: list[tuple[int, float]] = []

    def _update_masks(self, fraction: float) -> None:
        self.masks = {}
        for layer in self._layers:
            kernel = keras.ops.convert_to_numpy(layer.kernel)
            self.masks[layer.name] = keras.ops.convert_to_tensor(
                _magnitude_mask(kernel, fraction), dtype=layer.kernel.dtype
            )
        self.schedule.append((self.step, fraction))

    def _apply(self) -> None:
        for layer in self._layers:
            layer.kernel.assign(keras.ops.multiply(layer.kernel, self.masks[layer.name]))

    def on_train_begin(self, logs: Any = None) -> None:
        self._layers = _prunable(self.model, self.min_weights)
        if not self._layers:
            raise ValueError(
                f"the model has no Conv or Dense layer with at least {self.min_weights} "
                "weights to prune; lower min_weights"
            )
        if self.end_step is None:
            steps, epochs = self.params.get("steps"), self.params.get("epochs")
            if not steps or not epochs:
                raise ValueError(
                    "PruningCallback can't tell how long training runs (steps per epoch "
                    "unknown); pass end_step, or steps_per_epoch to fit()"
                )
            self._end = max(self.begin_step, (2 * int(steps) * int(epochs)) // 3)
        else:
            self._end = int(self.end_step)
        self.step = 0
        self._update_masks(self._sparsity())
        self._apply()

    def _sparsity(self) -> float:
        return polynomial_sparsity(self.step, self.target, begin_step=self.begin_step,
                                   end_step=self._end, power=self.power)  # fmt: skip

    def on_train_batch_end(self, batch: int, logs: Any = None) -> None:
        self.step += 1
        in_window = self.begin_step <= self.step <= self._end
        due = (self.step - self.begin_step) % self.frequency == 0 or self.step == self._end
        if in_window and due:
            self._update_masks(self._sparsity())
        self._apply()
