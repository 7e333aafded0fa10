"""Mask tuning: layer-wise least squares against the unpruned model (Kwon et al. 2022, section 4.3).

Layer by layer from the bottom, with the already-tuned lower layers in place, the pruned layer's
attention block and then its FFN block are fitted so that their output before the LayerNorm
matches the unpruned model's. Two ways to fit:

- ``scales`` (the paper): one scale per kept head or neuron.
- ``weights`` (ours): refit the output projection's columns of the kept units and its bias.

Both are ridge regressions pulled towards the unpruned solution (scale 1, the original weights).
Padding positions are left out; for sequence-level tasks the last layer fits only [CLS], the only
position the classifier reads. The unpruned model's activations are recorded during the Fisher
pass (its masks are all ones), so tuning costs about two extra forward passes.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Literal

import torch
from tqdm.auto import tqdm

from ..models.adapters import Adapter
from ..models.hooks import hooks
from .masks import Masks, apply_masks

log = logging.getLogger(__name__)

Mode = Literal["scales", "weights"]
# Solutions with a scale beyond this are not trusted: the layer keeps scale 1.
_WILD_SCALE = 10.0


@dataclass
class TeacherRecord:
    """What the unpruned model computed on each calibration batch."""

    layer_inputs: list[tuple[torch.Tensor, tuple, dict]] = field(default_factory=list)
    attention_targets: list[list[torch.Tensor]] = field(default_factory=list)  # [layer][batch]
    ffn_targets: list[list[torch.Tensor]] = field(default_factory=list)


@contextmanager
def record_teacher(adapter: Adapter) -> Iterator[TeacherRecord]:
    """Record the first layer's inputs and every block's pre-LayerNorm output during forwards."""
    record = TeacherRecord(
        attention_targets=[[] for _ in range(adapter.num_layers)],
        ffn_targets=[[] for _ in range(adapter.num_layers)],
    )

    def keep_layer_input(_module, args, kwargs):
        record.layer_inputs.append((args[0].detach(), args[1:], kwargs))

    def keep_into(store: list):
        return lambda _module, args: store.append(args[0].detach())

    handles = [adapter.layer(0).register_forward_pre_hook(keep_layer_input, with_kwargs=True)]
    for index in range(adapter.num_layers):
        handles.append(adapter.attention_norm(index).register_forward_pre_hook(keep_into(record.attention_targets[index])))
        handles.append(adapter.ffn_norm(index).register_forward_pre_hook(keep_into(record.ffn_targets[index])))
    with hooks(handles):
        yield record


@torch.no_grad()
def reconstruct(
    adapter: Adapter,
    masks: Masks,
    batches: list[dict],
    teacher: TeacherRecord,
    mode: Mode = "weights",
    damping: float = 1e-2,
    progress: bool = True,
) -> Masks:
    """Tune ``masks`` (scales) or the output projections in place (weights); returns the masks."""
    masks = masks.clone()
    hidden = [inputs for inputs, _, _ in teacher.layer_inputs]
    last = adapter.num_layers - 1
    token_rows = [_rows(batch, only_first=False) for batch in batches]
    first_rows = [_rows(batch, only_first=True) for batch in batches]
    for index in tqdm(range(adapter.num_layers), desc="tune", disable=not progress):
        rows = first_rows if index == last else token_rows
        attention = _Block(
            masks.heads[index],
            adapter.head_size,
            adapter.attention_output(index),
            adapter.attention_norm(index),
            teacher.attention_targets[index],
        )
        _fit_block(attention, _run_layer(adapter, masks, index, hidden, teacher, attention), rows, mode, damping)
        ffn = _Block(
            masks.neurons[index],
            1,
            adapter.ffn_output(index),
            adapter.ffn_norm(index),
            teacher.ffn_targets[index],
        )
        captured = _run_layer(adapter, masks, index, hidden, teacher, ffn)
        _fit_block(ffn, captured, rows, mode, damping)
        hidden = _layer_outputs(adapter, masks, ffn, captured)
    return masks


@dataclass
class _Block:
    """One attention or FFN block: its mask, unit width, output projection, LayerNorm, targets."""

    mask: torch.Tensor
    unit_width: int  # input columns of ``output`` per unit: head size for heads, 1 for neurons
    output: torch.nn.Linear
    norm: torch.nn.LayerNorm
    targets: list[torch.Tensor]

    def kept_columns(self) -> torch.Tensor:
        kept = self.mask.nonzero().flatten()
        return (kept[:, None] * self.unit_width + torch.arange(self.unit_width)).flatten()


@dataclass
class _Captured:
    """Per batch: raw input and output of the block's projection, and its LayerNorm's input."""

    projection_in: list[torch.Tensor] = field(default_factory=list)
    projection_out: list[torch.Tensor] = field(default_factory=list)
    norm_in: list[torch.Tensor] = field(default_factory=list)


def _rows(batch: dict, only_first: bool) -> torch.Tensor:
    """Boolean [batch, seq] of the positions to reconstruct."""
    valid = batch["attention_mask"].bool()
    if only_first:
        first = torch.zeros_like(valid)
        first[:, 0] = True
        return first
    return valid


def _run_layer(adapter: Adapter, masks: Masks, index: int, hidden: list, teacher: TeacherRecord, block: _Block):
    """Run layer ``index`` on every batch under ``masks``, capturing ``block``'s activations."""
    captured = _Captured()
    handles = [
        # prepend: the raw input, before the mask hook scales it
        block.output.register_forward_pre_hook(lambda _m, args: captured.projection_in.append(args[0]), prepend=True),
        block.output.register_forward_hook(lambda _m, _args, out: captured.projection_out.append(out)),
        block.norm.register_forward_pre_hook(lambda _m, args: captured.norm_in.append(args[0])),
    ]
    layer = adapter.layer(index)
    with hooks(handles), apply_masks(adapter, masks):
        for states, (_, args, kwargs) in zip(hidden, teacher.layer_inputs):
            layer(states, *args, **kwargs)
    return captured


