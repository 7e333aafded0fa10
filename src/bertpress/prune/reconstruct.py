"""Mask tuning: layer-wise least squares against the unpruned model (Kwon et al. 2022, section 4.3).

Layer by layer from the bottom, with the already-tuned lower layers in place, the pruned layer's
attention block and then its FFN block are fitted so that their output before the LayerNorm
matches the unpruned model's. Two ways to fit:

- ``scales`` (the paper): one scale per kept head or neuron.
- ``weights`` (ours): refit the output projection's columns of the kept units and its bias.

Both are ridge regressions pulled towards the unpruned solution (scale 1, the original weights).
Padding positions are left out; for sequence-level tasks the last layer fits only [CLS], the only
position the classifier reads.

Streaming. ``reconstruct`` runs on the unpruned model. Two streams of hidden states, one per
calibration batch, advance one layer at a time: the teacher's (the unpruned model's) and the
student's (the model under the masks, with the lower layers already fitted). Layer ``i`` is
unchanged until its own fit, so it serves as its own teacher: run without masks before the fit.
Per layer, three passes over the batches:

A. the teacher runs the layer: its attention output (before the LayerNorm) is the attention
   target, its FFN output (before the LayerNorm) is stored for pass B; the student runs up to
   the attention LayerNorm and the attention normal equations are summed. Solve.
B. the student, with its attention fitted, runs up to the FFN LayerNorm; the FFN normal
   equations are summed against the stored targets, whose LayerNorm is the teacher's next hidden
   state. Solve.
C. the student, with both blocks fitted, runs the layer: its next hidden state (skipped for the
   last layer).

The teacher runs each layer once and the student about 2⅓ times (up to the attention LayerNorm,
then twice in full), and no layer is copied. Each pass also reruns the embeddings of each batch
to get what the encoder hands every layer: that attention mask is B·S² per batch, and keeping it
would grow with the samples. The normal equations are the only thing summed across batches.

Memory is bounded, whatever the number of samples, by the model, one batch's activations in one
layer, the normal equations ((p+1)² float64 for a block keeping p input columns) and the store's
budget (``memory_mb``, else ``$BERTPRESS_MEMORY_MB``, else 512 MB; ``spill.py`` says what the C
allocator may hold on top of it). Hidden states beyond the budget go to a temporary folder,
deleted at the end: at most one teacher and one student tensor per batch, that is
2 × samples × seq × hidden × 4 bytes (float32).
"""

from __future__ import annotations

import logging
from contextlib import suppress
from dataclasses import dataclass
from typing import Literal

import torch
from torch import nn
from tqdm.auto import tqdm

from ..memory import varying_shapes
from ..models.adapters import Adapter
from ..models.hooks import hooks
from .masks import Masks, apply_masks
from .spill import SpillStore, memory_budget_mb

log = logging.getLogger(__name__)

Mode = Literal["scales", "weights"]
# Solutions with a scale beyond this are not trusted: the layer keeps scale 1.
_WILD_SCALE = 10.0


@torch.no_grad()
@varying_shapes()
def reconstruct(
    adapter: Adapter,
    masks: Masks,
    batches: list[dict],
    *,
    mode: Mode = "weights",
    damping: float = 1e-2,
    last_layer_first_token_only: bool = True,
    memory_mb: float | None = None,
    progress: bool = True,
) -> Masks:
    """Tune ``masks`` (scales) or the output projections in place (weights); returns the masks.

    Call it on the unpruned model; ``masks`` hold 0 for a pruned unit, else its scale.
    """
    adapter.check_tunable()
    masks = masks.clone()
    last = adapter.num_layers - 1
    with SpillStore(memory_budget_mb(memory_mb)) as store:
        for index in tqdm(range(adapter.num_layers), desc="tune", disable=not progress):
            layer = _LayerFit(adapter, masks, index, batches, store, index == last and last_layer_first_token_only)
            layer.fit_attention(mode, damping)
            layer.fit_ffn(mode, damping, advance_teacher=index < last)
            if index < last:
                layer.advance_student()
        if store.peak_disk_bytes:
            log.info("tune: spilled up to %.0f MB of hidden states to disk", store.peak_disk_bytes / 2**20)
    return masks


@dataclass
class _Block:
    """One attention or FFN block: its mask, unit width, output projection and LayerNorm."""

    mask: torch.Tensor
    unit_width: int  # input columns of ``output`` per unit: head size for heads, 1 for neurons
    output: nn.Linear
    norm: nn.LayerNorm

    def kept_columns(self) -> torch.Tensor:
        kept = self.mask.nonzero().flatten()
        return (kept[:, None] * self.unit_width + torch.arange(self.unit_width)).flatten()


@dataclass
class _LayerCall:
    """What the encoder hands every layer for one batch; ``hidden`` is what enters layer 0."""

    hidden: torch.Tensor
    args: tuple
    kwargs: dict


@dataclass
class _BlockRun:
    """One block's activations in one run: its projection's raw input (before the mask scales
    it) and output, and its LayerNorm's input."""

    projection_in: torch.Tensor
    projection_out: torch.Tensor
    norm_in: torch.Tensor


class _StopForward(Exception):
    """Ends a forward pass once the activations it was run for are captured."""


