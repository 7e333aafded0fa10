"""Streaming reconstruction: the same fit as holding every activation in memory, spilled or not."""

import copy
import tempfile
from dataclasses import dataclass, field

import pytest
import torch
from conftest import onednn_at_each_call, tiny_model
from test_prune_steps import pruned_masks, random_batches

import bertpress.prune.pipeline as pipeline_module
import bertpress.prune.reconstruct as reconstruct_module
from bertpress.errors import BertpressError
from bertpress.memory import release_free_memory
from bertpress.models.adapters import get_adapter
from bertpress.models.hooks import hooks
from bertpress.models.task_heads import SequenceClassification
from bertpress.prune.fisher import collect_mask_gradients
from bertpress.prune.masks import apply_masks
from bertpress.prune.reconstruct import _Block, _solve_scales, _solve_weights, reconstruct
from bertpress.prune.spill import MEMORY_ENV, SpillStore, memory_budget_mb


@pytest.mark.parametrize("mode", ["scales", "weights"])
def test_streaming_gives_what_the_in_memory_algorithm_gave(family, mode):
    model = tiny_model(family)
    adapter = get_adapter(model)
    batches = random_batches()
    masks = pruned_masks(adapter)
    reference = get_adapter(copy.deepcopy(model))
    expected = _in_memory_reconstruct(reference, masks, batches, _record_teacher(reference, batches), mode)
    tuned = reconstruct(adapter, masks, batches, mode=mode, progress=False)
    # Layer 0 sees the same inputs in both: bit for bit the same fit. Above it, the old algorithm
    # rebuilt a layer's output as norm input - projection + refitted projection, streaming runs
    # the layer: float32 rounding apart.
    first_layer = [tuned.heads[0], tuned.neurons[0], adapter.attention_output(0).weight, adapter.ffn_output(0).weight]
    first_expected = [expected.heads[0], expected.neurons[0], reference.attention_output(0).weight,
                      reference.ffn_output(0).weight]
    assert all(torch.equal(got, want) for got, want in zip(first_layer, first_expected))
    for got, want in zip(tuned.heads + tuned.neurons, expected.heads + expected.neurons):
        assert torch.allclose(got, want, rtol=1e-4, atol=1e-5)
    for (name, got), want in zip(model.state_dict().items(), reference.model.state_dict().values()):
        assert torch.allclose(got, want, rtol=1e-4, atol=1e-5), name


@pytest.mark.parametrize("mode", ["scales", "weights"])
def test_spilling_everything_changes_nothing_and_leaves_no_files(mode, tmp_path, monkeypatch):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    stores = []
    monkeypatch.setattr(reconstruct_module, "SpillStore", _recorded(stores))
    results = []
    for memory_mb in (None, 0):
        model = tiny_model("bert")
        adapter = get_adapter(model)
        batches = random_batches()
        masks = reconstruct(adapter, pruned_masks(adapter), batches, mode=mode, memory_mb=memory_mb, progress=False)
        results.append((masks, model.state_dict()))
    (in_memory, in_memory_state), (spilled, spilled_state) = results
    assert stores[0].peak_disk_bytes == 0
    # one teacher and one student hidden state per batch at most, all on disk
    hidden_bytes = model.config.hidden_size * 4
    assert stores[1].peak_disk_bytes == 2 * sum(b["input_ids"].numel() for b in batches) * hidden_bytes
    assert all(torch.equal(a, b) for a, b in zip(in_memory.heads + in_memory.neurons, spilled.heads + spilled.neurons))
    assert all(torch.equal(in_memory_state[name], spilled_state[name]) for name in in_memory_state)
    assert list(tmp_path.iterdir()) == []


def test_an_interrupted_reconstruction_leaves_no_files(tmp_path, monkeypatch):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))

    def interrupt(*_args):
        assert list(tmp_path.iterdir())  # the hidden states are on disk by now
        raise KeyboardInterrupt

    monkeypatch.setattr(reconstruct_module, "_solve", interrupt)
    adapter = get_adapter(tiny_model("bert"))
    with pytest.raises(KeyboardInterrupt):
        reconstruct(adapter, pruned_masks(adapter), random_batches(), memory_mb=0, progress=False)
    assert list(tmp_path.iterdir()) == []


