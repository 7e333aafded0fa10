"""Search, rearrangement and reconstruction, each on its own."""

import contextlib

import pytest
import torch
from conftest import FAMILIES, tiny_model

from bertpress.measure.cost import MacsCost
from bertpress.models.adapters import get_adapter
from bertpress.models.task_heads import SequenceClassification
from bertpress.models.hooks import hooks
from bertpress.models.shrink import shrink
from bertpress.prune import fisher
from bertpress.prune.fisher import collect_mask_gradients
from bertpress.prune.masks import Masks, apply_masks
from bertpress.prune.rearrange import rearrange
from bertpress.prune.reconstruct import reconstruct
from bertpress.errors import BertpressError
from bertpress.measure.cost import ResolvedBudget, make_budget
from bertpress.prune.fisher import MaskGradients
from bertpress.prune.pipeline import select_units
from bertpress.prune.search import LayerFloor, Selection, align_neurons, search_masks
from bertpress.steps.prune import PruneStep


def random_batches(num_batches=4, batch_size=6, seq=11, num_labels=2, seed=0):
    generator = torch.Generator().manual_seed(seed)
    out = []
    for _ in range(num_batches):
        ids = torch.randint(5, 100, (batch_size, seq), generator=generator)
        attention = torch.ones_like(ids)
        attention[0, seq // 2 :] = 0  # some padding
        labels = torch.randint(0, num_labels, (batch_size,), generator=generator)
        out.append({"input_ids": ids, "attention_mask": attention, "labels": labels})
    return out


@pytest.mark.parametrize("ratio", [0.05, 0.3, 0.5, 0.77, 1.0])
def test_search_meets_the_budget_and_keeps_the_most_important(ratio):
    generator = torch.Generator().manual_seed(3)
    heads = [torch.rand(4, generator=generator) for _ in range(3)]
    neurons = [torch.rand(64, generator=generator) for _ in range(3)]
    costs = MacsCost(head=100.0, neuron=7.0)
    total = 12 * costs.head + 192 * costs.neuron
    masks = search_masks(heads, neurons, costs, ratio * total)
    kept = sum(masks.kept_heads()) * costs.head + sum(masks.kept_neurons()) * costs.neuron
    assert kept <= ratio * total
    assert kept > ratio * total - costs.head - costs.neuron  # nothing affordable left out
    # within each kind, every kept unit matters more than every pruned one
    for importance, mask in ((torch.cat(heads), torch.cat(masks.heads)), (torch.cat(neurons), torch.cat(masks.neurons))):
        if 0 < mask.sum() < len(mask):
            assert importance[mask == 1].min() >= importance[mask == 0].max()


def fading_importance(generator):
    """Three layers, the last a hundred times less important than the others."""
    heads = [torch.rand(4, generator=generator) * scale for scale in (1.0, 1.0, 0.01)]
    neurons = [torch.rand(64, generator=generator) * scale for scale in (1.0, 1.0, 0.01)]
    return heads, neurons


def test_a_layer_floor_keeps_each_layers_most_important_units_within_the_budget():
    heads, neurons = fading_importance(torch.Generator().manual_seed(3))
    costs = MacsCost(head=100.0, neuron=7.0)
    limit = 0.4 * (12 * costs.head + 192 * costs.neuron)
    plain = search_masks(heads, neurons, costs, limit)
    assert plain.kept_heads()[2] == 0 and plain.kept_neurons()[2] == 0  # the plain search empties the last layer
    masks = search_masks(heads, neurons, costs, limit, LayerFloor([1, 1, 1], [16, 16, 16]))
    assert sum(masks.kept_heads()) * costs.head + sum(masks.kept_neurons()) * costs.neuron <= limit
    assert min(masks.kept_heads()) >= 1 and min(masks.kept_neurons()) >= 16
    for importance, mask in zip(heads + neurons, masks.heads + masks.neurons):  # within a layer: the most important
        if 0 < mask.sum() < len(mask):
            assert importance[mask == 1].min() >= importance[mask == 0].max()


def test_a_floor_the_budget_cannot_afford_is_left_out():
    generator = torch.Generator().manual_seed(3)
    heads, neurons = fading_importance(generator)
    # Per-batch gradients whose squares sum to those importances (one batch).
    gradients = MaskGradients([h.sqrt()[None] for h in heads], [n.sqrt()[None] for n in neurons])

    class WithEmptyForms(MacsCost):  # an emptied block still costs 50 (LayerNorms, biases)
        def attention(self, heads: int) -> float:
            return 50 + super().attention(heads)

        def ffn(self, neurons: int) -> float:
            return 50 + super().ffn(neurons)

    costs = WithEmptyForms(head=100.0, neuron=7.0)
    whole = costs.cost([4] * 3, [64] * 3)
    budget = ResolvedBudget(make_budget(macs=0.3), costs, 0.3 * whole)
    # A full floor (every layer keeps 0.3 of its units) costs more than the 0.3 of the whole the budget leaves.
    chosen = select_units(gradients, budget, allow_layer_drop=False, layer_floor=1.0)
    plain = search_masks(heads, neurons, costs, budget.limit)
    assert chosen.masks.kept_heads() == plain.kept_heads() and chosen.masks.kept_neurons() == plain.kept_neurons()
    # Four tenths of it (a head and 7 neurons a layer) fit, and hold; half (9 neurons a layer) would not beside the heads.
    floored = select_units(gradients, budget, allow_layer_drop=False, layer_floor=0.4)
    assert min(floored.masks.kept_neurons()) >= int(0.4 * 0.3 * 64) > min(plain.kept_neurons())
    assert min(floored.masks.kept_heads()) == 1 > min(plain.kept_heads())


def test_a_positive_floor_keeps_at_least_one_head_in_each_layer():
    heads, neurons = [torch.ones(12), torch.ones(12), torch.ones(0)], [torch.ones(3072)] * 3
    floor = LayerFloor.share(0.25 * 0.25, heads, neurons)  # 0.75 of a head: rounded down, no attention
    assert floor.heads == [1, 1, 0] and floor.neurons == [192, 192, 192]  # a layer with no heads left keeps none
    assert LayerFloor.share(0.0, heads, neurons) == LayerFloor.none(3)


def test_the_layer_floor_is_a_share():
    with pytest.raises(BertpressError, match="layer_floor must be between 0 and 1"):
        PruneStep(macs=0.5, layer_floor=1.5)
    with pytest.raises(BertpressError, match="neuron_multiple must be a whole number of at least 1, got 0"):
        PruneStep(macs=0.5, neuron_multiple=0)


@pytest.mark.parametrize("ratio", [0.05, 0.3, 0.5, 0.77])
def test_aligned_widths_are_multiples_within_the_budget_and_keep_the_most_important(ratio):
    heads, neurons = fading_importance(torch.Generator().manual_seed(3))
    gradients = MaskGradients([h.sqrt()[None] for h in heads], [n.sqrt()[None] for n in neurons])
    costs = MacsCost(head=100.0, neuron=7.0)
    budget = ResolvedBudget(make_budget(macs=ratio), costs, ratio * costs.cost([4] * 3, [64] * 3))
    plain = select_units(gradients, budget, allow_layer_drop=False, layer_floor=0.0).masks
    aligned = select_units(gradients, budget, allow_layer_drop=False, layer_floor=0.0, neuron_multiple=8).masks
    assert all(torch.equal(a, p) for a, p in zip(aligned.heads, plain.heads))
    assert costs.cost(aligned.kept_heads(), aligned.kept_neurons()) <= budget.limit
    assert all(width % 8 == 0 for width in aligned.kept_neurons())
    for width, plain_width, importance, mask in zip(aligned.kept_neurons(), plain.kept_neurons(), neurons, aligned.neurons):
        assert width <= max(plain_width, 8)  # rounded down, or up to the smallest kept width
        if 0 < width < len(mask):
            assert importance[mask == 1].min() >= importance[mask == 0].max()


def test_aligning_a_layer_up_gives_back_the_least_important_block_elsewhere():
    # Layer 0 keeps 3 neurons: aligned up to 8, which overruns a tight budget by 5 neurons; the
    # layer whose last 8 kept neurons matter least (layer 2, a hundred times weaker) gives them back.
    neurons = [torch.linspace(2, 1, 64), torch.linspace(2, 1, 64), torch.linspace(0.02, 0.01, 64)]
    masks = Masks([torch.ones(4)] * 3, [torch.arange(64).lt(n).float() for n in (3, 32, 32)])
    costs = MacsCost(head=100.0, neuron=7.0)
    limit = costs.cost([4] * 3, [3, 32, 32])
    aligned = align_neurons(Selection(masks, [], 0.0), neurons, 8, costs, limit)
    assert aligned.masks.kept_neurons() == [8, 32, 24]
    assert aligned.masks.neurons[2][:24].sum() == 24  # the layer's most important 24 stay


def loss_increase(mask: torch.Tensor, grads: torch.Tensor) -> float:
    """What rearrangement lowers: ½·Σ_batches (Σ_{pruned i} g_i)² for one layer."""
    return 0.5 * float(grads[:, mask == 0].double().sum(1).pow(2).sum())

def test_rearrangement_keeps_counts_and_never_raises_the_loss_estimate():
    generator = torch.Generator().manual_seed(0)
    grads = [torch.randn(16, 20, generator=generator) for _ in range(3)]
    importance = [g.pow(2).sum(0) for g in grads]
    masks = Masks(heads=[(i > i.median()).float() for i in importance], neurons=[(i > 0).float() for i in importance])
    rearranged = rearrange(masks, grads, grads)
    assert rearranged.kept_heads() == masks.kept_heads()
    for before, after, g in zip(masks.heads, rearranged.heads, grads):
        assert loss_increase(after, g) <= loss_increase(before, g) + 1e-9
    assert any(loss_increase(a, g) < loss_increase(b, g) - 1e-6 for b, a, g in zip(masks.heads, rearranged.heads, grads))


def test_mask_gradients_are_repeatable_and_leave_weights_trainable():
    model = tiny_model("bert")
    adapter = get_adapter(model)
    first = collect_mask_gradients(adapter, random_batches(), SequenceClassification(2), progress=False)
    second = collect_mask_gradients(adapter, random_batches(), SequenceClassification(2), progress=False)
    assert all(torch.equal(a, b) for a, b in zip(first.heads + first.neurons, second.heads + second.neurons))
    assert first.heads[0].shape == (4, 4) and first.neurons[0].shape == (4, 64)
    assert all(p.requires_grad for p in model.parameters())


@pytest.mark.parametrize("family", sorted(FAMILIES))  # ModernBERT too: its Fisher pass runs (only tuning refuses it)
def test_recomputing_activations_leaves_the_mask_gradients_unchanged(family, monkeypatch):
    """Fisher recomputes each layer in backward (to bound memory); the statistics must not move."""
    adapter = get_adapter(tiny_model(family))
    recomputed = collect_mask_gradients(adapter, random_batches(), SequenceClassification(2), progress=False)
    monkeypatch.setattr(fisher, "recomputed_layers", lambda adapter: contextlib.nullcontext())
    kept = collect_mask_gradients(adapter, random_batches(), SequenceClassification(2), progress=False)
    for a, b in zip(recomputed.heads + recomputed.neurons, kept.heads + kept.neurons):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-7)
    assert "forward" not in vars(adapter.layer(0))  # the layers are as they were


