"""A training length stated in optimizer updates, not epochs.

The quick recipes were tuned on the built-in set. What ends the plain light VGG's plateau is
the number of updates (docs/experiments.md, "Q5 training recipe"), and a set with a tenth of
the images gives a tenth of the updates per epoch: at the built-in set's 15 epochs a 20-per-class
set stops on the plateau. A :class:`Budget` keeps the recipe's updates (and its patience, also
counted in updates) whatever the set's size, between a floor and a ceiling in epochs.
"""
from __future__ import annotations

import dataclasses
import math

from .fit import TrainConfig


@dataclasses.dataclass(frozen=True)
class Budget:
    """``config`` as tuned on a set of ``reference_batches`` batches an epoch; the floor is its
    epochs (a larger set trains no fewer epochs than the recipe), the ceiling ``max_epochs``."""

    config: TrainConfig
    reference_batches: int
    max_epochs: int

    @property
    def updates(self) -> int:
        """Optimizer updates the recipe makes on its reference set."""
        return self.config.epochs * self.reference_batches

    def plan(self, images: int, **overrides) -> tuple[TrainConfig, str]:
        """(the configuration for a training part of ``images`` images, a sentence saying why).

        ``overrides`` replace the recipe's fields; an ``epochs`` among them is taken as it is
        (with the recipe's patience unless ``patience`` is given too).
        """
        config = dataclasses.replace(self.config, **overrides)
        batches = max(1, math.ceil(images / config.batch_size))
        if "epochs" in overrides:
            return config, (f"{config.epochs} epochs as asked ({config.epochs * batches:,} updates of "
                            f"{batches} batches of {config.batch_size})")

        def scaled(epochs: int, ceiling: int) -> int:  # the same updates, in this set's epochs
            return min(max(math.ceil(epochs * self.reference_batches / batches), epochs), ceiling)

        epochs = scaled(self.config.epochs, self.max_epochs)
        fields = {"epochs": epochs, "lr_patience": scaled(config.lr_patience, epochs)}
        if "patience" not in overrides:
            fields["patience"] = scaled(config.patience, epochs)
        config = dataclasses.replace(config, **fields)
        floor = epochs == self.config.epochs and batches > self.reference_batches
        bound = (" (the floor: the recipe's epochs)" if floor
                 else f" (the ceiling: {self.max_epochs} epochs)" if epochs == self.max_epochs else "")
        return config, (f"{epochs} epochs{bound} of {batches} batches of {config.batch_size} = "
                        f"{epochs * batches:,} updates, for the recipe's {self.updates:,} "
                        f"({self.config.epochs} epochs of {self.reference_batches} batches on the built-in set); "
                        f"patience {config.patience} epochs, learning-rate patience {config.lr_patience}")
