"""Model cards: the README.md of every output folder, in the form the Hugging Face hub reads.

A YAML header (``base_model``, ``library_name``, ``tags``, ``pipeline_tag``, ``datasets``, and the
metrics as ``model-index``), then what was done, the numbers before and after, and how to load and
run the folder with each runtime it holds, naming the files really there. Plain data in, text out
(a report dict, a recipe dict, the folder's file names): steps/, export/ and train/ write cards, so
it takes plain data and no models.
"""

from __future__ import annotations

from importlib.metadata import version
from pathlib import Path

import yaml

from .data.tasks import TASKS, Task
from .data.text_sample import SAMPLE_DATASET, SAMPLE_NAME
from .models.loading import MODEL_ALIASES, WEIGHT_FILES
from .models.saving import REMOTE_CODE_FILE
from .models.task_heads import Embedding, SequenceClassification, TaskHead, task_head_for
from .runtime.backends import EXPORTED_FILES, backend_of, backend_of_file

CARD_FILE = "README.md"
EMBEDDER_FILE = "modules.json"  # a sentence-transformers folder has one
FOLDER = "path/to/this/folder"  # how the snippets name the folder (a local copy, if it came from the hub)
STEP_TAGS = {"prune": "pruning", "drop_layers": "pruning", "distill": "distillation", "quantize": "quantization"}
EMBEDDER_TAGS = ["sentence-transformers", "sentence-similarity", "feature-extraction"]
METRIC_NAMES = {"agreement": "agreement with the original embeddings (mean cosine)"}
EXAMPLE_TEXTS = ("A man is playing a guitar.", "Someone is playing music.")


def base_model_id(model: str) -> str:
    """What a card calls the input ``model``: an alias's hub id, a local folder's name, or the hub id given."""
    if model in MODEL_ALIASES:
        return MODEL_ALIASES[model].hub_id
    path = Path(model)
    return path.resolve().name if path.exists() else model


def folder_files(folder: Path) -> list[str]:
    """Every file in ``folder`` as a path relative to it (``onnx/model.onnx``), sorted."""
    return sorted(path.relative_to(folder).as_posix() for path in folder.rglob("*") if path.is_file())


def write_card(folder: Path, text: str) -> None:
    (folder / CARD_FILE).write_text(text, encoding="utf-8")


# --- the three kinds of folder -------------------------------------------------------------------


def compress_card(report: dict, recipe: dict, files: list[str]) -> str:
    """A ``compress`` folder (``prune``, ``distill`` and ``optimize`` write one too): the PyTorch
    model at the top, maybe an export in ``onnx/`` or ``openvino/``; ``report`` is its report.json."""
    embedder = EMBEDDER_FILE in files
    steps = [name for step in recipe["steps"] for name in step]
    base = base_model_id(report["model"]) if "model" in report else None
    name = f"{_short(base)} compressed with bertpress"
    measured = "pruned" in report  # an optimize candidate's report holds no before/after measurements
    header = _header(
        base,
        "sentence-transformers" if embedder else "transformers",
        [*(STEP_TAGS[step] for step in steps if step in STEP_TAGS), *_runtimes(files),
         *(EMBEDDER_TAGS if embedder else ["text-classification", report.get("task")])],
        "sentence-similarity" if embedder else "text-classification",
        _model_index(name, report) if measured else None,
    )
    sections = [
        f"# {name}",
        f"{_link(base)} made smaller and faster by bertpress: " + " → ".join(f"`{step}`" for step in steps) + ".",
        _recipe_section(recipe, report),
        _results_section(report) if measured else None,
        _usage_section(files, embedder, report.get("task")),
    ]
    return _card(header, sections)


def export_card(report: dict, model: str | None, task: str | None, embedder: bool, files: list[str]) -> str:
    """A ``bertpress export`` folder: one graph, its config and tokenizer; ``report`` is its export.json,
    ``task`` the one the model was fine-tuned on, if its config says."""
    base = base_model_id(model) if model is not None else None
    int8 = report.get("int8_mode")
    header = _header(
        base, "transformers", [*_runtimes(files), "quantization" if int8 else None, task],
        "feature-extraction" if embedder else "text-classification", None,
    )
    int8_diff = _number(report["int8_max_abs_diff"]) if int8 else "-"
    rows = [[f"`{report['file']}`", report["size_mb"], _number(report["max_abs_diff"]), int8_diff]]
    sections = [
        f"# {_short(base)} in {'OpenVINO' if report['file'].endswith('.xml') else 'ONNX'} ({f'{int8} int8' if int8 else 'fp32'})",
        f"{_link(base)} exported by `bertpress export` ({_graph_origin(report)}, dynamic batch and sequence "
        f"axes, inputs {', '.join(report['inputs'])}) and checked against PyTorch on a batch of "
        f"{' x '.join(map(str, report['check_shape']))} tokens:",
        _table(["file", "size (MB)", "max abs difference, fp32 graph", "max abs difference, int8 graph"], rows),
        _usage_section(files, embedder, task),
    ]
    return _card(header, sections)


