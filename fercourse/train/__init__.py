"""Training: numeric policy, fit loop with callbacks, model store, cached features."""
from .fit import TrainConfig, TrainResult, get_strategy, train
from .policy import choose_policy, policy_scope
from .store import ModelStore

__all__ = ["ModelStore", "TrainConfig", "TrainResult", "choose_policy", "policy_scope", "get_strategy", "train"]