def pruned_masks(adapter, seed=0) -> Masks:
    """Binary masks keeping a random half of the units; layer 1 loses its attention block and
    layer 0 its FFN block."""
    generator = torch.Generator().manual_seed(seed)
    masks = Masks(
        heads=[(torch.rand(n, generator=generator) < 0.5).float() for n in adapter.heads_per_layer()],
        neurons=[(torch.rand(n, generator=generator) < 0.5).float() for n in adapter.neurons_per_layer()],
    )
    masks.heads[1].zero_()
    masks.neurons[0].zero_()
    return masks


@pytest.mark.parametrize("mode", ["scales", "weights"])
def test_reconstruction_fits_the_blocks_and_shrinks_exactly(family, mode):
    model = tiny_model(family)
    adapter = get_adapter(model)
    batches = random_batches()
    masks = pruned_masks(adapter)
    teacher = _first_block_outputs(adapter, batches)  # before a weight refit changes the model
    untuned_error = _first_block_error(adapter, masks, batches, teacher)
    tuned = reconstruct(adapter, masks, batches, mode=mode, progress=False)
    # Layer 0 sees the teacher's own inputs, so its least-squares fit can only lower the error.
    assert _first_block_error(adapter, tuned, batches, teacher) < untuned_error
    with apply_masks(adapter, tuned):
        masked = _logits(model, batches)
    shrink(adapter, tuned.heads, tuned.neurons)
    assert (_logits(model, batches) - masked).abs().max() < 1e-5


