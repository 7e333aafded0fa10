"""The ``distill_static`` step: the sentence embedder becomes a static one, a vector per
vocabulary token (``distill.static``), optionally trained on text to match the original's
embeddings. It replaces the whole encoder, so it stands alone: nothing structural before it, and
it is the recipe's last step (export and quantize have nothing left to speed up).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar, Literal

from ..data.texts import TextSource, text_file_field, text_files
from ..distill.static import StaticSettings, check_static_inputs, distill_static, targets_dataset, train_static
from ..errors import BertpressError
from ..formatting import format_table
from ..models.embedder import load_embedder
from ..models.loading import load_tokenizer
from ..models.pooling import Pooling
from ..models.static_embedder import StaticEmbedder, save_static
from ..models.task_heads import Embedding
from ..outputs import atomic_dir, check_output, write_json
from ..reports import Report
from ..train.loop import Schedule
from .base import Stage, StepConfig, register_step
from .recipe import Recipe
from .state import State


@dataclass(frozen=True)
class DistillStaticStep(StepConfig):
    name: ClassVar[str] = "distill_static"
    last: ClassVar[bool] = True

    dims: int = 256  # PCA dimensions of the token vectors
    # SIF weights of token probabilities counted on text_file ("counts"), or Zipf's by id rank
    # ("zipf"), or none; None: "counts" when there is text, else "zipf"
    weighting: Literal["counts", "zipf", "none"] | None = None
    sif_coefficient: float | None = None  # None: the weighting's own (distill.static.SIF_COEFFICIENTS)
    # text (lines, a table's column, a SQuAD file; several files pool) to count tokens on and train on
    text_file: str | tuple[str, ...] | None = None
    text_column: str | None = None
    epochs: int = 0  # epochs of training on text_file (0: none)
    lr: float = 1e-3
    batch_size: int = 64
    max_length: int = 256  # tokens of a training text the original model reads
    token_batch_size: int = 512  # vocabulary tokens per forward pass
    seed: int = 0

    def __post_init__(self):
        object.__setattr__(self, "text_file", text_file_field(self.text_file))
        for name in ("dims", "batch_size", "max_length", "token_batch_size"):
            if getattr(self, name) < 1:
                raise BertpressError(f"step 'distill_static': {name} must be at least 1, not {getattr(self, name)}")
        if self.epochs < 0 or not self.lr > 0 or not (self.sif_coefficient is None or self.sif_coefficient > 0):
            raise BertpressError("step 'distill_static': epochs must be at least 0, lr and sif_coefficient positive")
        if self.text_file is None and (self.weighting == "counts" or self.epochs):
            raise BertpressError("step 'distill_static': counting tokens ('counts' weights) and training need text (text_file)")

    @property
    def settings(self) -> StaticSettings:
        weighting = self.weighting or ("counts" if self.text_file is not None else "zipf")
        return StaticSettings(self.dims, weighting, self.sif_coefficient, self.token_batch_size)

    @property
    def schedule(self) -> Schedule:
        # No weight decay: it would pull the rows of rare tokens, which few texts correct, to zero.
        return Schedule(epochs=self.epochs, lr=self.lr, batch_size=self.batch_size, weight_decay=0.0, seed=self.seed)

    def texts(self) -> list[str]:
        return TextSource(self.text_file, self.text_column).load()

    def check_follows(self, before: StepConfig, number: int) -> None:
        if before.stage == Stage.STRUCTURE:
            raise BertpressError(
                f"step {number} 'distill_static' cannot follow '{before.name}': it makes token vectors of the whole "
                "original model, so it does not combine with prune, drop_layers or distill"
            )

    def check_inputs(self, model, tokenizer, task, task_head) -> None:
        if task_head.name != "embedding":
            raise BertpressError("step 'distill_static' makes a static sentence embedder: the model must be one (--embedding)")
        check_static_inputs(model, tokenizer, self.settings, "the model")
        if self.text_file is not None:
            self.texts()

    def input_paths(self) -> tuple[str, ...]:
        return text_files(self.text_file)


def make_static(model, tokenizer, config: DistillStaticStep, progress: bool) -> tuple[StaticEmbedder, dict]:
    """The static model of the embedder ``model``, trained on ``config``'s text if it names one;
    and what the report records: the sizes, the seconds of each phase, the training curve."""
    seconds = {}
    started = time.perf_counter()
    texts = config.texts() if config.text_file is not None else None
    settings = config.settings
    static, projection = distill_static(model, tokenizer, settings, texts, progress=progress)
    seconds["token_vectors"] = round(time.perf_counter() - started, 3)
    details = {"vocabulary": static.embedding.num_embeddings, "dims": config.dims, "weighting": settings.weighting,
               "sif_coefficient": settings.coefficient}
    if texts is not None:
        details["texts"] = len(texts)
    if config.epochs:
        started = time.perf_counter()
        dataset = targets_dataset(model, tokenizer, texts, projection, config.max_length, progress)
        details["curve"] = train_static(static, dataset, tokenizer, config.schedule, progress)
        seconds["training"] = round(time.perf_counter() - started, 3)
    return static, {**details, "seconds": seconds}


def run_distill_static(state: State, config: DistillStaticStep) -> dict:
    """The static model becomes the deployed one: what the run scores, times and saves."""
    state.deployed, details = make_static(state.model, state.tokenizer, config, state.progress)
    return details


register_step(DistillStaticStep, run_distill_static)


@dataclass
class StaticReport(Report):
    """What ``bertpress distill --static`` made: the static model's size and how it was made."""

    kind: ClassVar[str] = "distill_static"

    model: str
    step: dict  # the step's fields (the recipe saved beside the model)
    vocabulary: int
    dims: int
    params: int
    seconds: dict[str, float]
    curve: list[dict] | None = None  # the training loss per epoch, when trained on text

    def render(self) -> str:
        rows = [["vocabulary", self.vocabulary], ["dimensions", self.dims], ["parameters", self.params]]
        rows += [[f"seconds ({phase})", value] for phase, value in self.seconds.items()]
        rows += [[f"loss (epoch {point['epoch']})", point["loss"]] for point in self.curve or []]
        return format_table(["static model", str(self.model)], rows)


def static_model(
    model: str, output: str | Path, config: DistillStaticStep, *, pooling: str | None = None, overwrite: bool = False,
    progress: bool = True,
) -> StaticReport:
    """``model`` (a sentence embedder) made static and saved to ``output`` in one rename, with its
    recipe and report; every refusal comes before the first token is embedded."""
    protected = [model, *config.input_paths()]
    check_output(output, overwrite=overwrite, inputs=protected)
    network = load_embedder(model, Pooling(pooling) if pooling else None)
    tokenizer = load_tokenizer(model)
    config.check_inputs(network, tokenizer, None, Embedding(network.pooling))
    static, details = make_static(network, tokenizer, config, progress)
    report = StaticReport(
        str(model), config.to_dict(), details["vocabulary"], details["dims"],
        sum(p.numel() for p in static.parameters()), details["seconds"], details.get("curve"),
    )
    with atomic_dir(output, overwrite=overwrite, inputs=protected) as folder:
        save_static(static, tokenizer, folder)
        Recipe.of(config).save(folder / "recipe.yaml")
        write_json(folder / "report.json", report.to_dict())
    return report
