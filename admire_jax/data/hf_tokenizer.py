"""A Hugging Face checkpoint's own tokenizer (tokenizer.json) and chat template.

Same interface as `ByteTokenizer` (vocab_size padded to a multiple of 128, eos_id, pad_id,
fingerprint, encode, decode) so the loader accepts it, plus `encode_chat`, which renders a
conversation with the checkpoint's jinja chat template and marks the tokens written by the
assistant (the only ones instruction tuning trains on).
"""

from __future__ import annotations

import hashlib
import json
import os
import pathlib
from typing import Any, Iterable, Mapping, Sequence

import numpy as np

from admire_jax.data.tokenizer import padded_vocab_size

TOKENIZER_FILE = "tokenizer.json"
TOKENIZER_CONFIG = "tokenizer_config.json"


def _token_text(value: Any) -> str | None:
    """Special tokens in tokenizer_config.json are strings or {'content': ...} records."""
    if isinstance(value, Mapping):
        return value.get("content")
    return value


def _template(config: Mapping[str, Any], path: pathlib.Path) -> str | None:
    template = config.get("chat_template")
    if isinstance(template, list):  # [{'name': 'default', 'template': ...}, ...]
        named = {t.get("name"): t.get("template") for t in template}
        if "default" not in named:
            raise ValueError(f"{path}: chat_template list has no 'default' entry")
        template = named["default"]
    if template is None:
        jinja = path.parent / "chat_template.jinja"  # where newer transformers versions save it
        template = jinja.read_text() if jinja.is_file() else None
    return template


class HFTokenizer:
    """The tokenizer of an HF checkpoint folder (tokenizer.json + tokenizer_config.json)."""

    def __init__(self, folder: str | os.PathLike):
        try:
            import tokenizers  # pylint: disable=import-outside-toplevel
        except ImportError as e:
            raise ImportError("Hugging Face tokenizers need the `tokenizers` package: pip install tokenizers") from e
        self.folder = pathlib.Path(folder)
        path = self.folder / TOKENIZER_FILE
        if not path.is_file():
            raise ValueError(f"{self.folder}: no {TOKENIZER_FILE}")
        raw = path.read_bytes()
        self._tok = tokenizers.Tokenizer.from_str(raw.decode("utf-8"))
        config_path = self.folder / TOKENIZER_CONFIG
        config = json.loads(config_path.read_text()) if config_path.is_file() else {}
        self.chat_template = _template(config, config_path)
        self.eos_token = _token_text(config.get("eos_token"))
        if self.eos_token is None:
            raise ValueError(f"{config_path}: no eos_token (needed to end documents)")
        self.eos_id = self._id(self.eos_token, config_path)
        self.pad_token = _token_text(config.get("pad_token")) or self.eos_token
        self.pad_id = self._id(self.pad_token, config_path)
        self.bos_token = _token_text(config.get("bos_token"))
        self.real_vocab_size = self._tok.get_vocab_size(with_added_tokens=True)
        self.vocab_size = padded_vocab_size(self.real_vocab_size)
        digest = hashlib.sha256(raw)
        digest.update(json.dumps(config, sort_keys=True).encode())
        self.fingerprint = "hf-" + digest.hexdigest()[:16]
        self._compiled = None

    def _id(self, token: str, source: pathlib.Path) -> int:
        token_id = self._tok.token_to_id(token)
        if token_id is None:
            raise ValueError(f"{source}: token {token!r} is not in {self.folder / TOKENIZER_FILE}")
        return int(token_id)

    def encode(self, text: str | bytes) -> np.ndarray:
        """Token ids of `text` (int32); no BOS/EOS added."""
        if isinstance(text, bytes):
            text = text.decode("utf-8", errors="replace")
        return np.asarray(self._tok.encode(text, add_special_tokens=False).ids, dtype=np.int32)

    def decode(self, ids: Iterable[int]) -> str:
        """Text of `ids`, skipping special tokens and ids beyond the real vocabulary."""
        kept = [int(i) for i in ids if 0 <= int(i) < self.real_vocab_size]
        return self._tok.decode(kept, skip_special_tokens=True)

    def render_chat(self, messages: Sequence[Mapping[str, str]], add_generation_prompt: bool = False) -> str:
        """The conversation as the checkpoint's chat template writes it."""
        if self.chat_template is None:
            raise ValueError(f"{self.folder}: the tokenizer has no chat_template")
        if self._compiled is None:
            self._compiled = _compile(self.chat_template)
        return self._compiled.render(
            messages=list(messages),
            bos_token=self.bos_token or "",
            eos_token=self.eos_token,
            add_generation_prompt=add_generation_prompt,
        )

    def encode_chat(self, messages: Sequence[Mapping[str, str]]) -> tuple[np.ndarray, np.ndarray]:
        """(ids [T] int32, assistant_T bool): True for tokens of assistant turns (their content and
        the template's end-of-turn text), False for prompts, headers and other roles."""
        text = self.render_chat(messages)
        spans = []
        for i, message in enumerate(messages):
            if message["role"] != "assistant":
                continue
            prompt = self.render_chat(messages[:i], add_generation_prompt=True)
            upto = self.render_chat(messages[: i + 1])
            if not (upto.startswith(prompt) and text.startswith(upto)):
                raise ValueError(
                    f"{self.folder}: the chat template does not render conversations "
                    "incrementally; assistant turns cannot be located"
                )
            spans.append((len(prompt), len(upto)))
        encoding = self._tok.encode(text, add_special_tokens=False)
        starts_T = np.asarray([start for start, _ in encoding.offsets], dtype=np.int64)
        assistant_T = np.zeros(len(starts_T), dtype=bool)
        for lo, hi in spans:
            assistant_T |= (starts_T >= lo) & (starts_T < hi)
        return np.asarray(encoding.ids, dtype=np.int32), assistant_T

    def __repr__(self) -> str:
        return f"HFTokenizer({str(self.folder)!r})"


def _compile(template: str):
    """Jinja settings of HF chat templates: sandboxed, trimmed blocks, `raise_exception`."""
    from jinja2 import sandbox  # pylint: disable=import-outside-toplevel
    from jinja2.exceptions import TemplateError  # pylint: disable=import-outside-toplevel

    def raise_exception(message):
        raise TemplateError(message)

    env = sandbox.ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)
    env.filters["tojson"] = lambda x, indent=None: json.dumps(x, ensure_ascii=False, indent=indent)
    env.globals["raise_exception"] = raise_exception
    return env.from_string(template)
