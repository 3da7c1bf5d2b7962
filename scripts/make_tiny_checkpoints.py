"""Makes tiny random Llama and Qwen2 checkpoints (3 sizes each, with tokenizer files).

    python scripts/make_tiny_checkpoints.py OUT_DIR [--families llama qwen2] [--sizes s m l]

Writes OUT_DIR/<family>-<size>/ holding config.json, safetensors weights (sharded with an index
for the largest size), tokenizer.json and tokenizer_config.json (with the family's chat
template). Weights are drawn from a seeded generator, biases and norm scales included, so
parity tests see every parameter. Needs the `finetune` extra (torch CPU, transformers,
tokenizers).
"""

from __future__ import annotations

import argparse
import json
import pathlib
import sys

VOCAB_SIZE = 384  # model rows; the tokenizer uses fewer ids (a multiple of 128 is kept)
SIZES = {  # d_model, layers, heads, kv heads, d_ff
    "s": (32, 1, 4, 2, 64),
    "m": (64, 2, 4, 2, 128),
    "l": (96, 3, 6, 2, 192),
}
SPECIAL = {
    "qwen2": {"eos": "<|im_end|>", "pad": "<|endoftext|>", "extra": ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]},
    "llama": {
        "eos": "<|eot_id|>",
        "pad": "<|end_of_text|>",
        "extra": ["<|begin_of_text|>", "<|end_of_text|>", "<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>"],
    },
}
CHAT_TEMPLATES = {
    "qwen2": (
        "{% for message in messages %}<|im_start|>{{ message['role'] }}\n"
        "{{ message['content'] }}<|im_end|>\n{% endfor %}"
        "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
    ),
    "llama": (
        "<|begin_of_text|>{% for message in messages %}<|start_header_id|>"
        "{{ message['role'] }}<|end_header_id|>\n\n{{ message['content'] }}<|eot_id|>"
        "{% endfor %}{% if add_generation_prompt %}<|start_header_id|>assistant"
        "<|end_header_id|>\n\n{% endif %}"
    ),
}
TRAINING_TEXT = [
    "The quick brown fox jumps over the lazy dog. What is two plus two? Four.",
    "def add(a, b):\n    return a + b\n",
    "Question: what is the capital of France? Answer: Paris.",
    "system user assistant You are a helpful assistant. Please answer briefly.",
    "0 1 2 3 4 5 6 7 8 9 10 100 1000 yes no true false hello world",
]


def make_tokenizer(family: str, folder: pathlib.Path, vocab: int = 300) -> None:
    """A byte-level BPE tokenizer.json plus tokenizer_config.json with the chat template."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    special = SPECIAL[family]
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab,
        special_tokens=special["extra"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(TRAINING_TEXT * 4, trainer=trainer)
    tok.save(str(folder / "tokenizer.json"))
    config = {
        "eos_token": special["eos"],
        "pad_token": special["pad"],
        "chat_template": CHAT_TEMPLATES[family],
        "model_max_length": 4096,
        "tokenizer_class": "PreTrainedTokenizerFast",
    }
    (folder / "tokenizer_config.json").write_text(json.dumps(config, indent=2))


def make_checkpoint(
    family: str, size: str, folder: pathlib.Path, seed: int = 0, max_shard_size: str | None = None
) -> pathlib.Path:
    """One random checkpoint of `family` ('llama' | 'qwen2') and `size` ('s' | 'm' | 'l')."""
    import torch
    import transformers

    d, layers, heads, kv, ff = SIZES[size]
    common = dict(
        vocab_size=VOCAB_SIZE,
        hidden_size=d,
        intermediate_size=ff,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        num_key_value_heads=kv,
        rms_norm_eps=1e-6,
        rope_theta=10_000.0,
        max_position_embeddings=512,
    )
    if family == "llama":
        config = transformers.LlamaConfig(tie_word_embeddings=False, **common)
        model_cls = transformers.LlamaForCausalLM
    elif family == "qwen2":
        config = transformers.Qwen2Config(tie_word_embeddings=True, **common)
        model_cls = transformers.Qwen2ForCausalLM
    else:
        raise ValueError(f"family {family!r} is not 'llama' or 'qwen2'")
    torch.manual_seed(seed)
    model = model_cls(config).to(torch.float32)
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            noise = torch.randn(p.shape, generator=generator)
            if name.endswith("norm.weight"):
                p.copy_(1.0 + 0.1 * noise)
            elif name.endswith("bias"):
                p.copy_(0.1 * noise)
            else:
                p.copy_(noise / max(p.shape[-1], 1) ** 0.5)
    folder.mkdir(parents=True, exist_ok=True)
    kwargs = {"max_shard_size": max_shard_size} if max_shard_size else {}
    model.save_pretrained(folder, **kwargs)
    make_tokenizer(family, folder)
    return folder


def make_all(out_dir: str | pathlib.Path, families=("llama", "qwen2"), sizes=tuple(SIZES)) -> list[pathlib.Path]:
    """All requested checkpoints; the largest size is written sharded (with an index)."""
    out = pathlib.Path(out_dir)
    made = []
    for family in families:
        for size in sizes:
            shard = "100KB" if size == "l" else None
            made.append(make_checkpoint(family, size, out / f"{family}-{size}", max_shard_size=shard))
    return made


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out_dir")
    parser.add_argument("--families", nargs="+", default=["llama", "qwen2"], choices=["llama", "qwen2"])
    parser.add_argument("--sizes", nargs="+", default=list(SIZES), choices=list(SIZES))
    args = parser.parse_args(argv)
    for folder in make_all(args.out_dir, args.families, args.sizes):
        print(folder)
    return 0


if __name__ == "__main__":
    sys.exit(main())
