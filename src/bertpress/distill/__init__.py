"""Knowledge distillation: a teacher's outputs and hidden states teach a (pruned or shallower)
student. ``losses`` holds the objective, ``teacher`` finds and checks the teacher, ``cache`` keeps
its scores of each example for later epochs; the training itself is ``train.loop`` and the
recipe step is ``steps.distill``."""

from .cache import TeacherScores
from .losses import DistillWeights, Distiller, layer_map
from .teacher import check_teacher

__all__ = ["DistillWeights", "Distiller", "TeacherScores", "check_teacher", "layer_map"]