class _LayerFit:
    """Fits layer ``index``'s two blocks, streaming the batches through ``store``.

    Keys: ``("teacher", b)`` and ``("student", b)`` hold the hidden states entering this layer
    (layer 0 takes them from the embeddings instead), ``("target", b)`` the teacher's FFN output
    before the LayerNorm, between passes A and B.
    """

    def __init__(self, adapter: Adapter, masks: Masks, index: int, batches: list[dict], store: SpillStore,
                 first_token_only: bool):
        self.adapter, self.masks, self.index, self.batches, self.store = adapter, masks, index, batches, store
        self.first_token_only = first_token_only
        self.layer = adapter.layer(index)
        self.attention = _Block(
            masks.heads[index], adapter.head_size, adapter.attention_output(index), adapter.attention_norm(index)
        )
        self.ffn = _Block(masks.neurons[index], 1, adapter.ffn_output(index), adapter.ffn_norm(index))

    def fit_attention(self, mode: Mode, damping: float) -> None:
        """Pass A (see the module docstring)."""
        equations = _NormalEquations(self.attention)
        for number, batch in enumerate(self.batches):
            call = _layer_call(self.adapter, batch)
            teacher_in = call.hidden if self.index == 0 else self.store.pop(("teacher", number))
            norms = [self.attention.norm, self.ffn.norm]
            attention_target, ffn_target = _norm_inputs(self.layer, teacher_in, call, norms)
            self.store.put(("target", number), ffn_target)
            if not equations.empty:
                equations.add(self._student_run(self.attention, number, call), attention_target, self._rows(batch))
        _solve(self.attention, equations, mode, damping)

    def fit_ffn(self, mode: Mode, damping: float, advance_teacher: bool) -> None:
        """Pass B (see the module docstring)."""
        equations = _NormalEquations(self.ffn)
        for number, batch in enumerate(self.batches):
            target = self.store.pop(("target", number))
            if not equations.empty:
                call = _layer_call(self.adapter, batch)
                equations.add(self._student_run(self.ffn, number, call), target, self._rows(batch))
            if advance_teacher:
                # The teacher layer's output is the LayerNorm of this very tensor.
                self.store.put(("teacher", number), self.ffn.norm(target))
        _solve(self.ffn, equations, mode, damping)

    def advance_student(self) -> None:
        """Pass C (see the module docstring)."""
        for number, batch in enumerate(self.batches):
            call = _layer_call(self.adapter, batch)
            with apply_masks(self.adapter, self.masks):
                (norm_in,) = _norm_inputs(self.layer, self._student_in(number, call), call, [self.ffn.norm])
            self.store.put(("student", number), self.ffn.norm(norm_in))

    def _student_in(self, number: int, call: _LayerCall) -> torch.Tensor:
        return call.hidden if self.index == 0 else self.store.get(("student", number))

    def _student_run(self, block: _Block, number: int, call: _LayerCall) -> _BlockRun:
        """The layer under the masks, up to ``block``'s LayerNorm."""
        seen = {}
        handles = [
            # prepend: the raw input, before the mask hook scales it
            block.output.register_forward_pre_hook(lambda _m, args: seen.update(raw=args[0]), prepend=True),
            block.output.register_forward_hook(lambda _m, _args, out: seen.update(projected=out)),
        ]
        with hooks(handles), apply_masks(self.adapter, self.masks):
            (norm_in,) = _norm_inputs(self.layer, self._student_in(number, call), call, [block.norm])
        return _BlockRun(seen["raw"], seen["projected"], norm_in)

    def _rows(self, batch: dict) -> torch.Tensor:
        """Boolean [batch, seq] of the positions to reconstruct."""
        valid = batch["attention_mask"].bool()
        if self.first_token_only:
            first = torch.zeros_like(valid)
            first[:, 0] = True
            return first
        return valid


def _layer_call(adapter: Adapter, batch: dict) -> _LayerCall:
    """Run the model up to layer 0 and keep what it hands the layer."""
    captured = {}

    def keep(_module, args, kwargs):
        captured["call"] = _LayerCall(args[0], args[1:], kwargs)
        raise _StopForward

    inputs = {name: value for name, value in batch.items() if name != "labels"}
    with hooks([adapter.layer(0).register_forward_pre_hook(keep, with_kwargs=True)]), suppress(_StopForward):
        adapter.model(**inputs)
    return captured["call"]


def _norm_inputs(layer: nn.Module, hidden: torch.Tensor, call: _LayerCall, norms: list[nn.Module]) -> list:
    """The inputs of ``norms`` (in forward order) when ``layer`` runs on ``hidden``; the forward
    stops at the last of them."""
    inputs = []

    def keep(_module, args):
        inputs.append(args[0])
        if len(inputs) == len(norms):
            raise _StopForward

    with hooks([norm.register_forward_pre_hook(keep) for norm in norms]), suppress(_StopForward):
        layer(hidden, *call.args, **call.kwargs)
    return inputs


class _NormalEquations:
    """Σ XᵀX and Σ XᵀY over the selected positions, X = [kept raw inputs, 1], Y = target - residual,
    summed in float64 batch by batch."""

    def __init__(self, block: _Block):
        self.columns = block.kept_columns()
        size = len(self.columns) + 1
        self.gram = torch.zeros(size, size, dtype=torch.float64)
        self.cross = torch.zeros(size, block.output.out_features, dtype=torch.float64)

    @property
    def empty(self) -> bool:
        """The block keeps no unit: nothing to fit."""
        return len(self.columns) == 0

    def add(self, run: _BlockRun, target: torch.Tensor, selected: torch.Tensor) -> None:
        x = run.projection_in[selected][:, self.columns]
        x = torch.cat([x, torch.ones(len(x), 1, dtype=x.dtype)], dim=1)
        y = target[selected] - (run.norm_in[selected] - run.projection_out[selected])
        self.gram += (x.T @ x).double()
        self.cross += (x.T @ y).double()


def _solve(block: _Block, equations: _NormalEquations, mode: Mode, damping: float) -> None:
    if equations.empty:
        return
    if mode == "scales":
        _solve_scales(block, equations.gram, equations.cross, equations.columns, damping)
    else:
        _solve_weights(block, equations.gram, equations.cross, equations.columns, damping)


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
