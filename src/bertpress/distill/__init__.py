"""Knowledge distillation: a teacher's outputs and hidden states teach a (pruned or shallower)
student. ``losses`` holds the objective, ``teacher`` finds and checks the teacher; the training
itself is ``train.loop`` and the recipe step is ``steps.distill``."""

from .losses import DistillWeights, Distiller, layer_map
from .teacher import check_teacher

__all__ = ["DistillWeights", "Distiller", "check_teacher", "layer_map"]
