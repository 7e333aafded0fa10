"""Span question answering and token classification, end to end on tiny random models: windows and
offsets, first sub-tokens, one post-processing for every runtime, every verb, and the refusals."""

from __future__ import annotations

import json
import random

import numpy as np
import pytest
import torch
from conftest import _BERT_LIKE, make_tokenizer
from transformers import BertConfig, BertForQuestionAnswering, BertForTokenClassification

from bertpress import api
from bertpress.cli import main
from bertpress.data.sources import DataSource, load_split
from bertpress.data.tasks import CONLL_TAGS, get_task
from bertpress.data.tokenize import IGNORED, batches, encode
from bertpress.measure.evaluate import evaluate
from bertpress.models.saving import save_model
from bertpress.models.task_heads import SpanQA, TokenClassification, task_head_for
from bertpress.runtime.loading import load_any

WORDS = "the a cat dog sat on mat is good bad not it".split()


def _context(rng: random.Random, words: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(words))


def write_squad(path, questions: int = 24, seed: int = 0, words: int = 70) -> str:
    """A SQuAD v1.1 file of random contexts (longer than one 64-token window) and answers cut from them."""
    rng = random.Random(seed)
    paragraphs = []
    for index in range(questions):
        context = _context(rng, words)
        tokens = context.split()
        first = rng.randrange(len(tokens) - 3)
        answer = " ".join(tokens[first : first + rng.randint(1, 3)])
        start = len(" ".join(tokens[:first])) + (1 if first else 0)
        qas = [{"id": f"q{index}", "question": "is it good", "answers": [{"text": answer, "answer_start": start}]}]
        paragraphs.append({"context": context, "qas": qas})
    path.write_text(json.dumps({"version": "1.1", "data": [{"title": "t", "paragraphs": paragraphs}]}))
    return str(path)


def write_conll(path, sentences: int = 40, seed: int = 0, tags=("O", "B-PER", "I-PER", "B-LOC")) -> str:
    rng = random.Random(seed)
    lines = []
    for _ in range(sentences):
        previous = "O"
        for _ in range(rng.randint(3, 9)):
            tag = rng.choice(tags)
            if tag.startswith("I-") and previous[2:] != tag[2:]:
                tag = "O"
            lines.append(f"{rng.choice(WORDS)} NN B-NP {tag}")
            previous = tag
        lines.append("")
    path.write_text("\n".join(lines) + "\n")
    return str(path)


def tiny_qa(folder, seed: int = 0):
    torch.manual_seed(seed)
    save_model(BertForQuestionAnswering(BertConfig(**_BERT_LIKE)).eval(), make_tokenizer(), folder)
    return str(folder)


def tiny_ner(folder, seed: int = 0, labels=CONLL_TAGS):
    torch.manual_seed(seed)
    config = BertConfig(num_labels=len(labels), id2label=dict(enumerate(labels)), **_BERT_LIKE)
    config.label2id = {name: index for index, name in enumerate(labels)}
    save_model(BertForTokenClassification(config).eval(), make_tokenizer(), folder)
    return str(folder)


@pytest.fixture
def squad_files(tmp_path):
    return DataSource(train_file=write_squad(tmp_path / "train.json", 40), dev_file=write_squad(tmp_path / "dev.json", 12, seed=1), doc_stride=16)


@pytest.fixture
def conll_files(tmp_path):
    return DataSource(train_file=write_conll(tmp_path / "train.txt"), dev_file=write_conll(tmp_path / "dev.txt", 16, seed=1))


# --- windows, offsets and spans -----------------------------------------------------------------


def test_long_contexts_are_windowed_never_truncated_and_answers_map_back_to_their_text(squad_files):
    examples = load_split(get_task("squad"), "train", squad_files)
    features = encode(examples, make_tokenizer(), 64, stride=16)
    assert len(features) > len(examples)  # every 70-word context needs more than one window
    for index, context in enumerate(examples["context"]):
        windows = [row for row in features if row["example_index"] == index]
        covered = {char for row in windows for span in row["offset_mapping"] if span for char in range(*span)}
        assert covered >= {char for char, letter in enumerate(context) if letter != " "}
        answer = examples[index]["answers"]["text"][0]
        holding = [row for row in windows if row["labels"] != [0, 0]]
        assert holding, "some window holds the whole answer"
        for row in holding:
            start, end = row["labels"]
            offsets = row["offset_mapping"]
            assert context[offsets[start][0] : offsets[end][1]] == answer


