"""The public verbs. Each command of the CLI parses its flags, calls one of these, and prints the
typed report it returns (``report.render()``; ``report.to_dict()`` for ``--json``).

    from bertpress import api
    report = api.compress("runs/mrpc", "mrpc", "runs/mrpc-small",
                          recipe=api.Recipe.of(api.DropLayersStep(count=2), api.PruneStep(macs=0.5)))
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from .data.calibration import Calibration
from .data.sources import DataSource, load_split
from .data.tasks import DEFAULT_LENGTH, TASKS, get_task
from .data.texts import text_files
from .errors import BertpressError
from .export.folders import export_folder
from .export.onnx import ExportReport, StaticCalibration
from .measure.bench import BenchReport
from .measure.evaluate import EvalReport
from .measure.evaluate import evaluate as _evaluate
from .measure.info import InfoReport, describe
from .measure.latency import LatencySetting
from .models.task_heads import Embedding, task_head_for
from .data.squad import retrieval_set
from .measure.embeddings import RETRIEVAL_TASK, squad_retrieval, sts_similarity
from .models.embedder import load_embedder as _load_embedder
from .models.loading import load_config, load_tokenizer, resolve_model
from .models.pooling import Pooling
from .models.static_embedder import is_static_folder, load_static
from .models.positions import check_max_length
from .optimize import Floor, NoModelMeetsTarget, OptimizeReport, Target, optimize
from .outputs import check_output
from .runtime.backends import Backend, backend_of, get_backend
from .runtime.exported import ExportedModel
from .runtime.loading import exported_file_in, load_any, load_exported
from .steps import (
    CompressReport,
    DistillStaticStep,
    DistillStep,
    DropLayersStep,
    ExportStep,
    PruneStep,
    QuantizeStep,
    Recipe,
    gradual_recipe,
)
from .steps.backends import bench
from .steps.distill_static import StaticReport, static_model
from .steps.quantize import static_calibration, text_batches
from .steps.runner import compress
from .steps.workload import EmbeddingSetup, EmbeddingWorkload
from .train.finetune import EpochResult, FinetuneReport, TrainConfig
from .train.finetune import finetune as _finetune


def load(model: str):
    """A model folder, hub id or alias as a model in eval mode (an exported folder on its runtime)."""
    return load_any(model)


def evaluate(
    model: str,
    task: str,
    *,
    data: DataSource = DataSource(),
    split: str = "dev",
    batch_size: int = 64,
    max_length: int | None = None,
    progress: bool = True,
    embedding: bool = False,
    pooling: str | None = None,
    data_file: str | None = None,
    max_questions: int | None = None,
) -> EvalReport:
    """``task``'s metrics for ``model`` on ``split``. Every check that can fail comes before the weights load.

    ``embedding``: ``model`` is a sentence embedder (``pooling`` replaces or supplies its pooling),
    scored without training: task ``stsb`` by the cosine similarity of each pair, task
    ``squad-retrieval`` by retrieving the paragraphs of the SQuAD file ``data_file`` (all of its
    questions, or a seeded ``max_questions`` of them) by question.
    """
    if embedding or task == RETRIEVAL_TASK or is_static_folder(model):
        return _evaluate_embedder(model, task, data, data_file, pooling, max_length or DEFAULT_LENGTH, max_questions, progress)
    task_spec = get_task(task)
    max_length = max_length or task_spec.max_length
    split = task_spec.resolve_split(split)
    config = load_config(model)
    task_head_for(task_spec).check(config, task_spec.name)
    check_max_length(config, max_length, model)
    dataset = load_split(task_spec, split, data)
    tokenizer = load_tokenizer(model)
    return _evaluate(
        load_any(model), tokenizer, task_spec, dataset, split=split, batch_size=batch_size,
        max_length=max_length, stride=data.doc_stride, progress=progress,
    )


def load_embedder(model: str, pooling: str | None = None):
    """A sentence-embedding model (a sentence-transformers folder, pruned or not; an exported one,
    its graph at the root or in ``onnx/``/``openvino/``, runs on its runtime; a static one, made by
    ``distill_static``, is a ``StaticEmbedder``);
    ``pooling`` replaces or supplies the folder's pooling mode."""
    if is_static_folder(model):
        return _load_static(model, pooling)[0]
    source = resolve_model(model)
    if exported_file_in(source):
        exported = load_exported(source)
        if exported.output_names != Embedding.output_names:
            raise BertpressError(f"{model} is an exported classifier, not a sentence-embedding model")
        return exported
    return _load_embedder(model, Pooling(pooling) if pooling else None)