def test_the_last_layer_fits_every_token_when_asked():
    errors = {}
    for first_token_only in (True, False):
        model = tiny_model("bert")
        adapter = get_adapter(model)
        batches = random_batches()
        teacher = _last_ffn_outputs(adapter, batches)
        tuned = reconstruct(adapter, pruned_masks(adapter), batches, last_layer_first_token_only=first_token_only,
                            progress=False)
        with apply_masks(adapter, tuned):
            student = _last_ffn_outputs(adapter, batches)
        errors[first_token_only] = sum(
            float((s - t)[b["attention_mask"].bool()].pow(2).sum()) for s, t, b in zip(student, teacher, batches)
        )
    assert errors[False] < errors[True]


def _last_ffn_outputs(adapter, batches) -> list[torch.Tensor]:
    outputs = []
    handle = adapter.ffn_norm(adapter.num_layers - 1).register_forward_pre_hook(lambda _m, a: outputs.append(a[0]))
    with hooks([handle]), torch.no_grad():
        for batch in batches:
            adapter.model(**{k: v for k, v in batch.items() if k != "labels"})
    return outputs


def test_the_store_keeps_what_fits_in_memory_and_spills_the_rest(tmp_path, monkeypatch):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    tensors = [torch.randn(64, 1024) for _ in range(3)]  # 256 KiB each
    with SpillStore(memory_mb=0.6) as store:
        for number, tensor in enumerate(tensors):
            store.put(number, tensor)
        assert (store.memory_bytes, store.disk_bytes) == (2 * 2**18, 2**18)
        assert len(list(store.folder.iterdir())) == 1
        assert all(torch.equal(store.get(n), t) for n, t in enumerate(tensors))
        assert torch.equal(store.pop(0), tensors[0])  # frees room in memory ...
        store.put(2, tensors[0][:8])  # ... and replacing a spilled entry deletes its file
        assert (len(store), store.memory_bytes, store.disk_bytes) == (2, 2**18 + 2**15, 0)
        assert list(store.folder.iterdir()) == []
        assert torch.equal(store.get(2), tensors[0][:8])
    assert list(tmp_path.iterdir()) == []


def test_the_store_is_deleted_on_an_interrupt(tmp_path, monkeypatch):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    with pytest.raises(KeyboardInterrupt), SpillStore(memory_mb=0) as store:
        store.put("a", torch.ones(3))
        assert store.folder.is_dir()
        raise KeyboardInterrupt
    assert list(tmp_path.iterdir()) == []


def test_the_memory_budget_comes_from_the_argument_the_environment_or_the_default(monkeypatch):
    monkeypatch.delenv(MEMORY_ENV, raising=False)
    assert memory_budget_mb() == 512
    monkeypatch.setenv(MEMORY_ENV, "64")
    assert memory_budget_mb() == 64
    assert memory_budget_mb(0) == 0
    monkeypatch.setenv(MEMORY_ENV, "lots")
    with pytest.raises(BertpressError, match=MEMORY_ENV):
        memory_budget_mb()
    with pytest.raises(BertpressError):
        memory_budget_mb(-1)


def _recorded(stores: list):
    class RecordedStore(SpillStore):
        def __init__(self, memory_mb):
            super().__init__(memory_mb)
            stores.append(self)

    return RecordedStore

# The algorithm as it was before streaming (every activation of every batch in memory), kept to
# check that streaming changed nothing but the memory it needs.
@dataclass
class _TeacherRecord:
    layer_inputs: list = field(default_factory=list)
    attention_targets: list = field(default_factory=list)  # [layer][batch]
    ffn_targets: list = field(default_factory=list)


def _record_teacher(adapter, batches) -> _TeacherRecord:
    record = _TeacherRecord([], [[] for _ in range(adapter.num_layers)], [[] for _ in range(adapter.num_layers)])
    handles = [adapter.layer(0).register_forward_pre_hook(
        lambda _m, args, kwargs: record.layer_inputs.append((args[0], args[1:], kwargs)), with_kwargs=True)]
    for index in range(adapter.num_layers):
        for norm, store in ((adapter.attention_norm(index), record.attention_targets[index]),
                            (adapter.ffn_norm(index), record.ffn_targets[index])):
            handles.append(norm.register_forward_pre_hook(lambda _m, args, store=store: store.append(args[0])))
    with hooks(handles), torch.no_grad():
        for batch in batches:
            adapter.model(**{k: v for k, v in batch.items() if k != "labels"})
    return record


