import numpy as np
import pytest
import torch

from probing.activations import extract as extract_module
from probing.activations import extract_activations, open_store
from probing.activations.extract import CHUNK_BYTES, auto_chunk_sequences, reduce_batch
from probing.activations.store import StoreCorruptError
from tests.conftest import make_dataset


@pytest.mark.parametrize("aggregation", ["mean", "max", "token"])
def test_extracted_values_match_a_direct_forward_pass(
    tiny_model, tiny_bridge, tmp_path, aggregation
):
    """The store (HF torch hooks) against TransformerLens's own cache of the same model."""
    ds = make_dataset(aggregation)
    store = open_store(tmp_path, tiny_model, ds, "float32")
    assert extract_activations(tiny_model, ds, store, [0, 1], batch_size=7, progress=False) == [
        0,
        1,
    ]
    X = store.read(1)
    seq = 5
    n = ds.lengths[seq]
    _, cache = tiny_bridge.bridge.run_with_cache(
        torch.from_numpy(ds.tokens[seq : seq + 1, :n]).long()
    )
    acts = cache["blocks.1.mlp.hook_post"][0].numpy()  # [pos, d_mlp]
    start, stop = ds.examples_of(seq, seq + 1)
    if aggregation == "token":
        expected = acts[ds.example_pos[start:stop]]
    else:
        expected = (
            acts.mean(0, keepdims=True) if aggregation == "mean" else acts.max(0, keepdims=True)
        )
    np.testing.assert_allclose(X[start:stop], expected, atol=1e-5)


def test_reduce_batch_ignores_padding():
    acts = torch.tensor([[[1.0], [3.0], [100.0]]])  # the third position is padding
    lengths = torch.tensor([2])
    assert reduce_batch(acts, lengths, "mean").item() == 2.0
    assert reduce_batch(acts, lengths, "max").item() == 3.0


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_reduce_batch_equals_the_masked_float32_reduction(dtype):
    """Short rows reduced apart, sums accumulated in float32: the same as masking a float32
    copy of the whole batch, in either model dtype, with or without the host's short_rows."""
    g = torch.Generator().manual_seed(0)
    acts = (torch.randn(5, 9, 7, generator=g) * 3).to(dtype)
    lengths = torch.tensor([9, 4, 9, 1, 6])
    real = (torch.arange(9)[None, :] < lengths[:, None])[..., None]
    mean = (acts.float() * real).sum(1) / lengths[:, None]
    peak = acts.float().masked_fill(~real, float("-inf")).amax(1)
    short = [(1, 4), (3, 1), (4, 6)]
    for rows in (None, short):
        got = reduce_batch(acts, lengths, "mean", short_rows=rows)
        assert got.dtype == torch.float32
        torch.testing.assert_close(got, mean, rtol=1e-6, atol=1e-6)
        assert torch.equal(reduce_batch(acts, lengths, "max", short_rows=rows), peak)


