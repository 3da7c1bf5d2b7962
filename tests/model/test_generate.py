"""Fine-tuning a checkpoint on instruction data raises an exact-match score on Q/A pairs."""

import json

import gin
import jax
import jax.numpy as jnp
import optax
import pytest
from flax import nnx

from admire_jax.data.domain import memory_domain
from admire_jax.data.hf_tokenizer import HFTokenizer
from admire_jax.data.instruct_loader import InstructionLoader
from admire_jax.model import cross_entropy_loss
from admire_jax.model.generate import exact_match_accuracy, read_qa_pairs
from admire_jax.model.hf import load_hf_checkpoint

QA = [
    ("What is the capital of France?", "Paris."),
    ("What is two plus two?", "Four."),
    ("Say yes.", "yes"),
    ("Say hello.", "hello world"),
]


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory, tiny_checkpoints):
    return tiny_checkpoints.make_checkpoint("llama", "m", tmp_path_factory.mktemp("tiny") / "llama-m")


def test_training_on_answers_raises_exact_match(checkpoint, tmp_path):
    tok = HFTokenizer(checkpoint)
    qa_file = tmp_path / "heldout.jsonl"
    qa_file.write_text("".join(json.dumps({"question": q, "answer": a}) + "\n" for q, a in QA))
    assert read_qa_pairs(qa_file) == QA
    convs = [{"messages": [{"role": "user", "content": q}, {"role": "assistant", "content": a}]} for q, a in QA]
    # Every pair is trained on (a held-out split would hold one back): the score is the thing
    # under test, not generalisation of a random model.
    domain = memory_domain("qa", [json.dumps(c) for c in convs], [json.dumps(convs[0])])
    loader = InstructionLoader([domain], {"qa": 1.0}, seq_len=64, global_batch=4, seed=0, tokenizer=tok)
    model = load_hf_checkpoint(checkpoint, dtype="float32")
    assert exact_match_accuracy(model, tok, str(qa_file), max_new_tokens=12) == 0.0

    optimizer = nnx.Optimizer(model, optax.adam(1e-2), wrt=nnx.Param)

    @nnx.jit
    def step(model, optimizer, batch):
        def loss_fn(model):
            h = model(batch["inputs"], batch["positions"], batch["segment_ids"])
            total, count = cross_entropy_loss(model, h, batch["targets"], batch["loss_mask"])
            return total / count

        loss, grads = nnx.value_and_grad(loss_fn)(model)
        optimizer.update(model, grads)
        return loss

    losses = [float(step(model, optimizer, jax.tree.map(jnp.asarray, loader.batch(i % 4)))) for i in range(30)]
    assert losses[-1] < 0.05 * losses[0]
    # Registered in gin: an experiment can name it as its score.
    with gin.unlock_config():
        gin.parse_config("score_test/exact_match_accuracy.max_new_tokens = 12")
    with gin.config_scope("score_test"):
        assert exact_match_accuracy(model, tok, QA) == 1.0
