"""What a compression serves, and so how it loads, calibrates, trains, scores and saves the model.

``TaskWorkload``: a fine-tuned model on a registered task (labels, dev metrics, a transformers
folder). ``EmbeddingWorkload``: a sentence-embedding model and unlabeled text (agreement with the
original embeddings, STS-B by cosine when GLUE data is at hand, a sentence-transformers folder).
The runner and the steps talk to a workload, never to the difference between them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import torch
from datasets import Dataset, Value

from ..data.calibration import Calibration, calibration_batches, held_out_batches
from ..data.sampling import GROUP
from ..data.sources import DataSource, load_split
from ..data.tasks import EMBEDDING_METRICS, RETRIEVAL_METRICS, Columns, Task, get_task
from ..data.squad import retrieval_set
from ..data.texts import PASSAGE_LENGTH, TextSource, split_groups, split_texts, text_file_field, text_files, text_length
from ..data.tokenize import batches, encode
from ..errors import BertpressError
from ..measure.embeddings import agreement, embed, squad_retrieval, sts_similarity
from ..measure.evaluate import evaluate
from ..memory import varying_shapes
from ..models.embedder import load_embedder, save_embedder
from ..models.task_heads import Embedding, TaskHead, task_head_for, with_fisher_noise
from ..models.loading import load_model
from ..models.pooling import Pooling
from ..models.saving import save_model
from ..runtime.loading import exported_file_in
from ..reports import to_plain


class TaskWorkload:
    """A model fine-tuned on ``task``; examples from ``data``."""

    def __init__(self, task: str, data: DataSource = DataSource()):
        self.task = get_task(task)
        self.data = data
        self.task_head: TaskHead = task_head_for(self.task)  # with the model's label names once it is loaded
        self.name = self.task.name
        self.label_type = Value("float32") if self.task.is_regression else Value("int64")

    def load(self, model: str):
        if Path(model).is_dir() and exported_file_in(model):
            raise BertpressError(f"{model} holds an exported model; compression starts from a PyTorch model folder")
        network = load_model(model)
        self.task_head = task_head_for(self.task, network.config)
        self.task_head.check(network.config, self.task.name)
        return network

    def encode(self, examples: Dataset, tokenizer, max_length: int) -> Dataset:
        """Examples as model inputs and labels (QA windows with the data's stride; NER tags by the model's label order)."""
        return encode(examples, tokenizer, max_length, stride=self.data.doc_stride, label_names=self.task_head.label_names)

    def prepare(self, network, tokenizer, calibration: Calibration) -> list[dict]:
        return calibration_batches(self.task, tokenizer, self.data, calibration, self.task_head.label_names)

    def held_out(self, tokenizer, calibration: Calibration, count: int) -> list[dict]:
        """Training examples outside the calibration sample (none if the split has no more)."""
        return held_out_batches(self.task, tokenizer, self.data, calibration, count, self.task_head.label_names)

    def scorer(self, tokenizer, max_length: int, progress: bool) -> Callable[[Any], dict[str, float]]:
        dev = load_split(self.task, "dev", self.data)
        stride = self.data.doc_stride
        return lambda model: evaluate(
            model, tokenizer, self.task, dev, max_length=max_length, stride=stride, progress=progress
        ).metrics

    def training_examples(self) -> Dataset:
        return load_split(self.task, "train", self.data)

    def save(self, model, tokenizer, folder: Path) -> None:
        save_model(model, tokenizer, folder)

    @property
    def calibration_source(self) -> str:
        """What the calibration sample is drawn from, for the report and the model card."""
        return self.data.train_file or f"the {self.name} training split"

    def input_paths(self) -> tuple[str, ...]:
        """The local files and folders the workload reads."""
        return self.data.input_paths()

    def fingerprint(self) -> dict:
        return {"task": self.name, "data": to_plain(self.data)}


@dataclass(frozen=True)
class EmbeddingSetup:
    """How a sentence-embedding model is compressed: its text, its pooling, its objective."""

    text_file: str | tuple[str, ...] | None = None  # one text per line, a table's ``text_column``, a SQuAD file; several pool
    text_column: str | None = None
    pooling: str | None = None  # replaces the folder's pooling (or stands in for a missing one)
    objective: str = "mse"  # how embeddings are compared: mse, cosine or similarity (``models.task_heads.Embedding``)
    held_out: int = 512  # texts kept out of calibration to judge agreement on
    retrieval_file: str | None = None  # a SQuAD JSON file: scores add retrieval of its paragraphs by its questions
    max_questions: int | None = 1000  # retrieval: a seeded subset of the questions, against all paragraphs
    # Calibration and distillation batches hold each question of the SQuAD text with its paragraph,
    # so that the ``similarity`` objective's in-batch term keeps query–passage similarities (the ones
    # retrieval ranks by); otherwise batches group texts of similar length, questions with questions.
    query_passage_pairs: bool = False

    def __post_init__(self):
        object.__setattr__(self, "text_file", text_file_field(self.text_file))  # a list given: a tuple, as recipes hold it
        if self.pooling is not None:
            Pooling(self.pooling)  # refuses an unknown mode now, not after loading
        if self.retrieval_file is not None:
            retrieval_set(self.retrieval_file)  # a bad file is refused before any model loads
        if self.query_passage_pairs and self.objective != "similarity":
            raise BertpressError(
                "query-passage pairs only change the similarity objective's in-batch term: use --embedding-loss similarity"
            )


# The pseudo-task of an embedding workload: single texts, no labels.
EMBEDDING_TASK = Task(
    name="embedding", num_labels=0, main_metric="agreement", metrics=("agreement",), columns=Columns(("text",)),
    task_head="embedding",
)


class EmbeddingWorkload:
    """A sentence embedder; text from ``setup.text_file``, ``task_name``'s training sentences, or
    with neither the text sample shipped in the package."""

    name = "embedding"
    label_type = Value("float32")  # target embeddings, or NaN: there are no class labels

    def __init__(self, setup: EmbeddingSetup, task_name: str | None = None, data: DataSource = DataSource(),
                 metric: str = "agreement"):
        self.setup, self.task_name, self.data = setup, task_name, data
        task = None if setup.text_file else task_name  # a text file wins; the task still gives STS-B
        self.source = TextSource(setup.text_file, setup.text_column, task, data)
        if setup.query_passage_pairs:
            self.source.check_query_passage_pairs()
        main_metric = self._main_metric(metric)
        self.task = replace(EMBEDDING_TASK, max_length=text_length(setup.text_file), main_metric=main_metric,
                            metrics=tuple(dict.fromkeys(("agreement", main_metric))))  # passages: 256 tokens
        self.task_head: Embedding | None = None  # known once the model (and its pooling) is loaded
        self._texts: list[str] | None = None
        self._groups: list[tuple[str, ...]] | None = None
        self._held_out: list[str] = []
        self._reference: torch.Tensor | None = None  # the first model scored's embeddings of the held-out texts

    @property
    def with_sts(self) -> bool:
        return _sts_at_hand(self.task_name, self.data)

    def _main_metric(self, metric: str) -> str:
        """The score a search ranks by: ``metric`` as the user names it (stsb, ndcg@10 or another
        retrieval score, agreement) as the scorer names it; refused where its data is missing."""
        if metric == "stsb":
            if not self.with_sts:
                raise BertpressError("--metric stsb needs the GLUE data: --data-dir DIR (with STS-B/dev.tsv)")
            return "spearman"
        if metric in RETRIEVAL_METRICS:
            if self.setup.retrieval_file is None:
                raise BertpressError(f"--metric {metric} needs a retrieval file: --data-file (a SQuAD JSON file such as dev-v1.1.json)")
            return metric
        if metric != "agreement":
            raise BertpressError(f"unknown embedding metric '{metric}' (known: {', '.join(EMBEDDING_METRICS)})")
        return metric

    def texts(self) -> list[str]:
        if self._texts is None:
            self._texts = self.source.load()
        return self._texts

    def groups(self) -> list[tuple[str, ...]]:
        """The query–passage groups, read once (calibration and distillation both use them)."""
        if self._groups is None:
            self._groups = self.source.query_passage_groups()
        return self._groups

    def load(self, model: str):
        network = load_embedder(model, Pooling(self.setup.pooling) if self.setup.pooling else None)
        if self.task_head is None:
            self.task_head = Embedding(network.pooling, self.setup.objective)
        return network

    def prepare(self, network, tokenizer, calibration: Calibration) -> list[dict]:
        """Calibration batches whose labels are the starting model's embeddings plus seeded noise
        (see ``models.heads.Embedding``); the held-out texts are set aside for the scorer."""
        pairs = self.setup.query_passage_pairs
        sizes = (calibration.num_samples, self.setup.held_out, calibration.seed)
        if pairs:
            chosen, self._held_out = split_groups(self.groups(), *sizes)
        else:
            chosen, self._held_out = split_texts(self.texts(), *sizes)
        if len(chosen) < calibration.batch_size:
            raise BertpressError(f"{self.source.describe()} has {len(chosen)} texts, fewer than one batch of {calibration.batch_size}")
        texts = Dataset.from_dict({"text_a": chosen, "label": [float("nan")] * len(chosen)})
        encoded = encode(texts, tokenizer, calibration.max_length)
        calibration_set = batches(encoded, tokenizer, calibration.batch_size, sort_by_length=not pairs)  # pairs: already in order
        generator = torch.Generator().manual_seed(calibration.seed)
        with torch.inference_mode(), varying_shapes():
            for batch in calibration_set:
                inputs = {name: value for name, value in batch.items() if name != "labels"}
                batch["labels"] = with_fisher_noise(network(**inputs).sentence_embedding, generator)
        self._reference = None  # the held-out texts changed with the calibration
        return calibration_set

    def encode(self, examples: Dataset, tokenizer, max_length: int) -> Dataset:
        return encode(examples, tokenizer, max_length)

    def held_out(self, tokenizer, calibration: Calibration, count: int) -> list[dict]:
        """The texts kept out of calibration (known once ``prepare`` ran), batched like it."""
        texts = self._held_out[:count]
        if not texts:
            return []
        table = Dataset.from_dict({"text_a": texts, "label": [float("nan")] * len(texts)})
        return batches(encode(table, tokenizer, calibration.max_length), tokenizer, calibration.batch_size, sort_by_length=True)

    def scorer(self, tokenizer, max_length: int, progress: bool) -> Callable[[Any], dict[str, float]]:
        """Agreement with the starting model on the held-out texts; STS-B dev Spearman of cosine
        similarity too when GLUE data is at hand (``with_sts``), and retrieval scores (recall,
        MRR and NDCG at 10) when a retrieval file was given.

        The first model scored after ``prepare`` is the starting model (every run scores it first,
        as its baseline): its embeddings become the reference, so the texts are embedded once for it,
        not twice (a minute at base size)."""
        retrieval = self.setup.retrieval_file

        @varying_shapes()
        def score(model) -> dict[str, float]:
            mine = embed(model, tokenizer, self._held_out, max_length=max_length, progress=False)
            if self._reference is None:
                self._reference = mine
            metrics = {"agreement": agreement(mine, self._reference)}
            if self.with_sts:
                metrics |= sts_similarity(model, tokenizer, self.data, max_length=max_length, progress=progress).metrics
            if retrieval is not None:
                metrics |= squad_retrieval(
                    model, tokenizer, retrieval, max_questions=self.setup.max_questions,
                    max_length=max(max_length, PASSAGE_LENGTH), progress=progress,
                ).metrics
            return metrics

        return score

    def training_examples(self) -> Dataset:
        """All the text (the teacher gives every target: there are no labels); with query–passage
        pairs, each question and its paragraph as two rows of one ``GROUP``."""
        if not self.setup.query_passage_pairs:
            texts = self.texts()
            return Dataset.from_dict({"text_a": texts, "label": [float("nan")] * len(texts)})
        groups = self.groups()
        texts = [text for group in groups for text in group]
        ids = [index for index, group in enumerate(groups) for _ in group]
        return Dataset.from_dict({"text_a": texts, "label": [float("nan")] * len(texts), GROUP: ids})

    def save(self, model, tokenizer, folder: Path) -> None:
        save_embedder(model, tokenizer, folder)

    @property
    def calibration_source(self) -> str:
        """What the calibration texts (and the held-out ones agreement is judged on) are drawn from."""
        return self.source.describe() + (", each question batched with its paragraph" if self.setup.query_passage_pairs else "")

    def input_paths(self) -> tuple[str, ...]:
        """The local files and folders the workload reads: the text and retrieval files, and the task's data."""
        files = (*text_files(self.setup.text_file), *((self.setup.retrieval_file,) if self.setup.retrieval_file else ()))
        return files + self.data.input_paths()

    def fingerprint(self) -> dict:
        return {"task": self.name, "texts": self.calibration_source, "setup": to_plain(self.setup), "data": to_plain(self.data)}


def _sts_at_hand(task_name: str | None, data: DataSource) -> bool:
    """STS-B is scored when GLUE data is at hand (``--data-dir``, $BERTPRESS_GLUE_DIR, or task stsb)."""
    return task_name == "stsb" or bool(data.glue_dir)


def default_embedding_metric(setup: EmbeddingSetup, task_name: str | None, data: DataSource) -> str:
    """What a search ranks an embedder by when not told: retrieval where a retrieval file was
    given, else STS-B where GLUE data is at hand, else agreement with the original."""
    if setup.retrieval_file is not None:
        return "ndcg@10"
    return "stsb" if _sts_at_hand(task_name, data) else "agreement"


def make_workload(task: str | None, data: DataSource, embedding: EmbeddingSetup | None):
    """The workload of a ``compress`` call."""
    if embedding is not None:
        return EmbeddingWorkload(embedding, task, data)
    if task is None:
        raise BertpressError("give a task (or compress a sentence-embedding model with --embedding)")
    return TaskWorkload(task, data)