@torch.no_grad()
def _in_memory_reconstruct(adapter, masks, batches, teacher, mode, damping=1e-2):
    masks = masks.clone()
    hidden = [inputs for inputs, _, _ in teacher.layer_inputs]
    last = adapter.num_layers - 1
    for index in range(adapter.num_layers):
        rows = [_old_rows(batch, index == last) for batch in batches]
        attention = _Block(
            masks.heads[index], adapter.head_size, adapter.attention_output(index), adapter.attention_norm(index)
        )
        captured = _old_run_layer(adapter, masks, index, hidden, teacher, attention)
        _old_fit(attention, captured, teacher.attention_targets[index], rows, mode, damping)
        ffn = _Block(masks.neurons[index], 1, adapter.ffn_output(index), adapter.ffn_norm(index))
        captured = _old_run_layer(adapter, masks, index, hidden, teacher, ffn)
        _old_fit(ffn, captured, teacher.ffn_targets[index], rows, mode, damping)
        with apply_masks(adapter, masks):
            hidden = [ffn.norm(norm_in - projected + ffn.output(raw)) for raw, projected, norm_in in captured]
    return masks


def _old_rows(batch, only_first):
    valid = batch["attention_mask"].bool()
    if only_first:
        first = torch.zeros_like(valid)
        first[:, 0] = True
        return first
    return valid


def _old_run_layer(adapter, masks, index, hidden, teacher, block):
    raws, projected, norm_ins = [], [], []
    handles = [
        block.output.register_forward_pre_hook(lambda _m, args: raws.append(args[0]), prepend=True),
        block.output.register_forward_hook(lambda _m, _args, out: projected.append(out)),
        block.norm.register_forward_pre_hook(lambda _m, args: norm_ins.append(args[0])),
    ]
    with hooks(handles), apply_masks(adapter, masks):
        for states, (_, args, kwargs) in zip(hidden, teacher.layer_inputs):
            adapter.layer(index)(states, *args, **kwargs)
    return list(zip(raws, projected, norm_ins))


def _old_fit(block, captured, targets, rows, mode, damping):
    columns = block.kept_columns()
    if len(columns) == 0:
        return
    gram = torch.zeros(len(columns) + 1, len(columns) + 1, dtype=torch.float64)
    cross = torch.zeros(len(columns) + 1, block.output.out_features, dtype=torch.float64)
    for (raw, projected, norm_in), target, selected in zip(captured, targets, rows):
        x = raw[selected][:, columns]
        x = torch.cat([x, torch.ones(len(x), 1, dtype=x.dtype)], dim=1)
        y = target[selected] - (norm_in[selected] - projected[selected])
        gram += (x.T @ x).double()
        cross += (x.T @ y).double()
    (_solve_scales if mode == "scales" else _solve_weights)(block, gram, cross, columns, damping)


def test_every_timed_phase_hands_what_it_freed_back_to_the_system(monkeypatch):
    released = []
    monkeypatch.setattr(pipeline_module, "release_free_memory", lambda: released.append(True))
    timings = {}
    for phase in ("fisher", "tune", "fisher"):
        with pipeline_module.timed(timings, phase):
            pass
    assert len(released) == 3 and set(timings) == {"fisher", "tune"}
    release_free_memory()  # the real call works here (glibc's malloc_trim, or nothing elsewhere)


def test_the_statistics_and_the_refit_run_without_onednn_and_leave_it_as_it_was():
    model = tiny_model("bert")
    adapter = get_adapter(model)
    seen = onednn_at_each_call(adapter.layer(0))
    collect_mask_gradients(adapter, random_batches(), SequenceClassification(2), progress=False)
    reconstruct(adapter, pruned_masks(adapter), random_batches(), progress=False)
    assert seen and not any(seen)  # its per-shape kernels fragment the heap (bertpress.memory)
    assert torch.backends.mkldnn.enabled
