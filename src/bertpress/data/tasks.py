"""The task registry: what a task's data looks like, how many outputs its task head has, how it is scored.

A task names its task head (``task_head``): the GLUE tasks are sequence classification (STS-B with
one output: regression), SQuAD is span question answering (``span_qa``), CoNLL-2003 token
classification (named entities).
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import BertpressError

# Light constants the command line's help reads (importing data.sources would load datasets).
GLUE_DIR_ENV = "BERTPRESS_GLUE_DIR"  # the GLUE folder when no --data-dir is given
RETRIEVAL_TASK = "squad-retrieval"  # a sentence embedder's SQuAD retrieval (measure.embeddings), not in TASKS
# The scores of retrieval (``measure.embeddings.retrieval_metrics``), and every score an embedder
# can be ranked by (STS-B: the Spearman of its cosine similarities; agreement: with the original).
RETRIEVAL_METRICS = ("ndcg@10", "mrr@10", "recall@10", "recall@1")
EMBEDDING_METRICS = ("stsb", *RETRIEVAL_METRICS, "agreement")


@dataclass(frozen=True)
class Columns:
    """Where the inputs and the label of an example live in a table."""

    text: tuple[str, ...]  # one column (single sentence) or two (a sentence pair)
    label: str = "label"
    header: tuple[str, ...] | None = None  # every column's name, for files without a header line


@dataclass(frozen=True)
class GlueFiles:
    """A task's files in the layout of the GLUE download script: ``<folder>/<split>.tsv``."""

    folder: str
    columns: Columns


@dataclass(frozen=True)
class Task:
    name: str
    num_labels: int  # 1 for regression
    main_metric: str  # the metric a report leads with
    metrics: tuple[str, ...]  # names in ``measure.metrics.METRICS``
    columns: Columns  # the hub's columns; also the default columns of a custom file
    label_names: tuple[str, ...] = ()  # index -> name; empty for regression
    splits: tuple[str, ...] = ("train", "dev")
    task_head: str = "sequence_classification"
    hub: tuple[str, str | None] | None = None  # (dataset id, config name) for ``datasets.load_dataset``
    glue_files: GlueFiles | None = None
    # Each split's file in --data-dir, for tasks outside the GLUE layout: (("train", "train-v1.1.json"), ...).
    split_files: tuple[tuple[str, str], ...] = ()
    max_length: int = 128  # tokens per example (a QA window) unless --max-length says otherwise (DEFAULT_LENGTH)
    # MACs are counted at ``max_length`` (every QA window is priced full) rather than at the calibration's mean length.
    priced_at_max_length: bool = False

    @property
    def is_regression(self) -> bool:
        return self.task_head == "sequence_classification" and self.num_labels == 1

    @property
    def problem_type(self) -> str | None:
        """The ``problem_type`` a transformers config of this task's model carries (sequence tasks only)."""
        if self.task_head != "sequence_classification":
            return None
        return "regression" if self.is_regression else "single_label_classification"

    def resolve_split(self, split: str) -> str:
        """The split's canonical name: ``dev`` means the first dev split (MNLI: ``dev_matched``)."""
        if split in self.splits:
            return split
        if split == "dev":
            return next(name for name in self.splits if name.startswith("dev"))
        raise BertpressError(f"task '{self.name}' has no split '{split}' (known: {', '.join(self.splits)})")

    def hub_split(self, split: str) -> str:
        """The hub dataset's name of ``split``: dev is validation (MNLI: dev_matched -> validation_matched)."""
        return self.resolve_split(split).replace("dev", "validation")


def _glue(name, folder, label_names, hub_text, file_columns, **fields) -> Task:
    """A GLUE task: its hub config is its name; regression when it has no label names."""
    defaults = {"main_metric": "accuracy", "metrics": ("accuracy",)}
    return Task(
        name=name,
        num_labels=len(label_names) or 1,
        columns=Columns(hub_text),
        label_names=label_names,
        hub=("nyu-mll/glue", name),
        glue_files=GlueFiles(folder, file_columns),
        **{**defaults, **fields},
    )


_ENTAILMENT = ("entailment", "not_entailment")
_SENTENCE_PAIR = ("sentence1", "sentence2")

# Label orders follow Hugging Face's ``nyu-mll/glue``, so hub-trained checkpoints score correctly.
TASKS: dict[str, Task] = {
    task.name: task
    for task in (
        _glue(
            "cola",
            "CoLA",
            ("unacceptable", "acceptable"),
            ("sentence",),
            Columns(("sentence",), header=("source", "label", "original_label", "sentence")),
            main_metric="matthews_correlation",
            metrics=("matthews_correlation",),
        ),
        _glue("sst2", "SST-2", ("negative", "positive"), ("sentence",), Columns(("sentence",))),
        _glue(
            "mrpc",
            "MRPC",
            ("not_equivalent", "equivalent"),
            _SENTENCE_PAIR,
            Columns(("#1 String", "#2 String"), label="Quality"),
            metrics=("accuracy", "f1"),
        ),
        _glue(
            "qqp",
            "QQP",
            ("not_duplicate", "duplicate"),
            ("question1", "question2"),
            Columns(("question1", "question2"), label="is_duplicate"),
            metrics=("accuracy", "f1"),
        ),
        _glue(
            "stsb",
            "STS-B",
            (),
            _SENTENCE_PAIR,
            Columns(_SENTENCE_PAIR, label="score"),
            main_metric="spearman",
            metrics=("pearson", "spearman"),
        ),
        _glue(
            "mnli",
            "MNLI",
            ("entailment", "neutral", "contradiction"),
            ("premise", "hypothesis"),
            Columns(_SENTENCE_PAIR, label="gold_label"),
            splits=("train", "dev_matched", "dev_mismatched"),
        ),
        _glue("qnli", "QNLI", _ENTAILMENT, ("question", "sentence"), Columns(("question", "sentence"))),
        _glue("rte", "RTE", _ENTAILMENT, _SENTENCE_PAIR, Columns(_SENTENCE_PAIR)),
        _glue("wnli", "WNLI", ("not_entailment", "entailment"), _SENTENCE_PAIR, Columns(_SENTENCE_PAIR)),
    )
}


# CoNLL-2003's tags in the order of the Hugging Face dataset (``eriktks/conll2003``), IOB2.
CONLL_TAGS = ("O", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC", "B-MISC", "I-MISC")

TASKS["squad"] = Task(
    name="squad", num_labels=2, main_metric="f1", metrics=("exact_match", "f1"), columns=Columns(("question", "context"), "answers"),
    task_head="span_qa", hub=("rajpurkar/squad", None), split_files=(("train", "train-v1.1.json"), ("dev", "dev-v1.1.json")),
    max_length=384, priced_at_max_length=True,
)
TASKS["conll2003"] = Task(
    name="conll2003", num_labels=len(CONLL_TAGS), main_metric="f1", metrics=("precision", "recall", "f1"),
    columns=Columns(("tokens",), "tags"), label_names=CONLL_TAGS, splits=("train", "dev", "test"),
    task_head="token_classification", hub=("eriktks/conll2003", None),
    split_files=(("train", "eng.train"), ("dev", "eng.testa"), ("test", "eng.testb")),
)
DEFAULT_LENGTH = 128  # tokens per example where no task says otherwise
DOC_STRIDE = 128  # tokens two consecutive windows of a long QA context share, unless --doc-stride says otherwise


def get_task(name: str) -> Task:
    task = TASKS.get(name.lower())
    if task is None:
        raise BertpressError(f"unknown task '{name}' (known: {', '.join(TASKS)})")
    return task
