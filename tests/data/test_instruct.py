"""Checkpoint tokenizers and chat templates, instruction domains (TFDS), assistant-only loss
and packing that keeps conversations apart; a few fine-tuning steps from a checkpoint."""

import json

import jax.numpy as jnp
import numpy as np
import pytest
import transformers

from admire_jax.data import instruct_loader
from admire_jax.data.hf_tokenizer import HFTokenizer
from admire_jax.data.instruct import instruct_domain, tokenized_examples
from admire_jax.data.instruct_loader import InstructionLoader, instruct_validation_set
from admire_jax.data.instruct_packing import pack_conversations
from admire_jax.data.tfds_source import TfdsSource
from admire_jax.model.hf import load_hf_checkpoint

CHAT = [
    {"role": "system", "content": "You are helpful."},
    {"role": "user", "content": "What is 2+2?"},
    {"role": "assistant", "content": "Four."},
    {"role": "user", "content": "And 3+3?"},
    {"role": "assistant", "content": "Six."},
]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory, tiny_checkpoints):
    script = tiny_checkpoints
    out = tmp_path_factory.mktemp("tiny")
    return {f: script.make_checkpoint(f, "s", out / f"{f}-s") for f in ("llama", "qwen2")}


def _write_jsonl(path, conversations):
    path.write_text("".join(json.dumps(c) + "\n" for c in conversations))
    return path


def _qa(i, topic):
    return {
        "messages": [
            {"role": "user", "content": f"{topic} question {i}?"},
            {"role": "assistant", "content": f"answer {i * 7 % 13}."},
        ]
    }


@pytest.mark.parametrize("family", ["llama", "qwen2"])
def test_chat_template_and_ids_match_transformers(tiny, family):
    ours = HFTokenizer(tiny[family])
    ref = transformers.AutoTokenizer.from_pretrained(tiny[family])
    text = ours.render_chat(CHAT)
    assert text == ref.apply_chat_template(CHAT, tokenize=False)
    ids, assistant = ours.encode_chat(CHAT)
    assert ids.tolist() == ref(text, add_special_tokens=False)["input_ids"]
    end = {"llama": "<|eot_id|>", "qwen2": "<|im_end|>\n"}[family]
    assert ref.decode(ids[assistant]) == f"Four.{end}Six.{end}"
    assert ours.vocab_size % 128 == 0 and ours.vocab_size >= ref.vocab_size
    assert ours.decode(ours.encode("hello world 42")) == "hello world 42"
    assert ours.eos_id == ref.convert_tokens_to_ids(end.strip())


def test_instruction_domain_goes_through_tfds(tiny, tmp_path):
    src = _write_jsonl(tmp_path / "math.jsonl", [_qa(i, "math") for i in range(40)])
    domain = instruct_domain("math", src, validation_fraction=0.1, data_dir=tmp_path / "cache")
    assert isinstance(domain.source, TfdsSource)
    assert "admire_instruct_corpus" in domain.source.directory
    train, val = list(domain.documents("train")), list(domain.documents("validation"))
    assert len(train) + len(val) == 40 and val and not set(train) & set(val)
    tok = HFTokenizer(tiny["qwen2"])
    examples = tokenized_examples(domain, "train", tok)
    assert all(a.any() and not a.all() for _, a in examples)


@pytest.mark.parametrize(
    "line,message",
    [
        ({"messages": [{"role": "user", "content": "hi"}]}, "no assistant turn"),
        ({"messages": [{"role": "wizard", "content": "hi"}]}, "unknown role 'wizard'"),
        ({"conversation": []}, "no 'messages' field"),
        ({"messages": []}, "non-empty list"),
    ],
)
def test_bad_conversations_name_file_and_line(tmp_path, line, message):
    src = _write_jsonl(tmp_path / "bad.jsonl", [_qa(0, "x"), _qa(1, "x"), line])
    with pytest.raises(ValueError, match=rf"bad\.jsonl:3: .*{message}"):
        instruct_domain("bad", src, data_dir=tmp_path / "cache")


def test_packing_keeps_conversations_apart(tiny):
    tok = HFTokenizer(tiny["qwen2"])
    examples = [tok.encode_chat(_qa(i, "packing")["messages"]) for i in range(12)]
    rows = pack_conversations(examples, seq_len=128, pad_id=tok.pad_id)
    n_rows = len(rows["inputs"])
    assert n_rows < 12  # several conversations share a row
    seen = 0
    for r in range(n_rows):
        seg = rows["segment_ids"][r]
        for s in range(1, seg.max() + 1):
            where = np.flatnonzero(seg == s)
            assert (np.diff(where) == 1).all()  # contiguous
            assert rows["positions"][r, where].tolist() == list(range(len(where)))
            ids, assistant = examples[seen]
            assert rows["inputs"][r, where].tolist() == ids[:-1].tolist()
            assert rows["loss_mask"][r, where].tolist() == assistant[1:].astype(float).tolist()
            seen += 1
        assert (rows["loss_mask"][r][seg == 0] == 0).all()
    assert seen == 12

    # Attention never crosses conversations: logits of a packed row equal each one alone.
    model = load_hf_checkpoint(tiny["qwen2"], dtype="float32")
    packed = np.asarray(
        model.logits(
            model(
                jnp.asarray(rows["inputs"][:1]),
                jnp.asarray(rows["positions"][:1]),
                jnp.asarray(rows["segment_ids"][:1]),
            )
        )
    )
    second = np.flatnonzero(rows["segment_ids"][0] == 2)
    alone_ids = jnp.asarray(examples[1][0][None, :-1])
    alone = np.asarray(model.logits(model(alone_ids)))
    np.testing.assert_allclose(packed[0, second], alone[0], atol=1e-4)


