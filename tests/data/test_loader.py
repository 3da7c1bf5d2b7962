"""MixtureLoader: exact block proportions, resumption, host sharding, schedules, repeats."""

import hashlib
import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest

from admire_jax.data import ByteTokenizer, Domain, MixtureLoader, block_counts, memory_domain
from admire_jax.data.stream import token_stream

STDLIB = pathlib.Path(sys.base_prefix) / "lib" / f"python{sys.version_info[0]}.{sys.version_info[1]}"
TOK = ByteTokenizer()
L = 64


def _domain(name: str, package: str) -> Domain:
    texts = [p.read_text(encoding="utf-8") for p in sorted((STDLIB / package).glob("*.py"))]
    texts = [t for t in texts if t.strip()]
    return memory_domain(name, texts[1:], texts[:1])


@pytest.fixture(scope="module")
def domains():
    return [_domain("json", "json"), _domain("email", "email"), _domain("logging", "logging")]


class ExplodingSource:
    fingerprint = "exploding"

    def documents(self, split):
        raise AssertionError("a zero-weight domain must never be read")


def _stream_bytes(domain):
    return token_stream(domain, "train", TOK).astype(np.int32).tobytes()


def _owner(row_inputs, streams):
    """Names of the domains whose train stream holds `row_inputs` at a token boundary."""
    needle = row_inputs.astype(np.int32).tobytes()
    owners = []
    for name, haystack in streams.items():
        at = haystack.find(needle)
        while at != -1 and at % 4:
            at = haystack.find(needle, at + 1)
        if at != -1:
            owners.append(name)
    return owners


def test_block_counts_largest_remainder():
    assert block_counts(np.array([0.5, 0.3, 0.2]), 7).tolist() == [4, 2, 1]
    assert block_counts(np.array([1 / 3, 1 / 3, 1 / 3]), 8).tolist() == [3, 3, 2]  # ties: lower index
    rng = np.random.default_rng(0)
    for _ in range(200):
        w = rng.dirichlet(np.ones(6)) * (rng.random(6) > 0.3)
        if w.sum() == 0:
            continue
        w = w / w.sum()
        block = int(rng.integers(1, 300))
        n = block_counts(w, block)
        assert n.sum() == block and np.all(np.abs(n - w * block) < 1) and np.all(n[w == 0] == 0)


def test_exact_proportions_per_block_and_rows_from_their_domain(domains):
    weights = {"json": 0.2, "email": 0.5, "logging": 0.3}
    loader = MixtureLoader(domains, weights, L, 13, 0, TOK)
    expected = dict(zip(loader.names, block_counts(np.array([0.2, 0.5, 0.3]), 13).tolist()))
    streams = {d.name: _stream_bytes(d) for d in domains}
    orders = set()
    for step in range(12):
        rows = loader.domain_rows(step)
        counts = {n: int((rows == i).sum()) for i, n in enumerate(loader.names)}
        assert counts == expected == loader.counts_at(step)
        orders.add(tuple(rows.tolist()))
        batch = loader.batch(step)
        for r in range(13):
            assert loader.names[rows[r]] in _owner(batch["inputs"][r], streams)
    assert len(orders) > 1  # rows are shuffled within each block, differently per step


def test_resume_at_step_k_equals_uninterrupted_stream(domains):
    schedule = [(0, {"json": 1.0, "email": 1.0}), (4, {"json": 1.0, "logging": 2.0})]
    kwargs = dict(seq_len=512, global_batch=8, seed=3, tokenizer=TOK)
    straight = MixtureLoader(domains, schedule, **kwargs)
    uninterrupted = [straight.batch(s) for s in range(40)]
    assert straight.epochs(39)["json"] > 1  # the stream runs past the end of json: repeats
    resumed = MixtureLoader(domains, schedule, **kwargs)
    for step in (39, 5, 23):  # any order: no iterator state
        for key, value in resumed.batch(step).items():
            np.testing.assert_array_equal(value, uninterrupted[step][key])
    other_seed = MixtureLoader(domains, schedule, **{**kwargs, "seed": 4}).batch(5)
    assert not np.array_equal(other_seed["inputs"], uninterrupted[5]["inputs"])