def _graph_origin(report: dict) -> str:
    opset = report["opset"]
    return f"opset {opset}" if opset is not None else "converted from PyTorch by OpenVINO"


def finetune_card(report: dict, files: list[str]) -> str:
    """A ``bertpress finetune`` folder; ``report`` is its FinetuneReport as a dict."""
    base, task, last = base_model_id(report["model"]), report["task"], report["epochs"][-1]
    name = f"{_short(base)} fine-tuned on {task}"
    model_index = [{"name": name, "results": [_task_result(TASKS[task], last["metrics"])]}]
    header = _header(base, "transformers", ["text-classification", task], "text-classification", model_index)
    config, metrics = report["config"], list(last["metrics"])
    rows = [[epoch["epoch"], _number(epoch["train_loss"]), *(_number(epoch["metrics"][m]) for m in metrics)]
            for epoch in report["epochs"]]
    sections = [
        f"# {name}",
        f"{_link(base)} fine-tuned by `bertpress finetune` on the {task} training split "
        f"({config['epochs']} epochs, learning rate {config['lr']:g}, batch {config['batch_size']}, at most "
        f"{config['max_length']} tokens, seed {config['seed']}), scored on its {last['split']} split after each epoch:",
        _table(["epoch", "train loss", *metrics], rows),
        f"Compress it next: `bertpress prune --model {FOLDER} --task {task} --macs 0.5 --output smaller`.",
        _usage_section(files, False, task),
    ]
    return _card(header, sections)


def _card(header: dict, sections: list[str | None]) -> str:
    meta = yaml.safe_dump(header, sort_keys=False, allow_unicode=True)
    footer = f"Made with bertpress {version('bertpress')}."
    return f"---\n{meta}---\n\n" + "\n\n".join(s for s in [*sections, footer] if s) + "\n"


# --- the header ----------------------------------------------------------------------------------


def _header(base: str | None, library: str, tags: list, pipeline_tag: str, model_index: list[dict] | None) -> dict:
    """The YAML header; ``bertpress`` leads the tags, and ``datasets`` are those the metrics come from."""
    header = {
        "base_model": base,
        "library_name": library,
        "tags": list(dict.fromkeys(tag for tag in ["bertpress", *tags] if tag)),
        "pipeline_tag": pipeline_tag,
        "datasets": _datasets(model_index),
        "model-index": model_index,
    }
    return {key: value for key, value in header.items() if value is not None}


def _runtimes(files: list[str]) -> list[str]:
    """``onnx`` and/or ``openvino``, as the folder holds their files."""
    return list(dict.fromkeys(backend_of_file(Path(file).name).runtime for file in _exported(files)))


def _datasets(model_index: list[dict] | None) -> list[str] | None:
    """The hub datasets the metrics come from (a dataset type with an owner is a hub id)."""
    names = [result["dataset"]["type"] for entry in model_index or [] for result in entry["results"]]
    return list(dict.fromkeys(name for name in names if "/" in name)) or None


def _model_index(name: str, report: dict) -> list[dict]:
    """The final model's metrics (report.json's ``pruned.metrics``), each with the data it was scored on."""
    metrics = report["pruned"]["metrics"]
    if report["task"] in TASKS:
        return [{"name": name, "results": [_task_result(TASKS[report["task"]], metrics)]}]
    held_out = {
        "name": f"held-out calibration texts: {report.get('calibration_source') or 'unrecorded'}",
        "type": SAMPLE_DATASET if report.get("calibration_source") == SAMPLE_NAME else "text",
        "split": "held-out",
    }
    agreement = {k: v for k, v in metrics.items() if k == "agreement"}
    sts = {k: v for k, v in metrics.items() if k != "agreement"}  # STS-B dev, when GLUE data was at hand
    results = [_result("sentence-similarity", held_out, agreement)]
    if sts:
        results.append(_result("sentence-similarity", _task_dataset(TASKS["stsb"]), sts))
    return [{"name": name, "results": results}]


def _task_result(task: Task, metrics: dict) -> dict:
    return _result("text-classification", _task_dataset(task), metrics)