def _evaluate_embedder(model, task, data, data_file, pooling, max_length, max_questions, progress) -> EvalReport:
    if task not in ("stsb", RETRIEVAL_TASK):
        raise BertpressError(f"a sentence embedder is evaluated on stsb or {RETRIEVAL_TASK}, not on '{task}'")
    if task == RETRIEVAL_TASK and data_file is None:
        raise BertpressError(f"{RETRIEVAL_TASK} needs --data-file (a SQuAD v1.1 JSON file such as dev-v1.1.json)")
    if task == RETRIEVAL_TASK:
        retrieval_set(data_file)  # a bad file is refused before the model loads
    if is_static_folder(model):  # token vectors: no positions to run out of
        embedder, tokenizer = _load_static(model, pooling)
    else:
        check_max_length(load_config(model), max_length, model)
        embedder, tokenizer = load_embedder(model, pooling), load_tokenizer(model)
    if task == "stsb":
        return sts_similarity(embedder, tokenizer, data, max_length=max_length, progress=progress)
    return squad_retrieval(
        embedder, tokenizer, data_file, max_questions=max_questions, max_length=max(max_length, 256), progress=progress
    )


def _load_static(model: str, pooling: str | None):
    """A static model's folder: the model and its tokenizer (its pooling is the mean, fixed)."""
    if pooling is not None:
        raise BertpressError(f"{model} is a static model (a mean of token vectors): --pooling does not apply")
    return load_static(model)


def task_length(model: str) -> int:
    """The tokens per example of the task ``model`` was fine-tuned for (a SQuAD window: 384), else 128."""
    try:
        recorded = getattr(load_config(model), "finetuning_task", None)
    except BertpressError:
        return DEFAULT_LENGTH  # the command itself says what is wrong with the folder
    task = TASKS.get(str(recorded or "").lower())
    return task.max_length if task else DEFAULT_LENGTH


def info(model: str, seq_length: int = 128) -> InfoReport:
    """Family, per-layer heads and FFN sizes, parameters and MACs of a model folder."""
    return describe(load_any(model), seq_length)


def export(
    model: str, output: str | Path, *, int8: bool = False, overwrite: bool = False, embedding: bool = False,
    pooling: str | None = None, backend: str | None = None, text: EmbeddingSetup | None = None,
) -> ExportReport:
    """A folder holding ``backend``'s file of ``model`` (default ONNX fp32, or dynamic int8 with
    ``int8``; any backend of ``runtime.backends`` but PyTorch's), checked against the PyTorch model.

    ``embedding``: ``model`` is a sentence embedder; the graph outputs ``sentence_embedding``
    (pooling and normalisation inside) and ``last_hidden_state`` (the token embeddings), in the
    ``onnx/`` or ``openvino/`` subfolder of a sentence-transformers folder. Its static int8 is
    calibrated on ``text`` (default: the shipped text sample); a task model's needs its task's
    data (``compress`` with a static ``quantize`` step).
    """
    chosen = _export_backend(int8, backend, embedding)
    if text is not None and not embedding:
        raise BertpressError("text to calibrate on is for a sentence embedder: add --embedding")
    inputs = [model, *text_files(text.text_file if text is not None else None)]
    check_output(output, overwrite=overwrite, inputs=inputs)
    network = load_embedder(model, pooling) if embedding else load_any(model)
    if isinstance(network, ExportedModel):
        raise BertpressError(f"{model} is already an exported model")
    try:
        tokenizer = load_tokenizer(model)
    except BertpressError:
        if chosen.int8 == "static":
            raise  # the text cannot be encoded without it
        tokenizer = None  # the export is usable without one; the report says so
    static = _text_calibration(network, tokenizer, text) if chosen.int8 == "static" else None
    report = export_folder(
        network, output, chosen, tokenizer=tokenizer, static=static, overwrite=overwrite, inputs=inputs,
        base_model=model,
    )
    return replace(report, tokenizer=tokenizer is not None)


def _export_backend(int8: bool, backend: str | None, embedding: bool) -> Backend:
    """The backend an export writes: ``backend``, else ONNX fp32 or (``int8``) dynamic int8."""
    if int8 and backend is not None:
        raise BertpressError("give the backend (--backend) or --int8, not both")
    chosen = get_backend(backend) if backend is not None else backend_of("onnx", "dynamic" if int8 else None)
    if chosen.runtime == "torch":
        raise BertpressError(f"{chosen.name} runs the PyTorch model itself: nothing to export")
    if chosen.int8 == "static" and not embedding:
        raise BertpressError(
            f"{chosen.name} is calibrated on a task model's data: use compress with a quantize step "
            f"(backend {chosen.runtime}, mode static), or add --embedding for a sentence embedder"
        )
    return chosen


def _text_calibration(network, tokenizer, text: EmbeddingSetup | None) -> StaticCalibration:
    """Static int8 of a sentence embedder: ranges from its text (cut where the text needs: 256
    tokens for passages), layers that lose agreement with the fp32 embeddings kept in fp32."""
    workload = EmbeddingWorkload(text or EmbeddingSetup())
    workload.task_head = Embedding(network.pooling, workload.setup.objective)
    length = min(workload.task.max_length, network.config.max_position_embeddings)  # as bench times it
    batches = text_batches(workload, network, tokenizer, length)
    return static_calibration(network, workload.task_head, batches)