def _first_block_outputs(adapter, batches) -> list[torch.Tensor]:
    """Per batch, layer 0's attention output before its LayerNorm."""
    outputs = []
    handle = adapter.attention_norm(0).register_forward_pre_hook(lambda _m, args: outputs.append(args[0]))
    with hooks([handle]):
        _logits(adapter.model, batches)
    return outputs


def _first_block_error(adapter, masks, batches, teacher) -> float:
    """Squared error of layer 0's attention output (before its LayerNorm) against the teacher's."""
    with apply_masks(adapter, masks):
        student = _first_block_outputs(adapter, batches)
    pairs = zip(student, teacher, batches)
    return sum(float((s - t)[b["attention_mask"].bool()].pow(2).sum()) for s, t, b in pairs)


def _logits(model, batches):
    with torch.no_grad():
        return torch.cat([model(**{k: v for k, v in b.items() if k != "labels"}).logits for b in batches])


def test_a_layer_with_wild_scales_keeps_scale_one_and_tuning_goes_on(monkeypatch, caplog):
    import bertpress.prune.reconstruct as reconstruct_module

    model = tiny_model("bert")
    adapter = get_adapter(model)
    batches = random_batches()
    masks = pruned_masks(adapter)
    monkeypatch.setattr(reconstruct_module, "_WILD_SCALE", 0.0)  # every solution now counts as wild
    tuned = reconstruct(adapter, masks, batches, mode="scales", progress=False)
    assert all(torch.equal(a, b) for a, b in zip(tuned.heads + tuned.neurons, masks.heads + masks.neurons))
    warnings = [r for r in caplog.records if "keeps scale 1" in r.getMessage()]
    assert len(warnings) == 2 * adapter.num_layers - sum(m.sum() == 0 for m in masks.heads + masks.neurons)