def _task_dataset(task: Task) -> dict:
    """The dev split of ``task`` as the hub names it."""
    title = f"GLUE {task.glue_files.folder}" if task.glue_files else task.name
    hub_id, config = task.hub or (task.name, None)
    dataset = {"name": title, "type": hub_id, "config": config, "split": task.hub_split("dev")}
    return {k: v for k, v in dataset.items() if v is not None}


def _result(kind: str, dataset: dict, metrics: dict) -> dict:
    return {
        "task": {"type": kind, "name": kind.replace("-", " ").capitalize()},
        "dataset": dataset,
        "metrics": [{"type": k, "value": v, "name": _metric_name(k)} for k, v in metrics.items()],
    }


# --- the prose -----------------------------------------------------------------------------------


def _recipe_section(recipe: dict, report: dict) -> str:
    recipe_yaml = _code("yaml", [yaml.safe_dump(recipe, sort_keys=False).strip()])
    lines = ["## What was done", "", "The recipe (`recipe.yaml` here; `bertpress compress --recipe recipe.yaml` "
             "on the same model and data redoes it):", "", recipe_yaml]
    calibration = report.get("calibration")
    if calibration and report.get("calibration_source"):
        lines += ["", f"Calibrated on {calibration['num_samples']} examples from {report['calibration_source']}; "
                  f"seed {calibration['seed']}, at most {calibration['max_length']} tokens each."]
    if report.get("steps"):
        metrics = list(report["steps"][-1]["metrics"])
        rows = [[number, f"`{step['name']}`", step["seconds"], *(_number(step["metrics"][m]) for m in metrics),
                 _count(step["macs"]), _count(step["params"])] for number, step in enumerate(report["steps"], 1)]
        lines += ["", "After each step:", "", _table(["", "step", "seconds", *metrics, "MACs", "parameters"], rows)]
    return "\n".join(lines)


def _results_section(report: dict) -> str:
    before, after, latency = report["baseline"], report["pruned"], report["latency"]
    rows = [[_metric_name(m), _number(before["metrics"][m]), _number(after["metrics"][m])] for m in after["metrics"]]
    rows += [
        [f"MACs per example (at {report['macs_seq_length']:g} tokens, the calibration's mean)", _count(before["macs"]),
         f"{_count(after['macs'])} ({report['macs_ratio']:.2f}x)"],
        ["parameters", _count(before["params"]), f"{_count(after['params'])} ({report['params_ratio']:.2f}x)"],
        [f"latency (ms, batch {latency['batch_size']} x {latency['seq_length']} tokens, {latency['device']})",
         f"{before['latency_ms']:.2f}", f"{after['latency_ms']:.2f}"],
        ["speedup", "1.00x", f"{report['speedup']:.2f}x"],
    ]
    dense = backend_of("torch", None).name  # the dense model is measured in fp32 PyTorch
    table = _table(["", f"before (dense, {dense})", f"after ({report['backend']})"], rows)
    return f"## Before and after\n\nFrom `report.json`, measured in one run:\n\n{table}"


def _usage_section(files: list[str], embedder: bool, task: str | None) -> str:
    pytorch = any(file in WEIGHT_FILES for file in files)
    snippets = [_bertpress_snippet(pytorch, _exported(files), embedder, task)]
    if pytorch:
        snippets.append(_sentence_transformers_snippet(files) if embedder else _transformers_snippet(files, task))
    snippets += [_runtime_snippet(file, _outputs(task, embedder)) for file in _exported(files)]
    intro = ('The snippets read a local copy of this folder (`huggingface_hub.snapshot_download("<repo id>")` '
             "makes one from the hub): put its path in `folder`.")
    return "\n\n".join(["## How to use", intro, *snippets])


def _exported(files: list[str]) -> list[str]:
    """The exported model files (ONNX graphs, OpenVINO IR) among ``files``."""
    return [file for file in files if Path(file).name in EXPORTED_FILES]


def _bertpress_snippet(pytorch: bool, exported: list[str], embedder: bool, task: str | None) -> str:
    """Loading the PyTorch model, and each export (an export folder itself runs on its runtime)."""
    loader = "api.load_embedder" if embedder else "bertpress.load"
    lines = ["from bertpress import api" if embedder else "import bertpress", "", f'folder = "{FOLDER}"']
    if pytorch:
        lines.append(f"model = {loader}(folder)  # PyTorch")
    for file in exported:
        place = _folder_path(str(Path(file).parent)) if "/" in file else "folder"
        runtime = backend_of_file(Path(file).name).runtime
        lines.append(f"{runtime}_model = {loader}({place})  # runs {file}")
    flags = "--task stsb --embedding --data-dir GLUE_FOLDER" if embedder else f"--task {task or 'TASK'}"
    command = f"bertpress evaluate --model {FOLDER} {flags}"
    return "### bertpress\n\n" + _code("python", lines) + "\n\n" + _code("bash", [command])