@pytest.mark.parametrize("processes", [2, 4])
def test_process_slices_form_the_single_process_batch(domains, processes):
    weights = {"json": 0.1, "email": 0.6, "logging": 0.3}
    single = MixtureLoader(domains, weights, L, 16, 7, TOK)
    hosts = [
        MixtureLoader(domains, weights, L, 16, 7, TOK, process_index=p, process_count=processes)
        for p in range(processes)
    ]
    for step in (0, 1, 30):
        whole = single.batch(step)
        parts = [h.batch(step) for h in hosts]
        for key in whole:
            assert all(p[key].shape == (16 // processes, L) for p in parts)
            np.testing.assert_array_equal(np.concatenate([p[key] for p in parts]), whole[key])


def test_zero_weight_drops_a_domain_without_reading_it(domains):
    unread = Domain("unread", ExplodingSource())
    loader = MixtureLoader([*domains, unread], {"json": 1.0, "email": 0.0, "unread": 0.0}, L, 8, 0, TOK)
    for step in range(5):
        assert set(loader.domain_rows(step).tolist()) == {0}
    assert loader.epochs(4)["email"] == 0.0 and loader.epochs(4)["unread"] == 0.0


def test_schedule_switches_at_the_right_step(domains):
    schedule = [(0, {"json": 1.0}), (5, {"email": 1.0}), (9, {"json": 0.5, "logging": 0.5})]
    loader = MixtureLoader(domains, schedule, L, 8, 0, TOK)
    for step in range(14):
        used = {loader.names[i] for i in loader.domain_rows(step).tolist()}
        assert used == ({"json"} if step < 5 else {"email"} if step < 9 else {"json", "logging"})
    assert loader.weights_at(8) == {"json": 0.0, "email": 1.0, "logging": 0.0}
    assert loader.schedule.consumed(11).tolist() == [5 * 8 + 2 * 4, 4 * 8, 2 * 4]
    # json continues where it stopped: steps 9.. draw json sequences 40, 41, ...
    constant = MixtureLoader(domains, {"json": 1.0}, L, 8, 0, TOK)
    first_nine = {constant.batch(s)["inputs"][r].tobytes() for s in range(5, 6) for r in range(8)}
    at_nine = loader.batch(9)
    json_rows = [r for r in range(8) if loader.domain_rows(9)[r] == 0]
    assert {at_nine["inputs"][r].tobytes() for r in json_rows} <= first_nine


def test_exhausted_domain_repeats_each_window_once_per_epoch(domains):
    loader = MixtureLoader(domains[:1], {"json": 1.0}, L, 1, 0, TOK)  # one row: j-th sequence
    windows = int(loader.windows[0])  # comes at step j
    stream = token_stream(domains[0], "train", TOK).astype(np.int32).tobytes()
    steps = 2 * windows + 1
    rows = [loader.batch(s)["inputs"][0] for s in range(steps)]

    def candidates(row):  # token offsets where a row's text occurs in the stream
        found, at = [], stream.find(row.tobytes())
        while at != -1:
            found += [at // 4] if at % 4 == 0 else []
            at = stream.find(row.tobytes(), at + 1)
        return found

    cuts = []
    for epoch in range(2):
        found = [candidates(r) for r in rows[epoch * windows : (epoch + 1) * windows]]
        residues = [f[0] % L for f in found if len(f) == 1]
        cut = max(set(residues), key=residues.count)
        assert residues.count(cut) > 0.9 * len(found)
        starts = sorted(next(c for c in f if c % L == cut) for f in found)  # text repeats in
        cuts.append(cut)  # a few source files
        # every window of the epoch once: one cut offset, consecutive non-overlapping windows
        assert np.all(np.diff(starts) == L) and len(starts) == windows
        assert len(stream) // 4 - (starts[-1] + L + 1) < 2 * L  # nearly all tokens used
    assert cuts[0] != cuts[1]  # each repeat cuts the stream at new boundaries
    assert loader.epochs(steps - 1)["json"] == pytest.approx(steps / windows)
    assert loader.epochs(steps - 1)["json"] > 2


def test_packed_rows_hold_documents_with_segments_positions_and_loss_mask():
    source = (STDLIB / "json" / "decoder.py").read_text(encoding="utf-8")
    paragraphs = [p for p in source.split("\n\n") if p.strip()]  # short documents
    domain = memory_domain("paragraphs", paragraphs[2:], paragraphs[:2])
    loader = MixtureLoader([domain], {"paragraphs": 1}, 256, 12, 1, TOK)
    all_docs = [doc for doc in domain.documents("train")]
    batch = loader.batch(2)
    np.testing.assert_array_equal(batch["targets"][:, :-1], batch["inputs"][:, 1:])
    assert {k: v.dtype for k, v in batch.items()} == {
        "inputs": np.int32,
        "targets": np.int32,
        "loss_mask": np.float32,
        "segment_ids": np.int32,
        "positions": np.int32,
    }
    boundaries = 0
    for r in range(12):
        seg, pos, mask = batch["segment_ids"][r], batch["positions"][r], batch["loss_mask"][r]
        inputs = batch["inputs"][r]
        assert seg[0] == 1 and pos[0] == 0 and np.all(np.diff(seg) >= 0)
        starts = np.flatnonzero(np.diff(seg)) + 1
        boundaries += len(starts)
        assert np.all(pos[starts] == 0)
        assert np.all(np.diff(pos)[np.diff(seg) == 0] == 1)
        assert np.all(mask == (inputs != TOK.eos_id))  # no loss across a document boundary
        for s in starts:  # a new segment begins right after an end-of-document token
            assert inputs[s - 1] == TOK.eos_id
        for piece in np.split(inputs, starts):
            text = TOK.decode(piece).encode()
            assert any(text in doc for doc in all_docs)
    assert boundaries > 0


@pytest.mark.parametrize(
    "weights,culprit",
    [
        ({"json": -0.1, "email": 1.0}, "'json' is negative"),
        ({"json": float("nan"), "email": 1.0}, "'json' is nan"),
        ({"json": float("inf")}, "'json' is inf"),
        ({"json": 0.0, "email": 0.0}, "all weights are zero"),
        ({"json": 1.0, "wiki": 1.0}, "unknown domain.*wiki"),
        ({"json": "lots"}, "'json' is not a number"),
        ([0.5, 0.5], "2 weights given for 3 domains"),
        ([(1, {"json": 1.0})], "start at step 0"),
        ([(0, {"json": 1.0}), (0, {"email": 1.0})], "not strictly increasing"),
        ([(0, {"json": 1.0}), (5, {"email": -1.0})], "'email' is negative"),
    ],
)
def test_bad_weights_raise_value_error_naming_the_culprit(domains, weights, culprit):
    with pytest.raises(ValueError, match=culprit):
        MixtureLoader(domains, weights, L, 8, 0, TOK)


def test_bad_loader_arguments_raise_value_error(domains):
    w = {"json": 1.0}
    with pytest.raises(ValueError, match="not divisible by process_count 3"):
        MixtureLoader(domains, w, L, 8, 0, TOK, process_count=3)
    with pytest.raises(ValueError, match="process_index 2"):
        MixtureLoader(domains, w, L, 8, 0, TOK, process_index=2, process_count=2)
    with pytest.raises(ValueError, match="'json' appears twice"):
        MixtureLoader([domains[0], domains[0]], w, L, 8, 0, TOK)
    with pytest.raises(ValueError, match="domain 'json' has .* fewer than one sequence"):
        MixtureLoader(domains, w, 10**7, 8, 0, TOK)
    with pytest.raises(ValueError, match="step must be a non-negative integer"):
        MixtureLoader(domains, w, L, 8, 0, TOK).batch(-1)


_BATCH_DIGEST = """
import hashlib, pathlib, sys
from admire_jax.data import ByteTokenizer, MixtureLoader, memory_domain
stdlib = pathlib.Path(sys.argv[1])
domains = []
for package in ("json", "email", "logging"):
    texts = [p.read_text(encoding="utf-8") for p in sorted((stdlib / package).glob("*.py"))]
    texts = [t for t in texts if t.strip()]
    domains.append(memory_domain(package, texts[1:], texts[:1]))
loader = MixtureLoader(domains, {"json": 0.2, "email": 0.5, "logging": 0.3}, 64, 8, 11,
                       ByteTokenizer(), process_index=1, process_count=2)
batch = loader.batch(int(sys.argv[2]))
print(hashlib.sha256(b"".join(batch[k].tobytes() for k in sorted(batch))).hexdigest())
"""


def test_batch_is_identical_in_a_separate_process(domains):
    loader = MixtureLoader(
        domains, {"json": 0.2, "email": 0.5, "logging": 0.3}, L, 8, 11, TOK, process_index=1, process_count=2
    )
    batch = loader.batch(17)
    here = hashlib.sha256(b"".join(batch[k].tobytes() for k in sorted(batch))).hexdigest()
    env = {"PYTHONHASHSEED": "12345", "JAX_PLATFORMS": "cpu"}
    out = subprocess.run(
        [sys.executable, "-c", _BATCH_DIGEST, str(STDLIB), "17"],
        check=True,
        capture_output=True,
        text=True,
        env={**os.environ, **env},
    )
    assert out.stdout.strip() == here
