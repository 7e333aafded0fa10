"""Entity-level precision, recall and F1 for token classification, as conlleval scores CoNLL-2003.

An entity counts only when its whole span and its type match; the scores are micro averages over all
entities, in points (0 to 100). seqeval's default mode is conlleval's, which also reads a stray
``I-TYPE`` as the start of an entity rather than failing.
"""

from __future__ import annotations

from collections.abc import Sequence

from seqeval.metrics import f1_score, precision_score, recall_score

from ..errors import BertpressError


def entity_metrics(predicted: Sequence[Sequence[str]], gold: Sequence[Sequence[str]]) -> dict[str, float]:
    """``{"precision", "recall", "f1"}`` in points, over exactly matching (span and type) entities."""
    if len(predicted) != len(gold):
        raise BertpressError(f"got {len(predicted)} predicted tag sequences for {len(gold)} gold ones")
    if not gold:
        raise BertpressError("no sentences to score")
    for index, (tags, expected) in enumerate(zip(predicted, gold)):
        if isinstance(tags, str) or isinstance(expected, str):
            raise BertpressError(f"sentence {index}: give its tags as a list, not a string")
        if len(tags) != len(expected):
            raise BertpressError(f"sentence {index} has {len(tags)} predicted tags for {len(expected)} gold ones")
    y_pred, y_true = [list(tags) for tags in predicted], [list(tags) for tags in gold]
    return {
        name: 100 * float(score(y_true, y_pred, zero_division=0))
        for name, score in (("precision", precision_score), ("recall", recall_score), ("f1", f1_score))
    }
