"""Shared fixtures: tiny random models of each family, and the shared teachers/data when present."""

from __future__ import annotations

import hashlib
import os
import random
import shutil
from pathlib import Path

import datasets
import pytest
import torch
from glue_files import write_glue
from transformers import (
    BertConfig,
    BertForSequenceClassification,
    BertTokenizer,
    DebertaV2Config,
    DebertaV2ForSequenceClassification,
    DistilBertConfig,
    DistilBertForSequenceClassification,
    ElectraConfig,
    ElectraForSequenceClassification,
    ModernBertConfig,
    ModernBertForSequenceClassification,
    MPNetConfig,
    MPNetForSequenceClassification,
    RobertaConfig,
    RobertaForSequenceClassification,
)

from bertpress.cli import main
from bertpress.data.sources import GLUE_DIR_ENV
from bertpress.export import onnx as onnx_export
from bertpress.export import openvino as openvino_export
from bertpress.export.onnx import input_names
from bertpress.models.adapters import get_adapter
from bertpress.models.saving import save_model
from bertpress.models.shrink import shrink
from bertpress.prune.masks import Masks

torch.set_num_threads(min(2, torch.get_num_threads()))

# 130 positions: room for the default --max-length of 128, which a model with fewer is refused
# (RoBERTa's and MPNet's first two position slots are never used).
_SMALL = dict(vocab_size=120, max_position_embeddings=130)
_BERT_LIKE = dict(hidden_size=32, num_hidden_layers=3, num_attention_heads=4, intermediate_size=64, **_SMALL)

# DeBERTa-v3's disentangled attention: relative positions in log buckets, both cross terms, the
# position projections shared with the content ones, no absolute positions.
DEBERTA_V3 = dict(
    relative_attention=True, position_buckets=16, pos_att_type=["p2c", "c2p"], share_att_key=True,
    norm_rel_ebd="layer_norm", position_biased_input=False, max_relative_positions=-1, **_BERT_LIKE,
)

# ModernBERT: the test vocabulary's special ids; global attention in layers 0 and 2, local in layer 1
# with a window of 8 (4 tokens each side), so that the tests' longer inputs see it.
MODERNBERT = dict(
    pad_token_id=0, cls_token_id=2, bos_token_id=2, sep_token_id=3, eos_token_id=3, global_attn_every_n_layers=2,
    local_attention=8, **_BERT_LIKE,
)

FAMILIES = {
    "bert": lambda n: BertForSequenceClassification(BertConfig(num_labels=n, **_BERT_LIKE)),
    "roberta": lambda n: RobertaForSequenceClassification(
        RobertaConfig(num_labels=n, pad_token_id=1, **_BERT_LIKE)
    ),
    "electra": lambda n: ElectraForSequenceClassification(
        ElectraConfig(num_labels=n, embedding_size=16, **_BERT_LIKE)
    ),
    "distilbert": lambda n: DistilBertForSequenceClassification(
        DistilBertConfig(num_labels=n, dim=32, n_layers=3, n_heads=4, hidden_dim=64, **_SMALL)
    ),
    "mpnet": lambda n: MPNetForSequenceClassification(MPNetConfig(num_labels=n, **_BERT_LIKE)),
    "deberta-v2": lambda n: DebertaV2ForSequenceClassification(DebertaV2Config(num_labels=n, **DEBERTA_V3)),
    "modernbert": lambda n: ModernBertForSequenceClassification(ModernBertConfig(num_labels=n, **MODERNBERT)),
}

# Families whose models take no token types.
WITHOUT_TOKEN_TYPES = ("distilbert", "roberta", "mpnet", "modernbert")


def tiny_model(family: str = "bert", num_labels: int = 2, seed: int = 0):
    """A randomly initialised 3-layer, 4-head, 32-wide model in eval mode."""
    torch.manual_seed(seed)
    return FAMILIES[family](num_labels).eval()


# What bertpress does not model yet for a family: that family-parametrized test module skips it, saying why.
_PRE_NORM_TUNING = "mask tuning refuses ModernBERT (pre-LayerNorm layers, per-layer-type masks and rotary positions)"
NOT_YET: dict[tuple[str, str], str] = {
    ("modernbert", "test_prune_steps"): _PRE_NORM_TUNING,
    ("modernbert", "test_reconstruct"): _PRE_NORM_TUNING,
}


@pytest.fixture(params=sorted(FAMILIES))
def family(request) -> str:
    reason = NOT_YET.get((request.param, request.module.__name__))
    if reason:
        pytest.skip(reason)
    return request.param


