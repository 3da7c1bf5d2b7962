"""`admire-jax train` fine-tunes a tiny checkpoint on an instruction mixture and scores it."""

import json

import pytest

import admire_jax.model.generate  # noqa: F401  registers exact_match_accuracy with gin
from admire_jax.model.hf import read_config
from admire_jax.train import cli


def _conversations(path, pairs):
    path.write_text(
        "".join(
            json.dumps({"messages": [{"role": "user", "content": q}, {"role": "assistant", "content": a}]}) + "\n"
            for q, a in pairs
        )
    )
    return path


@pytest.mark.slow
def test_train_cli_fine_tunes_a_checkpoint_on_instruction_domains(tmp_path, tiny_checkpoints):
    ckpt = tiny_checkpoints.make_checkpoint("qwen2", "s", tmp_path / "qwen2-s")
    sources = {
        "math": str(_conversations(tmp_path / "math.jsonl", [(f"{i} plus {i}?", str(2 * i)) for i in range(12)])),
        "chat": str(_conversations(tmp_path / "chat.jsonl", [(f"say {w}", w) for w in "abcdefghijkl"])),
    }
    heldout = tmp_path / "heldout.jsonl"
    heldout.write_text(json.dumps({"question": "say a", "answer": "a"}) + "\n")
    mixture = tmp_path / "mixture.json"
    mixture.write_text(json.dumps({"math": 0.75, "chat": 0.25}))
    code = cli.main(
        [
            "--preset=1m",
            f"--gin.TrainConfig.init_checkpoint='{ckpt}'",
            "--gin.train.data_factory=@instruction_data",
            f"--gin.instruction_data.checkpoint='{ckpt}'",
            f"--gin.instruction_data.sources={sources!r}",
            f"--gin.instruction_data.data_dir='{tmp_path / 'cache'}'",
            "--gin.train.evaluations={'exact_match': @exact_match_accuracy}",
            f"--gin.exact_match_accuracy.qa_pairs='{heldout}'",
            "--gin.exact_match_accuracy.max_new_tokens=4",
            "--gin.TrainConfig.steps=3",
            "--gin.GLOBAL_BATCH=8",
            "--gin.SEQ_LEN=64",
            "--gin.enable_compilation_cache.directory=None",
            f"--mixture={mixture}",
            f"--run_dir={tmp_path / 'run'}",
        ]
    )
    result = json.loads((tmp_path / "run" / "result.json").read_text())
    assert code == 0, result["error"]
    assert result["status"] == "ok" and result["mixture"] == {"chat": 0.25, "math": 0.75}
    assert set(result["val_loss"]) == {"chat", "math"}
    assert result["params"] == read_config(ckpt)[0].non_embedding_params()
    assert set(result["scores"]) == {"exact_match"} and 0.0 <= result["scores"]["exact_match"] <= 1
    assert result["flops"] > 0 and result["wall_seconds"] > 0