def finetune(
    model: str,
    task: str,
    output: str | Path,
    *,
    config: TrainConfig = TrainConfig(),
    data: DataSource = DataSource(),
    max_train_samples: int | None = None,
    overwrite: bool = False,
    on_epoch: Callable[[EpochResult], None] | None = None,
    progress: bool = True,
) -> FinetuneReport:
    """Train ``model`` on ``task`` and save it to ``output``; nothing is written if anything fails."""
    return _finetune(
        model, get_task(task), data, output, config, max_train_samples=max_train_samples,
        overwrite=overwrite, on_epoch=on_epoch, progress=progress,
    )


def prune(
    model: str,
    task: str | None,
    output: str | Path | None = None,
    *,
    config: PruneStep,
    calibration: Calibration = Calibration(),
    data: DataSource = DataSource(),
    latency: LatencySetting = LatencySetting(),
    overwrite: bool = False,
    progress: bool = True,
    embedding: EmbeddingSetup | None = None,
) -> CompressReport:
    """Prune ``model`` for ``task`` under ``config``'s budget (a one-step recipe); save it to ``output`` if given.

    A latency budget is relative to the dense model's latency measured here, at ``latency``'s batch
    size and sequence length, on its device. The saved folder loads with ``bertpress.load`` and
    with stock transformers (``trust_remote_code=True``), and holds ``report.json`` and ``recipe.yaml``.
    """
    return compress(
        model, task, output, recipe=Recipe.of(config), calibration=calibration, data=data,
        latency=latency, overwrite=overwrite, progress=progress, embedding=embedding,
    )


def distill(
    model: str,
    task: str | None,
    output: str | Path | None = None,
    *,
    config: DistillStep = DistillStep(),
    prune: PruneStep | None = None,
    drop_layers: DropLayersStep | None = None,
    gradual: bool = False,
    stage_epochs: int = 1,
    calibration: Calibration = Calibration(),
    data: DataSource = DataSource(),
    latency: LatencySetting = LatencySetting(),
    overwrite: bool = False,
    progress: bool = True,
    checkpoints: str | Path | None = None,
    resume: str | Path | None = None,
    embedding: EmbeddingSetup | None = None,
) -> CompressReport:
    """A student of ``model`` (the teacher) for ``task``, distilled after it is made smaller.

    The student is ``model`` pruned to ``prune``'s budget (in stages with ``gradual``, distilling
    ``stage_epochs`` between them), or with ``drop_layers``'s layers removed (then pruned to the
    budget, if one is given). The report is a prune report plus the training curve.
    """
    return compress(
        model, task, output, recipe=distill_recipe(config, prune, drop_layers, gradual, stage_epochs),
        calibration=calibration, data=data, latency=latency, overwrite=overwrite, progress=progress,
        checkpoints=checkpoints, resume=resume, embedding=embedding,
    )


def distill_static(
    model: str,
    output: str | Path,
    *,
    config: DistillStaticStep = DistillStaticStep(),
    pooling: str | None = None,
    overwrite: bool = False,
    progress: bool = True,
) -> StaticReport:
    """A static version of the sentence embedder ``model``: a vector per vocabulary token (the
    model's embedding of the token alone, PCA-reduced to ``config.dims`` and weighted), trained on
    ``config.text_file`` if given; saved to ``output`` as a sentence-transformers folder whose
    first module is ``StaticEmbedding``. ``evaluate`` scores it like any embedder.
    """
    return static_model(model, output, config, pooling=pooling, overwrite=overwrite, progress=progress)


def distill_recipe(
    config: DistillStep,
    prune: PruneStep | None = None,
    drop_layers: DropLayersStep | None = None,
    gradual: bool = False,
    stage_epochs: int = 1,
) -> Recipe:
    """The recipe behind ``distill``: [drop layers] → prune (in stages with ``gradual``) → distill."""
    if gradual and (prune is None or drop_layers is not None):
        raise BertpressError("a gradual prune needs a budget, and does not combine with dropping layers")
    if gradual:
        return gradual_recipe(prune, config, stage_epochs)
    return Recipe(tuple(step for step in (drop_layers, prune, config) if step is not None))


# ``bench`` (steps/backends.py), ``compress`` (steps/runner.py) and ``optimize`` (optimize/search.py)
# are verbs of this module too.


__all__ = [
    "BenchReport",
    "BertpressError",
    "Calibration",
    "CompressReport",
    "DataSource",
    "DistillStaticStep",
    "DistillStep",
    "DropLayersStep",
    "EmbeddingSetup",
    "EvalReport",
    "ExportReport",
    "ExportStep",
    "FinetuneReport",
    "Floor",
    "InfoReport",
    "LatencySetting",
    "NoModelMeetsTarget",
    "OptimizeReport",
    "PruneStep",
    "QuantizeStep",
    "Recipe",
    "StaticReport",
    "Target",
    "TrainConfig",
    "bench",
    "compress",
    "distill",
    "distill_recipe",
    "distill_static",
    "evaluate",
    "export",
    "finetune",
    "gradual_recipe",
    "info",
    "load",
    "load_embedder",
    "optimize",
    "prune",
]
