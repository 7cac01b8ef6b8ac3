"""Adversarial losses and Lipschitz constraints as small functions that compose."""

from modegan.losses.adversarial import LOSSES, AdversarialLoss, get_loss
from modegan.losses.constraints import clip_weights_, gradient_penalty

__all__ = ["LOSSES", "AdversarialLoss", "get_loss", "clip_weights_", "gradient_penalty"]
