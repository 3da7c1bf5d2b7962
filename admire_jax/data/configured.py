"""The training domains of a run, as named in gin: built-in, local corpora and catalogue datasets.

configured_domains.builtin = ['python_code', 'markdown']      # None: all built-in domains
configured_domains.local = {'papers': '/data/papers'}         # name -> folder/file(s)
configured_domains.catalogue = {'c4': 'c4/en'}                # name -> TFDS dataset
"""

from __future__ import annotations

import os
from typing import Mapping, Sequence

import gin

from admire_jax.data.builtin import builtin_domains
from admire_jax.data.builtin_sources import TRAIN_DOMAINS
from admire_jax.data.domain import Domain, check_unique
from admire_jax.data.local_corpus import local_domain
from admire_jax.data.tfds_source import tfds_domain


@gin.configurable
def configured_domains(
    builtin: Sequence[str] | None = TRAIN_DOMAINS,
    local: Mapping[str, str | Sequence[str]] | None = None,
    catalogue: Mapping[str, str] | None = None,
    catalogue_feature: str = "text",
    catalogue_max_documents: int | None = 100_000,
    tfds_data_dir: str | os.PathLike | None = None,
) -> list[Domain]:
    """Domains in a fixed order: built-in (as listed), then local, then catalogue (by name).

    Catalogue domains are tokenised up to `catalogue_max_documents` documents per split, since
    the loader keeps each domain's tokens in memory.
    """
    domains = list(builtin_domains(list(builtin))) if builtin else []
    for name in sorted(local or {}):
        domains.append(local_domain(name, local[name]))
    for name in sorted(catalogue or {}):
        domains.append(
            tfds_domain(
                name,
                catalogue[name],
                feature=catalogue_feature,
                max_documents=catalogue_max_documents,
                data_dir=tfds_data_dir,
            )
        )
    if not domains:
        raise ValueError("configured_domains names no domain (builtin, local and catalogue are all empty)")
    check_unique(domains)
    return domains
