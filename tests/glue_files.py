"""Hand-written files for every GLUE task, in the layout of the GLUE download script."""

from __future__ import annotations

from pathlib import Path

from bertpress.data.tasks import get_task


def tsv(*rows: tuple) -> str:
    return "".join("\t".join(map(str, row)) + "\n" for row in rows)


MNLI_HEADER = (
    "index promptID pairID genre sentence1_binary_parse sentence2_binary_parse sentence1_parse "
    "sentence2_parse sentence1 sentence2 label1 label2 label3 label4 label5 gold_label"
).split()


def mnli_row(index, premise, hypothesis, label):
    parses = ("( x )", "( y )", "(ROOT x)", "(ROOT y)")
    return (index, 1, f"{index}e", "fiction", *parses, premise, hypothesis, *[label] * 6)


# task -> {file in the GLUE layout: its text}, and the (text_a, text_b, label) each split must give.
GLUE_FILES = {
    "cola": (
        {"CoLA/{split}.tsv": tsv(("gj04", 1, "", "the cat sat ."), ("gj04", 0, "*", "cat the sat on ."))},
        [("the cat sat .", None, 1), ("cat the sat on .", None, 0)],
    ),
    "sst2": (
        {"SST-2/{split}.tsv": tsv(("sentence", "label"), ("it is good ", 1), ("NA bad ", 0))},
        [("it is good ", None, 1), ("NA bad ", None, 0)],
    ),
    "mrpc": (
        {
            "MRPC/{split}.tsv": "\ufeff"
            + tsv(
                ("Quality", "#1 ID", "#2 ID", "#1 String", "#2 String"),
                (1, 11, 12, 'the cat " sat', "a cat sat ."),
                (0, 13, 14, "the dog", "it is bad"),
            )
        },
        [('the cat " sat', "a cat sat .", 1), ("the dog", "it is bad", 0)],
    ),
    "qqp": (
        {
            "QQP/{split}.tsv": tsv(
                ("id", "qid1", "qid2", "question1", "question2", "is_duplicate"),
                (0, 1, 2, "is it good ?", "is it bad ?", 0),
                (1, 3, 4, "the cat ?", "a cat ?", 1),
            )
        },
        [("is it good ?", "is it bad ?", 0), ("the cat ?", "a cat ?", 1)],
    ),
    "stsb": (
        {
            "STS-B/{split}.tsv": tsv(
                "index genre filename year old_index source1 source2 sentence1 sentence2 score".split(),
                (0, "main-captions", "MSRvid", "2012test", "0001", "none", "none", "a cat .", "the cat .", "5.000"),
                (1, "main-captions", "MSRvid", "2012test", "0004", "none", "none", "a dog .", "the mat .", "0.500"),
            )
        },
        [("a cat .", "the cat .", 5.0), ("a dog .", "the mat .", 0.5)],
    ),
    "mnli": (
        {
            "MNLI/{split}.tsv": tsv(
                MNLI_HEADER,
                mnli_row(0, "the cat sat .", "a cat sat .", "entailment"),
                mnli_row(1, "the dog sat .", "it is good .", "neutral"),
                mnli_row(2, "the cat is good .", "the cat is bad .", "contradiction"),
            )
        },
        [
            ("the cat sat .", "a cat sat .", 0),
            ("the dog sat .", "it is good .", 1),
            ("the cat is good .", "the cat is bad .", 2),
        ],
    ),
    "qnli": (
        {
            "QNLI/{split}.tsv": tsv(
                ("index", "question", "sentence", "label"),
                (0, "is it a cat ?", "it is a cat .", "entailment"),
                (1, "is it a dog ?", "the mat is bad .", "not_entailment"),
            )
        },
        [("is it a cat ?", "it is a cat .", 0), ("is it a dog ?", "the mat is bad .", 1)],
    ),
    "rte": (
        {
            "RTE/{split}.tsv": tsv(
                ("index", "sentence1", "sentence2", "label"),
                (0, "the cat sat on the mat .", "a cat sat .", "entailment"),
                (1, "the dog is good .", "the dog is bad .", "not_entailment"),
                (2, "a cat is not a dog .", "it is a dog .", "not_entailment"),
                (3, "the mat is good .", "it is good .", "entailment"),
            )
        },
        [
            ("the cat sat on the mat .", "a cat sat .", 0),
            ("the dog is good .", "the dog is bad .", 1),
            ("a cat is not a dog .", "it is a dog .", 1),
            ("the mat is good .", "it is good .", 0),
        ],
    ),
    "wnli": (
        {
            "WNLI/{split}.tsv": tsv(
                ("index", "sentence1", "sentence2", "label"),
                (0, "the cat sat . it is good .", "the cat is good .", 1),
                (1, "the dog sat . it is bad .", "the mat is bad .", 0),
            )
        },
        [("the cat sat . it is good .", "the cat is good .", 1), ("the dog sat . it is bad .", "the mat is bad .", 0)],
    ),
}


def write_glue(folder: Path) -> Path:
    """Every task's hand-written file, as each of its splits, in the layout of the GLUE download script."""
    for name, (files, _) in GLUE_FILES.items():
        for pattern, text in files.items():
            for split in get_task(name).splits:
                path = folder / pattern.format(split=split)
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(text, encoding="utf-8")
    return folder