def shared_dir() -> Path | None:
    """``$BERTPRESS_SHARED`` (the folder with ``models/`` and ``data/``), if it exists."""
    path = os.environ.get("BERTPRESS_SHARED")
    return Path(path) if path and Path(path, "models").is_dir() else None


@pytest.fixture
def shared() -> Path:
    path = shared_dir()
    if path is None:
        pytest.skip("BERTPRESS_SHARED is not set to the shared teachers and data")
    return path


VOCAB = "[PAD] [UNK] [CLS] [SEP] [MASK] the a cat dog sat on mat is good bad not it".split()


def make_tokenizer(**options) -> BertTokenizer:
    """A WordPiece tokenizer over ``VOCAB`` (ids fit the tiny models' vocabulary of 120)."""
    return BertTokenizer(vocab={word: index for index, word in enumerate(VOCAB)}, **options)


@pytest.fixture
def tokenizer() -> BertTokenizer:
    return make_tokenizer()


@pytest.fixture(autouse=True)
def datasets_cache(tmp_path, monkeypatch):
    """Keep the Arrow caches of the test files out of the user's Hugging Face cache."""
    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", tmp_path / "hf-cache")
    monkeypatch.delenv(GLUE_DIR_ENV, raising=False)


# The tests' tiny models have about 35,000 parameters; the shared teachers 22 million.
TINY_PARAMETERS = 1_000_000


