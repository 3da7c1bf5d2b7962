"""The domain registry: every text a run may train on or be scored on, as named in gin.

    configured_domains.builtin = ['python_code', 'markdown']      # [] or None: no built-in domain
    configured_domains.local = {'papers': 'corpora/papers'}       # name -> folder/file(s)
    configured_domains.catalogue = {'c4': 'c4/en'}                # name -> prepared TFDS dataset
    configured_targets.local = {'eval_set': 'corpora/eval'}       # evaluation-only sets, same kinds

`train`, `optimize`, `validate` and `prepare` all read these two functions (and the tokenizer,
`configured_tokenizer`), so a name known to one command is known to all. Names are known from
the bindings alone (`configured_names`), before anything is built or read.
"""

from __future__ import annotations

import os
from typing import Any, Mapping, Sequence

import gin

from admire_jax.data.builtin import builtin_domains, builtin_targets
from admire_jax.data.builtin_sources import TARGET_DOMAINS, TRAIN_DOMAINS
from admire_jax.data.domain import Domain, check_unique
from admire_jax.data.local_corpus import local_domain
from admire_jax.data.tfds_source import tfds_domain

# The size of the built-in corpus a run reads (an experiment sets both through experiment.max_bytes).
BUILTIN_MAX_BYTES = ("builtin_domains.max_bytes", "builtin_targets.max_bytes")

# Every configurable a run's data depends on: an experiment forwards their bindings to its trials.
REGISTRY_CONFIGURABLES = (
    "configured_domains",
    "configured_targets",
    "configured_tokenizer",
    "data_root",
    "local_domain",
    "tfds_domain",
    "builtin_domains",
    "builtin_targets",
    "token_cache",
)


@gin.configurable
def configured_domains(
    builtin: Sequence[str] | None = TRAIN_DOMAINS,
    local: Mapping[str, str | Sequence[str]] | None = None,
    catalogue: Mapping[str, str] | None = None,
) -> list[Domain]:
    """The training domains in a fixed order: built-in (as listed), then local, then catalogue
    (by name). Catalogue datasets are read from `tfds_domain.data_dir`, feature `tfds_domain.feature`."""
    domains = _domains(builtin_domains, builtin, local, catalogue)
    if not domains:
        raise ValueError("configured_domains names no domain (builtin, local and catalogue are all empty)")
    return domains


@gin.configurable
def configured_targets(
    builtin: Sequence[str] | None = TARGET_DOMAINS,
    local: Mapping[str, str | Sequence[str]] | None = None,
    catalogue: Mapping[str, str] | None = None,
) -> list[Domain]:
    """Evaluation-only sets (scored, never trained on), from the same kinds of source and in the
    same order as `configured_domains`; only their validation split is read."""
    return _domains(builtin_targets, builtin, local, catalogue)


def _domains(builtin_fn, builtin, local, catalogue) -> list[Domain]:
    domains = list(builtin_fn(list(builtin))) if builtin else []
    for name in sorted(local or {}):
        domains.append(local_domain(name, local[name]))
    for name in sorted(catalogue or {}):
        domains.append(tfds_domain(name, catalogue[name]))
    check_unique(domains)
    return domains


def configured_names() -> tuple[list[str], list[str]]:
    """(training domain names, evaluation-only names) as bound in gin, without building anything.

    ValueError when a name is used twice."""
    names = []
    for fn, default in (("configured_domains", TRAIN_DOMAINS), ("configured_targets", TARGET_DOMAINS)):
        bound = gin.get_bindings(fn)
        builtin = bound.get("builtin", default)
        names.append([*(builtin or []), *sorted(bound.get("local") or {}), *sorted(bound.get("catalogue") or {})])
    twice = sorted({n for n in names[0] + names[1] if (names[0] + names[1]).count(n) > 1})
    if twice:
        raise ValueError(f"domain name(s) {twice} configured twice (training domains and targets share one namespace)")
    return names[0], names[1]


def registry_bindings(skip: Sequence[str] = ()) -> list[str]:
    """The gin bindings of the data registry as the parsed configuration sets them (macros
    resolved, relative paths that exist made absolute), for a process that reads no gin file of its
    own (an experiment's trials), less the parameters in `skip` ('name.param'). Empty when nothing
    is bound: the defaults need no forwarding."""
    bindings = []
    for name in REGISTRY_CONFIGURABLES:
        try:
            bound = gin.get_bindings(name)
        except ValueError:  # not registered in this process: nothing bound to it either
            continue
        bindings += [
            f"{name}.{key} = {_absolute(value)!r}"
            for key, value in sorted(bound.items())
            if f"{name}.{key}" not in skip
        ]
    return bindings


def _absolute(value: Any) -> Any:
    """`value` with every string naming an existing relative path made absolute (trials may run
    in another directory)."""
    if isinstance(value, str):
        return os.path.abspath(value) if value and not os.path.isabs(value) and os.path.exists(value) else value
    if isinstance(value, Mapping):
        return {k: _absolute(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_absolute(v) for v in value]
    return value
