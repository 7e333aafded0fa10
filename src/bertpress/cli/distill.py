"""``bertpress distill``: make a student of a fine-tuned model (pruned, in stages or at once, or
built from its own layers) and recover its accuracy by distilling the teacher into it."""

from __future__ import annotations

import argparse

from .common import (
    add_calibration_options,
    add_checkpoint_options,
    add_data_options,
    add_embedding_options,
    add_json_option,
    add_latency_options,
    add_output_options,
    calibration,
    checkpoint_folder,
    column_names,
    data_source,
    embedding_setup,
    emit,
    latency_setting,
    number,
    positive_int,
)
from .prune import add_budget_options, budget_given, prune_step


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "distill",
        help="prune (or drop layers of) a fine-tuned model and distill the original into it",
        description="Build a student from --model (pruned to the budget, in stages with --gradual, or "
        "with --drop-layers of its layers removed), then train it to imitate the teacher (--model, or "
        "--teacher). Writes the model with report.json (a prune report plus the training curve).",
    )
    parser.add_argument("--model", required=True, help="the fine-tuned model: teacher and starting point")
    parser.add_argument("--teacher", metavar="MODEL", help="another teacher with the same labels and vocabulary")
    parser.add_argument(
        "--teacher-labels-differ",
        action="store_true",
        help="distill from a --teacher whose label names or recorded task differ from the student's (same meaning)",
    )
    add_output_options(parser, "the student")
    add_budget_options(parser, required=False)
    student = parser.add_argument_group("student")
    student.add_argument("--gradual", action="store_true", help="prune in stages, distilling between them")
    student.add_argument(
        "--stage-epochs", type=positive_int, default=1, metavar="N", help="epochs between stages (default 1)"
    )
    student.add_argument("--drop-layers", type=positive_int, metavar="N", help="remove N whole layers first")
    student.add_argument(
        "--layer-strategy",
        choices=("alternate", "top", "fisher"),
        default="alternate",
        help="which layers --drop-layers removes (default alternate, as DistilBERT)",
    )
    training = parser.add_argument_group("training")
    training.add_argument("--epochs", type=positive_int, default=3, help="epochs of the final distillation (default 3)")
    training.add_argument("--lr", type=number, default=1e-4, help="peak learning rate (default 1e-4)")
    training.add_argument("--train-batch-size", type=positive_int, default=32, help="global batch (default 32)")
    training.add_argument("--gradient-accumulation", type=positive_int, default=1, metavar="N")
    training.add_argument(
        "--recompute-layers",
        action="store_true",
        help="keep only each student layer's input for backward and recompute the rest there (activation "
        "checkpointing): the same student in less memory, one more forward pass of it a step",
    )
    training.add_argument("--max-train-samples", type=positive_int, metavar="N", help="a seeded subset of the training split")
    training.add_argument("--unlabeled-file", metavar="FILE", help="extra text the teacher labels (lines, or a table)")
    training.add_argument(
        "--unlabeled-columns",
        metavar="A[,B]",
        type=column_names,
        help="the text column(s) when --unlabeled-file is a table; default the task's",
    )
    training.add_argument("--temperature", type=number, default=2.0, help="softmax temperature of the logit loss")
    for name, default in (("logits", 1.0), ("hidden", 0.0), ("attention", 0.0), ("task", 0.0)):
        training.add_argument(
            f"--{name}-weight", type=number, default=default, metavar="W", help=f"weight of the {name} loss ({default})"
        )
    training.add_argument(
        "--precision", choices=("no", "bf16", "fp16"), default="no", help="autocast precision (default no: fp32)"
    )
    static = parser.add_argument_group("static embeddings (--static)")
    static.add_argument(
        "--static",
        action="store_true",
        help="make the sentence embedder static: a vector per vocabulary token (the model's embedding of the "
        "token alone, PCA-reduced and weighted by how often --text-file uses it); a sentence-transformers folder",
    )
    static.add_argument("--static-dims", type=positive_int, default=256, metavar="N", help="dimensions (default 256)")
    static.add_argument(
        "--static-weighting", choices=("counts", "zipf", "none"),
        help="token weights: SIF of each token's frequency counted on --text-file (counts, the default with text), "
        "or of a Zipf frequency by vocabulary rank (zipf, the default without), or none",
    )
    static.add_argument(
        "--static-epochs", type=int, default=0, metavar="N",
        help="then train the vectors on --text-file for N epochs, towards the original embeddings (default 0)",
    )
    static.add_argument("--static-lr", type=number, default=1e-3, metavar="LR", help="learning rate on --text-file (default 1e-3)")
    add_checkpoint_options(parser)
    add_data_options(parser, task_required=False)
    add_embedding_options(parser)
    add_calibration_options(parser)
    add_latency_options(parser)
    add_json_option(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> None:
    from .. import api

    if args.static:
        emit(args, run_static(args, api))
        return
    if not budget_given(args) and args.drop_layers is None and args.teacher is None:
        raise api.BertpressError("give a budget (--macs, --latency, --params, ...), --drop-layers N, or a --teacher")
    config = api.DistillStep(
        teacher=args.teacher,
        teacher_labels_differ=args.teacher_labels_differ,
        epochs=args.epochs,
        lr=args.lr,
        batch_size=args.train_batch_size,
        gradient_accumulation=args.gradient_accumulation,
        recompute_layers=args.recompute_layers,
        max_train_samples=args.max_train_samples,
        unlabeled_file=args.unlabeled_file,
        unlabeled_columns=args.unlabeled_columns,
        logits=args.logits_weight,
        hidden=args.hidden_weight,
        attention=args.attention_weight,
        task=args.task_weight,
        temperature=args.temperature,
        precision=args.precision,
        seed=args.seed,
    )
    drop = api.DropLayersStep(count=args.drop_layers, strategy=args.layer_strategy) if args.drop_layers else None
    report = api.distill(
        args.model,
        args.task,
        args.output,
        config=config,
        prune=prune_step(args) if budget_given(args) else None,
        drop_layers=drop,
        gradual=args.gradual,
        stage_epochs=args.stage_epochs,
        calibration=calibration(args),
        data=data_source(args),
        embedding=embedding_setup(args),
        latency=latency_setting(args),
        overwrite=args.overwrite,
        checkpoints=checkpoint_folder(args),
        resume=args.resume,
    )
    emit(args, report)


def run_static(args: argparse.Namespace, api):
    """``--static``: the whole model becomes token vectors, so nothing that shapes a student applies."""
    if budget_given(args) or args.drop_layers is not None or args.gradual or args.teacher is not None:
        raise api.BertpressError(
            "--static makes token vectors of the whole model: it does not combine with a budget (--macs, ...), "
            "--drop-layers, --gradual or --teacher"
        )
    config = api.DistillStaticStep(
        dims=args.static_dims, weighting=args.static_weighting, text_file=args.text_file, text_column=args.text_column,
        epochs=args.static_epochs, lr=args.static_lr, seed=args.seed,
    )
    return api.distill_static(args.model, args.output, config=config, pooling=args.pooling, overwrite=args.overwrite)