def test_the_best_span_is_valid_and_taken_over_all_windows_of_a_question():
    head = SpanQA(n_best=20, max_answer_tokens=2)
    offsets = [None, (0, 3), (4, 7), (8, 11), None]
    scores = np.zeros((5, 2))
    scores[:, 0] = [9, 1, 0, 5, 9]  # [CLS] and [SEP] (outside the context) can never start a span
    scores[:, 1] = [9, 0, 4, 2, 9]
    assert head.best_span(scores, offsets) == (7.0, 8, 11)  # start 3 (5) + end 3 (2); end 2 (4) is before it
    assert head.best_span(np.zeros((2, 2)), [None, None]) is None
    features = {"example_index": [0, 0], "offset_mapping": [offsets, [None, (0, 3), (4, 7), None, None]]}
    second = np.zeros((5, 2))
    second[1, 0], second[2, 1] = 8, 8
    answers, golds = head.decode([scores, second], features, {"context": ["cat dog sat"], "answers": [{"text": ["cat dog"]}]})
    assert answers == ["cat dog"] and golds == [["cat dog"]]


def test_words_are_labelled_on_their_first_sub_token_only(tmp_path):
    tokenizer = make_tokenizer()
    examples = load_split(get_task("conll2003"), "train", DataSource(train_file=write_conll(tmp_path / "c.txt", 5)))
    features = encode(examples, tokenizer, 64, label_names=CONLL_TAGS)
    for row, example in zip(features, examples):
        firsts = [label for label in row["labels"] if label != IGNORED]
        assert [CONLL_TAGS[label] for label in firsts] == example["tags"]
        assert row["labels"][0] == IGNORED and row["labels"][-1] == IGNORED  # [CLS], [SEP]


def test_a_tag_the_model_does_not_know_is_refused(tmp_path):
    examples = load_split(get_task("conll2003"), "train", DataSource(train_file=write_conll(tmp_path / "c.txt", 5)))
    with pytest.raises(Exception, match="tag 'B-PER' is not one of the model's labels"):
        encode(examples, make_tokenizer(), 64, label_names=("O", "B-LOC"))


# --- one post-processing for every runtime -------------------------------------------------------


@pytest.mark.parametrize("kind", ["squad", "conll2003"])
def test_pytorch_onnx_and_openvino_score_the_same(kind, tmp_path, squad_files, conll_files):
    model = tiny_qa(tmp_path / "m") if kind == "squad" else tiny_ner(tmp_path / "m")
    data = squad_files if kind == "squad" else conll_files
    task = get_task(kind)
    dev = load_split(task, "dev", data)
    reports = {"torch": evaluate(load_any(model), make_tokenizer(), task, dev, max_length=64, stride=16, progress=False)}
    for backend in ("onnx", "openvino"):
        folder = tmp_path / backend
        api.export(model, folder) if backend == "onnx" else api.compress(
            model, kind, str(folder), data=data, recipe=api.Recipe.of(api.ExportStep(format="openvino")), progress=False,
            calibration=api.Calibration(num_samples=16, batch_size=8, max_length=64),
        )
        exported = load_any(str(folder / "model") if (folder / "model").is_dir() else str(folder))
        reports[backend] = evaluate(exported, make_tokenizer(), task, dev, max_length=64, stride=16, progress=False)
    assert reports["onnx"].metrics == pytest.approx(reports["torch"].metrics, abs=1e-6)
    assert reports["openvino"].metrics == pytest.approx(reports["torch"].metrics, abs=1e-6)
    names = ("start_logits", "end_logits") if kind == "squad" else ("logits",)
    assert load_any(str(tmp_path / "onnx")).output_names == names


# --- every verb ----------------------------------------------------------------------------------


def test_finetune_prune_and_evaluate_question_answering_from_the_command_line(tmp_path, squad_files, capsys):
    base = tiny_qa(tmp_path / "base")
    files = ["--train-file", squad_files.train_file, "--dev-file", squad_files.dev_file, "--max-length", "64", "--doc-stride", "16"]
    assert main(["finetune", "--model", base, "--task", "squad", *files, "--epochs", "1", "--output", str(tmp_path / "ft"),
                 "--json", str(tmp_path / "ft.json")]) == 0
    metrics = json.loads((tmp_path / "ft.json").read_text())["epochs"][0]["metrics"]
    assert set(metrics) == {"exact_match", "f1"} and 0 <= metrics["exact_match"] <= metrics["f1"] <= 100
    assert main(["prune", "--model", str(tmp_path / "ft"), "--task", "squad", *files, "--macs", "0.5", "--num-samples", "32",
                 "--output", str(tmp_path / "pruned"), "--json", str(tmp_path / "p.json")]) == 0
    report = json.loads((tmp_path / "p.json").read_text())
    assert report["macs_seq_length"] == 64  # a QA window is priced full
    assert report["pruned"]["macs"] <= 0.5 * report["baseline"]["macs"] * 1.02
    assert main(["evaluate", "--model", str(tmp_path / "pruned"), "--task", "squad", *files, "--json", str(tmp_path / "e.json")]) == 0
    assert set(json.loads((tmp_path / "e.json").read_text())["metrics"]) == {"exact_match", "f1"}


