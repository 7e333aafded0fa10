"""Checking that a teacher can teach a student: the same outputs and the same vocabulary."""

from __future__ import annotations

from transformers import PretrainedConfig

from ..errors import BertpressError
from ..models.heads import TaskHead


def check_teacher(
    teacher: PretrainedConfig, teacher_tokenizer, student: PretrainedConfig, student_tokenizer, head: TaskHead, name: str
) -> None:
    """Refuse a teacher whose labels or token ids mean something else than the student's."""
    try:
        head.check(teacher, "")
    except BertpressError:
        raise BertpressError(
            f"teacher {name} has {teacher.num_labels} output label(s), the student {student.num_labels}"
        ) from None
    teacher_labels, student_labels = _label_names(teacher), _label_names(student)
    if teacher_labels and student_labels and teacher_labels != student_labels:
        raise BertpressError(f"teacher {name} has labels {teacher_labels}, the student {student_labels}")
    if teacher.vocab_size != student.vocab_size or (
        teacher_tokenizer is not None and teacher_tokenizer.get_vocab() != student_tokenizer.get_vocab()
    ):
        raise BertpressError(f"teacher {name} has another vocabulary than the student: token ids would not match")


def _label_names(config: PretrainedConfig) -> list[str]:
    """The label names in index order; empty for transformers' placeholders (LABEL_0, ...)."""
    names = [str(config.id2label[index]) for index in sorted(config.id2label)] if config.id2label else []
    return [] if all(name == f"LABEL_{index}" for index, name in enumerate(names)) else names
