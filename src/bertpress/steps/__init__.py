"""Compression as composable steps: one frozen config per method, a recipe that lists them, one
shared state, and a runner that applies them and reports every step.

Importing this package registers the built-in steps: ``prune``, ``drop_layers``, ``distill``,
``distill_static``, ``export`` and ``quantize``.
"""

from .base import Stage, StepConfig, apply_step, register_step, step_type
from .distill import DistillStep
from .distill_static import DistillStaticStep
from .drop_layers import DropLayersStep
from .export import ExportStep
from .gradual import gradual_recipe
from .prune import PruneStep
from .quantize import QuantizeStep
from .recipe import Recipe
from .report import CompressReport, Measurement, StepRecord
from .runner import compress
from .state import State

__all__ = [
    "CompressReport",
    "DistillStaticStep",
    "DistillStep",
    "DropLayersStep",
    "ExportStep",
    "Measurement",
    "PruneStep",
    "QuantizeStep",
    "Recipe",
    "Stage",
    "State",
    "StepConfig",
    "StepRecord",
    "apply_step",
    "compress",
    "gradual_recipe",
    "register_step",
    "step_type",
]
