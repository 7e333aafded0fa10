"""Checking that a teacher can teach a student: the same outputs and the same vocabulary."""

from __future__ import annotations

from transformers import PretrainedConfig

from ..errors import BertpressError
from ..models.task_heads import TaskHead, model_label_names

# How a user says that the teacher's outputs mean the student's, whatever the configs record.
_OVERRIDE = "pass --teacher-labels-differ (in a recipe, teacher_labels_differ: true)"


def check_teacher(
    teacher: PretrainedConfig,
    teacher_tokenizer,
    student: PretrainedConfig,
    student_tokenizer,
    task_head: TaskHead,
    name: str,
    labels_differ: bool = False,
) -> None:
    """Refuse a teacher whose labels or token ids mean something else than the student's.

    ``labels_differ``: the user vouches that the outputs mean the same although the label names
    or the recorded tasks differ; the number of outputs must still match.
    """
    try:
        task_head.check(teacher, "")
    except BertpressError:
        raise BertpressError(
            f"teacher {name} has {teacher.num_labels} output label(s), the student {student.num_labels}"
        ) from None
    if not labels_differ:
        _check_same_task(teacher, student, name)
    if teacher.vocab_size != student.vocab_size or (
        teacher_tokenizer is not None and teacher_tokenizer.get_vocab() != student_tokenizer.get_vocab()
    ):
        raise BertpressError(f"teacher {name} has another vocabulary than the student: token ids would not match")


def _check_same_task(teacher: PretrainedConfig, student: PretrainedConfig, name: str) -> None:
    """Refuse a teacher fine-tuned for another task, or with other label names, than the student:
    with as many labels, its outputs would be taught as if they meant the student's."""
    teacher_task, student_task = _recorded_task(teacher), _recorded_task(student)
    if teacher_task and student_task and _spelled_one_way(teacher_task) != _spelled_one_way(student_task):
        raise BertpressError(
            f"teacher {name} was fine-tuned for {teacher_task}, the student for {student_task}; "
            f"{_OVERRIDE} if its outputs mean the same"
        )
    teacher_labels, student_labels = model_label_names(teacher), model_label_names(student)
    if teacher_labels != student_labels:  # transformers' placeholders on both sides are equal
        raise BertpressError(
            f"teacher {name} has labels {_describe(teacher_labels)}, the student {_describe(student_labels)}; "
            f"{_OVERRIDE} if they mean the same"
        )


def _recorded_task(config: PretrainedConfig) -> str | None:
    """The task the model was fine-tuned for, where its config says (transformers 5 may omit the field)."""
    return getattr(config, "finetuning_task", None)


def _spelled_one_way(task: str) -> str:
    """Hub configs say "sst-2" and "STS-B", bertpress "sst2" and "stsb"."""
    return "".join(char for char in str(task).lower() if char.isalnum())


def _describe(labels: list[str]) -> str:
    return ", ".join(labels) if labels else "unnamed (LABEL_0, ...)"
