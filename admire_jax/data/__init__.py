"""Text domains, tokenisation, packing and weighted, resumable interleaving.

from admire_jax.data import ByteTokenizer, builtin_domains, MixtureLoader, validation_set
"""

from admire_jax.data.builtin import builtin_domains, builtin_manifest, builtin_targets
from admire_jax.data.builtin_check import CorpusMismatchError, check_builtin_fingerprint
from admire_jax.data.builtin_shipped import builtin_fingerprint
from admire_jax.data.configured import configured_domains, configured_names, configured_targets
from admire_jax.data.domain import Domain, memory_domain
from admire_jax.data.hf_tokenizer import HFTokenizer
from admire_jax.data.instruct import instruct_domain
from admire_jax.data.instruct_loader import InstructionLoader, instruct_validation_set
from admire_jax.data.instruct_packing import pack_conversations
from admire_jax.data.instruct_setup import instruction_data
from admire_jax.data.loader import MixtureLoader
from admire_jax.data.local_corpus import local_domain
from admire_jax.data.paths import data_root
from admire_jax.data.tfds_source import DatasetNotPreparedError, tfds_domain
from admire_jax.data.token_cache import token_cache
from admire_jax.data.tokenizer import ByteTokenizer, SentencePieceTokenizer, padded_vocab_size, train_sentencepiece
from admire_jax.data.tokenizer_choice import configured_tokenizer, load_tokenizer
from admire_jax.data.validation import validation_set
from admire_jax.data.weights import block_counts, mixture_weights, parse_weights

__all__ = [
    "ByteTokenizer",
    "CorpusMismatchError",
    "DatasetNotPreparedError",
    "Domain",
    "HFTokenizer",
    "InstructionLoader",
    "MixtureLoader",
    "instruct_domain",
    "instruct_validation_set",
    "instruction_data",
    "pack_conversations",
    "SentencePieceTokenizer",
    "block_counts",
    "check_builtin_fingerprint",
    "builtin_domains",
    "builtin_fingerprint",
    "builtin_manifest",
    "builtin_targets",
    "configured_domains",
    "configured_names",
    "configured_targets",
    "configured_tokenizer",
    "load_tokenizer",
    "mixture_weights",
    "token_cache",
    "data_root",
    "local_domain",
    "memory_domain",
    "padded_vocab_size",
    "parse_weights",
    "tfds_domain",
    "train_sentencepiece",
    "validation_set",
]