def _task_head(task: str | None) -> TaskHead:
    return task_head_for(TASKS[task]) if task in TASKS else SequenceClassification(2)


def _outputs(task: str | None, embedder: bool) -> tuple[str, ...]:
    return Embedding.output_names if embedder else _task_head(task).output_names


def _transformers_snippet(files: list[str], task: str | None) -> str:
    remote = REMOTE_CODE_FILE in files
    auto_model = _task_head(task).auto_model.__name__
    load = f"{auto_model}.from_pretrained(folder" + (
        ", trust_remote_code=True)  # layers of different sizes: modeling_bertpress.py" if remote else ")")
    outputs = _task_head(task).output_names
    lines = [
        f"from transformers import {auto_model}, AutoTokenizer", "",
        f'folder = "{FOLDER}"', "tokenizer = AutoTokenizer.from_pretrained(folder)", f"model = {load}",
        f"inputs = tokenizer({_example_texts(task)}, padding=True, return_tensors='pt')",
        "outputs = model(**inputs)",
        f"{', '.join(outputs)} = {', '.join(f'outputs.{name}' for name in outputs)}",
    ]
    return "### transformers\n\n" + _code("python", lines)


def _sentence_transformers_snippet(files: list[str]) -> str:
    remote = ", trust_remote_code=True" if REMOTE_CODE_FILE in files else ""
    lines = [
        "from sentence_transformers import SentenceTransformer", "",
        f'folder = "{FOLDER}"', f"model = SentenceTransformer(folder{remote})",
        f"embeddings = model.encode({list(EXAMPLE_TEXTS)!r})",
    ]
    return "### sentence-transformers\n\n" + _code("python", lines)


def _runtime_snippet(file: str, outputs: tuple[str, ...]) -> str:
    output = ", ".join(outputs)
    common = ["from transformers import AutoTokenizer", "", f'folder = "{FOLDER}"',
              "tokenizer = AutoTokenizer.from_pretrained(folder)",
              f"encoded = tokenizer({list(EXAMPLE_TEXTS)!r}, padding=True, return_tensors='np')"]
    if file.endswith(".xml"):
        lines = ["import openvino as ov", *common,
                 f'compiled = ov.Core().compile_model({_folder_path(file)}, "CPU")',
                 "feeds = {port.any_name: encoded[port.any_name] for port in compiled.inputs}",
                 "results = compiled(feeds)",
                 f"{output} = {', '.join(f'results[{name!r}]' for name in outputs)}"]
        return f"### OpenVINO (`{file}`)\n\n" + _code("python", lines)
    lines = ["import onnxruntime as ort", *common, f"session = ort.InferenceSession({_folder_path(file)})",
             f'{output}{"," if len(outputs) == 1 else ""} = session.run({list(outputs)!r}, '
             '{i.name: encoded[i.name] for i in session.get_inputs()})']
    return f"### ONNX Runtime (`{file}`)\n\n" + _code("python", lines)


def _example_texts(task: str | None) -> str:
    """Tokenizer arguments: a sentence pair for a pair task, else the two texts as a batch."""
    pair = task in TASKS and len(TASKS[task].columns.text) == 2
    return f"[{EXAMPLE_TEXTS[0]!r}], [{EXAMPLE_TEXTS[1]!r}]" if pair else repr(list(EXAMPLE_TEXTS))


# --- formatting ----------------------------------------------------------------------------------


def _folder_path(relative: str) -> str:
    return f'f"{{folder}}/{relative}"'


def _code(language: str, lines: list[str]) -> str:
    return f"```{language}\n" + "\n".join(lines) + "\n```"


def _table(headers: list[str], rows: list[list]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    return "\n".join(lines + ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows])


def _short(base: str | None) -> str:
    return base.rsplit("/", 1)[-1] if base else "A model"


def _link(base: str | None) -> str:
    """The base model, linked when it is a hub id (``org/name``)."""
    if base is None:
        return "A model"
    return f"[{base}](https://huggingface.co/{base})" if "/" in base else f"`{base}`"


def _metric_name(key: str) -> str:
    return METRIC_NAMES.get(key, key.replace("_", " "))


def _number(value: float) -> str:
    return f"{value:.4g}"


def _count(value: int) -> str:
    for size, unit in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if value >= size:
            return f"{value / size:.2f} {unit}"
    return str(value)