def _layer_outputs(adapter: Adapter, masks: Masks, ffn: _Block, captured: _Captured) -> list[torch.Tensor]:
    """The layer's outputs after tuning its FFN, from the captured activations (no second pass)."""
    outputs = []
    with apply_masks(adapter, masks):
        for raw, projected, norm_in in zip(captured.projection_in, captured.projection_out, captured.norm_in):
            residual = norm_in - projected
            outputs.append(ffn.norm(residual + ffn.output(raw)))
    return outputs


def _fit_block(block: _Block, captured: _Captured, rows: list[torch.Tensor], mode: Mode, damping: float) -> None:
    columns = block.kept_columns()
    if len(columns) == 0:
        return
    gram, cross = _normal_equations(block, captured, rows, columns)
    if mode == "scales":
        _solve_scales(block, gram, cross, columns, damping)
    else:
        _solve_weights(block, gram, cross, columns, damping)


def _normal_equations(block: _Block, captured: _Captured, rows, columns):
    """Σ XᵀX and Σ XᵀY over the selected positions, X = [kept raw inputs, 1], Y = target - residual."""
    size = len(columns) + 1
    gram = torch.zeros(size, size, dtype=torch.float64)
    cross = torch.zeros(size, block.output.out_features, dtype=torch.float64)
    for raw, projected, norm_in, target, selected in zip(
        captured.projection_in, captured.projection_out, captured.norm_in, block.targets, rows
    ):
        x = raw[selected][:, columns]
        x = torch.cat([x, torch.ones(len(x), 1, dtype=x.dtype)], dim=1)
        y = target[selected] - (norm_in[selected] - projected[selected])
        gram += (x.T @ x).double()
        cross += (x.T @ y).double()
    return gram, cross


def _ridge(gram: torch.Tensor, rhs: torch.Tensor, prior: torch.Tensor, damping: float) -> torch.Tensor | None:
    """argmin ‖Xθ - Y‖² + λ‖θ - prior‖², λ = damping · mean diagonal of XᵀX; None if unsolvable."""
    strength = damping * float(gram.diagonal().mean())
    try:
        solution = torch.linalg.solve(gram + strength * torch.eye(len(gram), dtype=gram.dtype), rhs + strength * prior)
    except torch.linalg.LinAlgError:
        return None
    return solution if torch.isfinite(solution).all() else None


def _solve_scales(block: _Block, gram, cross, columns, damping: float) -> None:
    """One scale per kept unit: output = W·(scale ⊙ x) + b."""
    weight = block.output.weight[:, columns].double()  # [d, p]
    bias = block.output.bias.double()
    inputs_gram, input_sums = gram[:-1, :-1], gram[:-1, -1]
    cross_centred = cross[:-1] - input_sums[:, None] * bias[None, :]  # Σ x (y - b)ᵀ
    units, width = len(columns) // block.unit_width, block.unit_width
    unit_gram = (inputs_gram * (weight.T @ weight)).view(units, width, units, width).sum((1, 3))
    unit_cross = (cross_centred * weight.T).sum(1).view(units, width).sum(1)
    scales = _ridge(unit_gram, unit_cross, torch.ones(units, dtype=torch.float64), damping)
    if scales is None or scales.abs().max() > _WILD_SCALE:
        log.warning("mask tuning: a layer's solve failed or gave wild scales; it keeps scale 1")
        return
    kept = block.mask.nonzero().flatten()
    block.mask[kept] = scales.float()


def _solve_weights(block: _Block, gram, cross, columns, damping: float) -> None:
    """Refit the kept columns of the output projection, and its bias."""
    weight = block.output.weight
    prior = torch.cat([weight[:, columns].T, block.output.bias[None, :]]).double()
    solution = _ridge(gram, cross, prior, damping)
    if solution is None:
        log.warning("weight refit: a layer's solve failed; it keeps its weights")
        return
    weight[:, columns] = solution[:-1].T.to(weight.dtype)
    block.output.bias.copy_(solution[-1].to(weight.dtype))
