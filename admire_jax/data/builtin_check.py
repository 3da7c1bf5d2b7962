"""Refusing to continue work made on another built-in corpus.

Losses measured on one corpus are not comparable with losses on another, so an experiment or a
training run records the built-in corpus fingerprint, and resuming it where the corpus differs
(another admire-jax version with a new snapshot, an edited corpus) stops with a message naming both.
"""

from __future__ import annotations

import json
import os

from etils import epath

from admire_jax.data.builtin_shipped import builtin_fingerprint

RECORD_KEY = "builtin_corpus"  # the field of result.json (and key of an experiment's record) that holds it


class CorpusMismatchError(ValueError):
    """Work recorded on one built-in corpus was to be resumed on another."""


def check_builtin_fingerprint(recorded: str | None, where: str, started: bool = False) -> str:
    """Returns this installation's fingerprint; raises CorpusMismatchError when `recorded` (the
    fingerprint `where` was made with) differs from it, or when `where` has `started` (holds earlier
    work) but recorded none: an admire-jax that predates the fingerprint made it, on another corpus."""
    current = builtin_fingerprint()
    if recorded is None and started:
        raise CorpusMismatchError(
            f"{where} was made by an admire-jax that gathered the built-in corpus from the installed "
            f"packages and recorded no fingerprint; this installation's corpus is {current[:16]}, so its "
            "losses are not comparable with new ones. Use a new directory"
        )
    if recorded is not None and recorded != current:
        raise CorpusMismatchError(
            f"{where} was made on the built-in corpus {recorded[:16]}, but this installation's is "
            f"{current[:16]}: its losses are not comparable with new ones. Use a new directory, or "
            "the admire-jax version that made it"
        )
    return current


def check_run_dir(run_dir: str | os.PathLike) -> None:
    """Raises CorpusMismatchError when `run_dir` holds a result.json made on another built-in corpus,
    or one that names none (a run that is about to resume from its checkpoints)."""
    try:  # the run folder may be remote (gs://): read through epath
        record = json.loads((epath.Path(run_dir) / "result.json").read_text())
    except (OSError, ValueError):
        return  # no earlier record to compare with
    if isinstance(record, dict):
        check_builtin_fingerprint(record.get(RECORD_KEY), f"the run in {run_dir}", started=True)