def test_loader_mixes_domains_and_splits_processes(tiny, tmp_path):
    tok = HFTokenizer(tiny["qwen2"])
    domains = [
        instruct_domain(
            name,
            _write_jsonl(tmp_path / f"{name}.jsonl", [_qa(i, name) for i in range(30)]),
            data_dir=tmp_path / "cache",
        )
        for name in ("math", "chat")
    ]
    weights = {"math": 0.75, "chat": 0.25}
    cache = tmp_path / "cache"
    loader = InstructionLoader(domains, weights, seq_len=48, global_batch=8, seed=0, tokenizer=tok, data_dir=cache)
    assert loader.counts_at(0) == {"math": 6, "chat": 2}
    batch = loader.batch(3)
    assert {k: v.shape for k, v in batch.items()} == {k: (8, 48) for k in batch}
    text = tok.decode(batch["inputs"][batch["segment_ids"] > 0])
    assert text.count("math question") > text.count("chat question") > 0
    for k, v in batch.items():
        np.testing.assert_array_equal(v, loader.batch(3)[k])
    halves = [InstructionLoader(domains, weights, 48, 8, 0, tok, p, 2, cache).batch(3) for p in (0, 1)]
    np.testing.assert_array_equal(np.concatenate([h["inputs"] for h in halves]), batch["inputs"])
    val = instruct_validation_set(domains[0], tok, 48, data_dir=cache)
    assert val["loss_mask"].sum() > 0


def test_packed_rows_are_cached(tiny, tmp_path, monkeypatch):
    tok = HFTokenizer(tiny["qwen2"])
    domain = instruct_domain(
        "cached", _write_jsonl(tmp_path / "c.jsonl", [_qa(i, "c") for i in range(20)]), data_dir=tmp_path / "cache"
    )
    first = InstructionLoader([domain], {"cached": 1}, 48, 4, 0, tok, data_dir=tmp_path / "tok")
    assert list((tmp_path / "tok" / "tokens").glob("cached-train-*-L48-conv1.npz"))

    def fail(*args):
        raise AssertionError("tokenised again despite the cache")

    monkeypatch.setattr(instruct_loader, "tokenized_examples", fail)
    again = InstructionLoader([domain], {"cached": 1}, 48, 4, 0, tok, data_dir=tmp_path / "tok")
    for k, v in first.batch(2).items():
        np.testing.assert_array_equal(v, again.batch(2)[k])


def test_instruction_data_from_gin(tiny, tmp_path):
    import gin

    from admire_jax.data.instruct_setup import instruction_data

    sources = {n: str(_write_jsonl(tmp_path / f"{n}.jsonl", [_qa(i, n) for i in range(20)])) for n in ("code", "math")}
    with gin.unlock_config():
        gin.parse_config(
            [
                f"ft_test/instruction_data.checkpoint = '{tiny['qwen2']}'",
                f"ft_test/instruction_data.sources = {sources!r}",
                f"ft_test/instruction_data.data_dir = '{tmp_path / 'cache'}'",
            ]
        )
    with gin.config_scope("ft_test"):
        data = instruction_data({"math": 3.0, "code": 1.0}, seq_len=64, global_batch=4, seed=1)
    assert data.mixture == {"code": 0.25, "math": 0.75}
    assert sorted(data.validation) == ["code", "math"]
    assert data.loader.batch(0)["inputs"].shape == (4, 64)
    assert data.tokenizer.eos_id == HFTokenizer(tiny["qwen2"]).eos_id


def test_checkpoint_tokenizer_drives_the_plain_text_loader(tiny):
    from admire_jax.data import MixtureLoader, memory_domain

    tok = HFTokenizer(tiny["llama"])
    text = [f"hello world {i} the quick brown fox" for i in range(30)]
    domain = memory_domain("plain", text, text[:2])
    batch = MixtureLoader([domain], {"plain": 1.0}, seq_len=16, global_batch=2, seed=0, tokenizer=tok).batch(0)
    assert batch["inputs"].shape == (2, 16) and batch["inputs"].max() < tok.vocab_size
    for row in batch["inputs"]:  # 16 tokens of the documents, decoded back to their words
        words = tok.decode(row).split()
        assert len(words) >= 3 and {"world", "quick", "brown"} & set(words)
