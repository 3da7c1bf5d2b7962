"""The data a run's checkpoints were trained on: resuming with other data is refused.

The trainer records the fingerprints of its data (the training domains' text, the tokenizer, the
token cache's layout; see `data_setup.data_fingerprints`) in its run directory, beside the
checkpoints folder, and a resumed
run compares its own with them before restoring: a checkpoint continued on other tokens, or under
another vocabulary, would silently stop being the run it claims to be.
"""

from __future__ import annotations

from collections.abc import Mapping

from admire_jax.gin_cli import UsageError
from admire_jax.train import run_files

FILE = "data_fingerprints.json"


class FingerprintMismatch(UsageError):
    """The run directory's checkpoints were trained on other data or another tokenizer."""


def check_and_record(run_dir: str, fingerprints: Mapping[str, str] | None, writer: bool = True) -> None:
    """Raises FingerprintMismatch when `run_dir/checkpoints` holds a checkpoint recorded with other
    fingerprints; otherwise (process 0, `writer`) records `fingerprints` in `run_dir`."""
    if not fingerprints:
        return
    folder = run_files.run_path(run_dir)
    checkpoint_dir, path = folder / "checkpoints", folder / FILE
    has_checkpoint = checkpoint_dir.is_dir() and any(p.name.isdigit() for p in checkpoint_dir.iterdir())
    if has_checkpoint and path.exists():
        stored = run_files.read_json(path)
        changed = sorted(k for k in set(stored) | set(fingerprints) if stored.get(k) != fingerprints.get(k))
        if changed:
            details = ", ".join(f"{k}: checkpoint {stored.get(k)!r}, now {fingerprints.get(k)!r}" for k in changed)
            raise FingerprintMismatch(
                f"refusing to resume {run_dir}: its checkpoints were trained with other {', '.join(changed)} "
                f"({details}); use a new --run_dir, or restore the data configuration it was trained with"
            )
    if writer:
        run_files.write_json(path, dict(fingerprints), indent=1, sort_keys=True)