def test_finetune_distill_and_quantize_token_classification(tmp_path, conll_files):
    files = ["--train-file", conll_files.train_file, "--dev-file", conll_files.dev_file, "--max-length", "64"]
    base = tmp_path / "base"
    torch.manual_seed(0)
    save_model(BertForQuestionAnswering(BertConfig(**_BERT_LIKE)).bert, make_tokenizer(), base)  # a bare encoder
    assert main(["finetune", "--model", str(base), "--task", "conll2003", *files, "--epochs", "1", "--output", str(tmp_path / "ft")]) == 0
    config = json.loads((tmp_path / "ft" / "config.json").read_text())
    assert config["architectures"] == ["BertForTokenClassification"] and config["id2label"]["0"] == "O"
    recipe = api.Recipe.of(api.PruneStep(macs=0.5), api.DistillStep(epochs=1, hidden=1.0), api.QuantizeStep(backend="openvino", mode="static"))
    report = api.compress(str(tmp_path / "ft"), "conll2003", str(tmp_path / "small"), recipe=recipe, data=conll_files,
                          calibration=api.Calibration(num_samples=16, batch_size=8, max_length=64), progress=False)
    assert set(report.pruned.metrics) == {"precision", "recall", "f1"}
    assert report.latency.seq_length == 64  # timed at the examples' length when no LatencySetting says otherwise
    evaluated = api.evaluate(str(tmp_path / "small"), "conll2003", data=conll_files, split="test", progress=False)
    assert evaluated.split == "test" and set(evaluated.metrics) == {"precision", "recall", "f1"}


def test_distillation_losses_of_spans_and_tokens_vanish_at_the_teacher_and_ignore_padding():
    scores = torch.randn(2, 5, 2)
    mask = torch.tensor([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]])
    assert SpanQA().soft_losses(scores, scores, 2.0, mask).abs().max() < 1e-6
    moved = scores.clone()
    moved[0, 3:] += 50  # padding only
    assert torch.allclose(SpanQA().soft_losses(moved, scores, 2.0, mask)[0], torch.zeros(()), atol=1e-5)
    tags = torch.randn(2, 5, 9)
    shifted = tags.clone()
    shifted[0, 3:] = -tags[0, 3:]
    assert torch.allclose(TokenClassification(CONLL_TAGS).soft_losses(shifted, tags, 1.0, mask)[0], torch.zeros(()), atol=1e-6)


def test_agreement_compares_spans_and_entity_tokens():
    head = TokenClassification(("O", "B-PER"))
    outside, person = torch.tensor([0, 0, 0, 0]), torch.tensor([1, 0, 0, 0])
    assert head.agreement(outside, outside) == 100.0
    assert head.agreement(outside, person) == 0.0  # the only entity token is missed
    batch = {"attention_mask": torch.ones(2, 5, dtype=torch.long)}
    spans = SpanQA().comparable(torch.randn(2, 5, 2), batch)
    assert spans.shape == (2, 2) and SpanQA().agreement(spans, spans) == 100.0


# --- refusals --------------------------------------------------------------------------------------


def test_a_model_of_another_kind_of_task_is_refused(tmp_path, squad_files, glue_dir, capsys):
    qa = tiny_qa(tmp_path / "qa")
    assert main(["evaluate", "--model", qa, "--task", "rte", "--data-dir", str(glue_dir)]) == 2
    assert "the model is a question answering model; task 'rte' needs sequence classification" in capsys.readouterr().err
    classifier = tmp_path / "cls"
    from conftest import save_tiny_model

    save_tiny_model(classifier)
    files = ["--train-file", squad_files.train_file, "--dev-file", squad_files.dev_file]
    assert main(["evaluate", "--model", str(classifier), "--task", "squad", *files]) == 2
    error = capsys.readouterr().err
    assert "the model is a sequence classification model; task 'squad' needs question answering" in error
    assert len(error.strip().splitlines()) == 1