def model_fingerprint(model: torch.nn.Module, *extra: object) -> str:
    """What a trace of ``model`` depends on: every module's class, plain attributes (training flag,
    pooling mode ...) and config, and every parameter's and buffer's values; not the folder it came from."""
    digest = hashlib.sha256(repr(extra).encode())
    for name, module in model.named_modules():
        plain = {
            k: v for k, v in vars(module).items()
            if isinstance(v, (bool, int, float, str, tuple, type(None))) and k != "name_or_path"
        }
        config = getattr(module, "config", None)
        described = (name, type(module).__module__, type(module).__qualname__, sorted(plain.items()))
        digest.update(repr(described).encode())
        if config is not None:
            digest.update(config.to_json_string().encode() + repr(config._attn_implementation).encode())
    for name, tensor in [*model.named_parameters(), *model.named_buffers()]:
        digest.update(f"{name} {tensor.dtype} {tuple(tensor.shape)}".encode())
        digest.update(tensor.detach().contiguous().reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


@pytest.fixture(autouse=True, scope="session")
def convert_each_tiny_model_once(tmp_path_factory):
    """Tracing even a tiny model to ONNX takes 10-20 s here (torch.export's symbolic shapes), a
    conversion to OpenVINO 3-5 s, and many tests convert the same seeded tiny model: convert each
    distinct tiny model once per session, then copy the graph file (ONNX) or clone the graph
    (OpenVINO). What bertpress does with the graph (checks, fusion, quantization) still runs every
    time; the real teachers, each converted once or twice, are left alone."""
    folder = tmp_path_factory.mktemp("onnx-traces")
    trace, from_torch = onnx_export._trace, openvino_export._from_torch
    converted = {}

    def key(model, names) -> str | None:
        if sum(p.numel() for p in model.parameters()) > TINY_PARAMETERS:
            return None
        return model_fingerprint(model, names, onnx_export.graph_output_names(model))

    def trace_or_copy(model, path, names):
        fingerprint = key(model, names)
        if fingerprint is None:
            return trace(model, path, names)
        kept = folder / f"{fingerprint}.onnx"
        if kept.exists():
            shutil.copyfile(kept, path)
        else:
            trace(model, path, names)
            shutil.copyfile(path, kept)

    def convert_or_clone(model, names):
        fingerprint = key(model, names)
        if fingerprint is None:
            return from_torch(model, names)
        if fingerprint not in converted:
            converted[fingerprint] = from_torch(model, names)
        return converted[fingerprint].clone()

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(onnx_export, "_trace", trace_or_copy)
        patch.setattr(openvino_export, "_from_torch", convert_or_clone)
        yield


@pytest.fixture
def glue_dir(tmp_path) -> Path:
    return write_glue(tmp_path / "glue")


def tokenizer_for(family: str) -> BertTokenizer:
    """The test vocabulary, without token types for the families whose models take none."""
    if family in WITHOUT_TOKEN_TYPES:
        return make_tokenizer(model_input_names=["input_ids", "attention_mask"])
    return make_tokenizer()


def save_tiny_model(folder: Path, num_labels: int = 2, family: str = "bert") -> Path:
    """A tiny random model and the test tokenizer, saved as a model folder."""
    folder.mkdir(parents=True, exist_ok=True)
    save_model(tiny_model(family, num_labels), tokenizer_for(family), folder)
    return folder


def uneven_masks(adapter) -> Masks:
    masks = Masks.ones(adapter)
    masks.heads[0] = torch.tensor([0.0, 1.3, 0.0, 0.7])
    masks.heads[1] = torch.zeros(4)  # a whole attention block goes
    masks.neurons[0][::2] = 0
    masks.neurons[1] = torch.linspace(0.5, 1.5, 64)
    masks.neurons[2] = torch.zeros(64)  # a whole FFN block goes
    return masks


def distinctive_model(family: str, pruned: bool = False):
    """A tiny model with sharp attention and logits of order one, so that a wrong head split or a
    wrong op shows far above the tolerance; pruned to heads [2, 0, 4] and neurons [32, 64, 0]."""
    model = tiny_model(family)
    adapter = get_adapter(model)
    with torch.no_grad():
        for index in range(adapter.num_layers):
            paths = adapter.layer_paths(index)
            adapter.module(paths.query).weight.mul_(8)
            adapter.module(paths.key).weight.mul_(8)
        for linear in adapter.per_sequence_linears():
            linear.weight.mul_(10)
    if pruned:
        masks = uneven_masks(adapter)
        shrink(adapter, masks.heads, masks.neurons)
    return model


def new_inputs(batch_size: int, seq_length: int) -> dict[str, torch.Tensor]:
    """A batch unlike the traced one (2 × 8): another size and length, padding, sentence pairs."""
    generator = torch.Generator().manual_seed(batch_size * 100 + seq_length)
    ids = torch.randint(5, 100, (batch_size, seq_length), generator=generator)
    mask = torch.ones_like(ids)
    mask[0, seq_length // 2 + 1 :] = 0
    types = torch.zeros_like(ids)
    types[:, seq_length // 2 :] = 1
    return {"input_ids": ids, "attention_mask": mask, "token_type_ids": types}


def onednn_at_each_call(module: torch.nn.Module) -> list[bool]:
    """Whether oneDNN was on at each forward call of ``module`` from now on (bertpress.memory)."""
    seen: list[bool] = []
    module.register_forward_pre_hook(lambda *_: seen.append(torch.backends.mkldnn.enabled))
    return seen


def pytorch_logits(model, inputs: dict[str, torch.Tensor]) -> torch.Tensor:
    with torch.no_grad():
        return model(**{name: inputs[name] for name in input_names(model)}).logits


WORDS = VOCAB[5:]


FAST_LATENCY = ["--batch-size", "2", "--seq-length", "8", "--min-time", "0.05"]


def random_sentence(rng: random.Random) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(rng.randint(3, 9)))


@pytest.fixture
def rte_dir(tmp_path) -> Path:
    """RTE-layout files with 64 training and 16 dev examples of random words."""
    rng = random.Random(0)
    folder = tmp_path / "glue" / "RTE"
    folder.mkdir(parents=True)
    for split, size in (("train", 64), ("dev", 16)):
        rows = ["index\tsentence1\tsentence2\tlabel"]
        for index in range(size):
            label = rng.choice(["entailment", "not_entailment"])
            rows.append(f"{index}\t{random_sentence(rng)}\t{random_sentence(rng)}\t{label}")
        (folder / f"{split}.tsv").write_text("\n".join(rows) + "\n")
    return folder.parent


@pytest.fixture
def model_dir(tmp_path) -> Path:
    return save_tiny_model(tmp_path / "model")


def run_prune(model_dir, rte_dir, output, *extra) -> int:
    return main(
        ["prune", "--model", str(model_dir), "--task", "rte", "--data-dir", str(rte_dir), "--output", str(output)]
        + ["--num-samples", "64", *FAST_LATENCY, *extra]
    )


def stop_after_first_checkpoint(monkeypatch) -> None:
    """Make a training run stop, as by Ctrl-C, right after it checkpoints its first epoch."""
    from bertpress.steps import checkpoints

    save = checkpoints.Checkpoints.save

    def save_then_stop(self, *args):
        save(self, *args)
        raise KeyboardInterrupt

    monkeypatch.setattr(checkpoints.Checkpoints, "save", save_then_stop)