def test_resume_after_interruption_equals_uninterrupted_run(tiny_model, tmp_path, monkeypatch):
    ds = make_dataset("token", n_seq=50)
    whole = open_store(tmp_path / "whole", tiny_model, ds, "float16")
    extract_activations(
        tiny_model, ds, whole, [0, 1], batch_size=4, chunk_sequences=8, progress=False
    )

    store = open_store(tmp_path / "killed", tiny_model, ds, "float16")
    calls = {"n": 0}
    real_write = type(store).write_layers

    def dying_write(self, values, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 3:  # dies inside the third chunk, after layer 0 was recorded
            real_write(self, {0: values[0]}, *args, **kwargs)
            raise KeyboardInterrupt
        return real_write(self, values, *args, **kwargs)

    monkeypatch.setattr(type(store), "write_layers", dying_write)
    with pytest.raises(KeyboardInterrupt):
        extract_activations(
            tiny_model, ds, store, [0, 1], batch_size=4, chunk_sequences=8, progress=False
        )
    monkeypatch.setattr(type(store), "write_layers", real_write)
    assert not store.is_complete(0) and store.progress(0) == 24 and store.progress(1) == 16

    reopened = open_store(tmp_path / "killed", tiny_model, ds, "float16")
    resumed_from = []
    monkeypatch.setattr(
        type(reopened),
        "write_layers",
        lambda self, values, start, n_seq_done, **kw: (
            resumed_from.append(n_seq_done),
            real_write(self, values, start, n_seq_done, **kw),
        ),
    )
    extract_activations(
        tiny_model, ds, reopened, [0, 1], batch_size=4, chunk_sequences=8, progress=False
    )
    assert min(resumed_from) == 24  # restarted at the last chunk both layers finished
    for layer in (0, 1):
        np.testing.assert_array_equal(reopened.read(layer), whole.read(layer))


def test_complete_store_is_reused_and_new_layers_only_are_computed(tiny_model, tmp_path):
    ds = make_dataset("mean")
    store = open_store(tmp_path, tiny_model, ds)
    assert extract_activations(tiny_model, ds, store, [1], progress=False) == [1]
    assert extract_activations(tiny_model, ds, store, [1], progress=False) == []
    assert extract_activations(tiny_model, ds, store, [0, 1], progress=False) == [0]


def test_layer_out_of_range_is_a_clear_error(tiny_model, tmp_path):
    ds = make_dataset("mean")
    store = open_store(tmp_path, tiny_model, ds)
    with pytest.raises(ValueError, match="has 2 layers"):
        extract_activations(tiny_model, ds, store, [5], progress=False)


def test_a_row_no_hook_wrote_is_refused_not_stored(tiny_model, tmp_path, monkeypatch):
    """Hooks fill arrays allocated per chunk; a batch whose hook never fired must not leave
    uninitialised values in the store."""
    ds = make_dataset("mean", n_seq=20)
    store = open_store(tmp_path, tiny_model, ds, "float32")
    real = extract_module.run_with_site_hooks
    batches = {"n": 0}

    def skips_layer_1_once(sites, tokens, hook, layers, read):
        batches["n"] += 1
        if batches["n"] == 2:
            return real(sites, tokens, hook, layers, lambda la, acts: la != 1 and read(la, acts))
        return real(sites, tokens, hook, layers, read)

    monkeypatch.setattr(extract_module, "run_with_site_hooks", skips_layer_1_once)
    with pytest.raises(FloatingPointError, match="layer 1"):
        extract_activations(tiny_model, ds, store, [0, 1], batch_size=4, progress=False)
    assert not store.is_complete(1)


def test_a_damaged_chunk_is_re_extracted_with_one_line_naming_it(tiny_model, tmp_path, caplog):
    ds = make_dataset("mean", n_seq=40)
    store = open_store(tmp_path, tiny_model, ds, "float16")
    store.chunk_examples = 8
    extract_activations(tiny_model, ds, store, [0, 1], chunk_sequences=16, progress=False)
    before = store.read(1)
    bad = store.path / "layer_1" / "c" / "3" / "0"  # rows 24-31: inside the second block
    bad.unlink()
    with pytest.raises(StoreCorruptError, match="rerun"):
        store.read(1)
    assert extract_activations(tiny_model, ds, store, [0, 1], progress=False) == [1]
    assert str(bad) in caplog.text and "from sequence 16" in caplog.text
    np.testing.assert_array_equal(store.read(1), before)


def test_model_config_and_dtype_get_their_own_store(tiny_model, tmp_path):
    """An existing tiny-pythia store was reused for a model with 8 heads, or in another dtype."""
    from probing.models import load_model

    ds = make_dataset("mean")
    other_heads = load_model(
        "tiny-pythia",
        "random_gpt_neox",
        config={"num_attention_heads": 8},
        device="cpu",
        dtype="float32",
    )
    other_dtype = load_model("tiny-pythia", "random_gpt_neox", device="cpu", dtype="bfloat16")
    paths = {open_store(tmp_path, m, ds).path for m in (tiny_model, other_heads, other_dtype)}
    assert len(paths) == 3
    assert open_store(tmp_path, tiny_model, ds).path in paths  # the same identity reopens


def test_float16_overflow_is_refused_not_clipped(tiny_model, tmp_path, monkeypatch):
    ds = make_dataset("mean", n_seq=8)
    store = open_store(tmp_path, tiny_model, ds, "float16")
    monkeypatch.setattr(
        "probing.activations.extract.reduce_batch",
        lambda *a, **k: torch.full((len(a[1]), tiny_model.d_mlp), 1e6),
    )
    with pytest.raises(OverflowError, match="store.dtype=float32"):
        extract_activations(tiny_model, ds, store, [0], progress=False)
    assert not store.is_complete(0)


def test_chunks_are_written_beside_the_forward_pass_in_order(tiny_model, tmp_path, monkeypatch):
    """The store is written on the writer thread while the main thread runs the next chunk,
    one chunk in flight: every layer's blocks arrive in sequence order."""
    import threading

    ds = make_dataset("mean", n_seq=40)
    store = open_store(tmp_path, tiny_model, ds, "float32")
    seen, real_write = [], store.write_layers

    def spy(values, start, n_seq_done, seq_start=None):
        seen.extend((threading.get_ident(), layer, seq_start) for layer in values)
        return real_write(values, start, n_seq_done, seq_start)

    monkeypatch.setattr(store, "write_layers", spy)
    extract_activations(tiny_model, ds, store, [0, 1], chunk_sequences=8, progress=False)
    assert {tid for tid, _, _ in seen} != {threading.get_ident()}
    for layer in (0, 1):
        assert [s for _, la, s in seen if la == layer] == [0, 8, 16, 24, 32]
    assert store.is_complete(0) and store.is_complete(1)


def test_a_refused_chunk_stops_extraction_within_one_chunk(tiny_model, tmp_path, monkeypatch):
    """A write error on the writer thread ends the run at the next chunk, not at the end."""
    ds = make_dataset("mean", n_seq=64)
    store = open_store(tmp_path, tiny_model, ds, "float32")
    chunks = {"n": 0}
    real = extract_module.run_with_site_hooks

    def counting(*args, **kwargs):
        chunks["n"] += 1
        return real(*args, **kwargs)

    def refuse(values, start, n_seq_done, seq_start=None):
        raise OSError("disk full")

    monkeypatch.setattr(extract_module, "run_with_site_hooks", counting)
    monkeypatch.setattr(store, "write_layers", refuse)
    with pytest.raises(OSError, match="disk full"):
        extract_activations(
            tiny_model, ds, store, [0, 1], batch_size=8, chunk_sequences=8, progress=False
        )
    assert chunks["n"] <= 2  # of 8 chunks: the failing one and the one already running
    assert not store.is_complete(0)


def test_a_store_opened_for_one_reader_is_not_filled_through_the_other(tmp_path):
    """Booting the bridge after the store was opened would mix bfloat16 numerics in one store."""
    from probing.models import load_model

    model = load_model("tiny-pythia", "random_gpt_neox", dtype="float32", device="cpu", seed=0)
    ds = make_dataset("mean", n_seq=8)
    store = open_store(tmp_path, model, ds, "float32")
    assert store.metadata["reader"] == "hf_hooks"
    model.bridge  # noqa: B018 - boots it: the model now reads through the bridge
    with pytest.raises(RuntimeError, match="open the store again"):
        extract_activations(model, ds, store, [0], progress=False)
    again = open_store(tmp_path, model, ds, "float32")
    assert again.path != store.path and extract_activations(model, ds, again, [0], progress=False)


def test_auto_chunks_are_about_chunk_bytes_in_whole_zarr_chunks():
    mean, token = make_dataset("mean"), make_dataset("token")  # one and three examples a sequence
    assert auto_chunk_sequences(mean, 30, 1536) == 128  # SmolLM2, all layers: one zarr chunk
    assert auto_chunk_sequences(mean, 2, 256) == 8192  # tiny-pythia: 16 MB of float32
    assert auto_chunk_sequences(token, 2, 256) == 2688  # a third, in rows of 128
    for layers, width in [(1, 2048), (6, 2048), (32, 16384), (1, 64)]:
        n = auto_chunk_sequences(mean, layers, width, rows=96)
        assert n % 96 == 0 and n >= 96
        assert n == 96 or n * 4 * layers * width <= CHUNK_BYTES


def test_a_default_chunk_spans_several_zarr_chunks_and_reads_back(tiny_model, tmp_path):
    """auto chunking writes many store chunks at once; the values equal a run of small chunks."""
    ds = make_dataset("token", n_seq=60)
    small = open_store(tmp_path / "small", tiny_model, ds, "float16")
    small.chunk_examples = 8
    extract_activations(
        tiny_model, ds, small, [0, 1], batch_size=8, chunk_sequences=8, progress=False
    )
    large = open_store(tmp_path / "large", tiny_model, ds, "float16")
    large.chunk_examples = 8
    extract_activations(tiny_model, ds, large, [0, 1], batch_size=8, progress=False)  # same batches
    assert large.boundaries(0) == {0, 60} and len(small.boundaries(0)) == 9
    for layer in (0, 1):
        np.testing.assert_array_equal(large.read(layer), small.read(layer))