def test_a_ner_model_with_other_labels_is_refused(tmp_path, conll_files, capsys):
    model = tiny_ner(tmp_path / "m", labels=("O", "B-X", "I-X"))
    assert main(["evaluate", "--model", model, "--task", "conll2003", "--dev-file", conll_files.dev_file]) == 2
    assert "the model has 3 output label(s) but task 'conll2003' needs 9" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('{"version": "1.1", "data": [{"paragraphs": [{"context": "a cat", "qas": [{"id": "x", "question": "q", "answers": []}]}]}]}',
         "question 'x' has no answer"),
        ('{"version": "1.1", "data": [{"paragraphs": [{"context": "a cat", "qas": [{"id": "x", "question": "q", '
         '"answers": [{"text": "dog", "answer_start": 2}]}]}]}]}', "the answer 'dog' of question 'x' is not in its context"),
        ("", "has no examples"),
    ],
)
def test_bad_squad_files_are_refused_in_one_line_and_nothing_is_written(tmp_path, content, message, capsys):
    bad = tmp_path / "bad.json"
    bad.write_text(content)
    model = tiny_qa(tmp_path / "m")
    code = main(["finetune", "--model", model, "--task", "squad", "--train-file", str(bad), "--dev-file", str(bad),
                 "--max-length", "64", "--output", str(tmp_path / "out")])
    error = capsys.readouterr().err
    assert code == 2 and message in error and len(error.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists()


def test_a_conll_file_that_is_not_iob2_is_refused(tmp_path, capsys):
    bad = tmp_path / "bad.txt"
    bad.write_text("cat NN B-NP O\ndog NN B-NP I-PER\n")
    model = tiny_ner(tmp_path / "m")
    code = main(["evaluate", "--model", model, "--task", "conll2003", "--dev-file", str(bad)])
    assert code == 2 and "tag 'I-PER' is not IOB2" in capsys.readouterr().err


def test_token_heads_follow_the_models_label_order(tmp_path):
    reordered = tuple(reversed(CONLL_TAGS))
    model = load_any(tiny_ner(tmp_path / "m", labels=reordered))
    head = task_head_for(get_task("conll2003"), model.config)
    assert head.label_names == reordered
    head.check(model.config, "conll2003")


def test_calibration_batches_of_questions_hold_every_window(tmp_path, squad_files):
    examples = load_split(get_task("squad"), "train", squad_files)
    features = encode(examples, make_tokenizer(), 64, stride=16)
    assert sum(len(batch["input_ids"]) for batch in batches(features, make_tokenizer(), 8)) == len(features)


def test_optimize_searches_a_token_classifier(tmp_path, conll_files):
    model = tiny_ner(tmp_path / "m")
    output = tmp_path / "search"
    code = main(["optimize", "--model", model, "--task", "conll2003", "--train-file", conll_files.train_file,
                 "--dev-file", conll_files.dev_file, "--output", str(output), "--num-samples", "32", "--min-time", "0.01",
                 "--batch-size", "8", "--max-length", "32", "--speedup", "1.0", "--max-drop", "100",
                 "--backend", "torch-fp32", "--no-distill"])  # backends: tests/test_optimize.py (each int8 export takes seconds)
    assert code == 0
    report = json.loads((output / "pareto.json").read_text())
    assert report["chosen"] is not None and (output / "model").is_dir()
    scored = [candidate["metric"] for candidate in report["candidates"] if candidate["metric"] is not None]
    assert scored and all(0 <= metric <= 100 for metric in scored)  # entity F1, the task's main metric


def test_bench_and_info_of_a_qa_model_default_to_its_window(tmp_path, squad_files, capsys):
    model = tiny_qa(tmp_path / "base")
    files = ["--train-file", squad_files.train_file, "--dev-file", squad_files.dev_file, "--max-length", "64", "--doc-stride", "16"]
    assert main(["finetune", "--model", model, "--task", "squad", *files, "--epochs", "1", "--output", str(tmp_path / "ft")]) == 0
    capsys.readouterr()
    assert main(["info", "--model", str(tmp_path / "ft"), "--seq-length", "64", "--json", str(tmp_path / "i.json")]) == 0
    assert main(["bench", "--model", str(tmp_path / "ft"), "--batch-sizes", "2", "--seq-length", "64", "--min-time", "0.01",
                 "--backends", "torch-fp32,onnx-fp32", "--json", str(tmp_path / "b.json")]) == 0
    bench = json.loads((tmp_path / "b.json").read_text())
    assert bench["seq_length"] == 64 and {row["backend"] for row in bench["results"]} == {"torch-fp32", "onnx-fp32"}
    from bertpress.api import task_length

    assert task_length(str(tmp_path / "ft")) == 384  # a SQuAD model is timed at its window by default
