"""Make the shipped built-in corpus again from its pinned sources (a maintainer's tool).

    python -m admire_jax.data.builtin_snapshot [--out admire_jax/data/builtin_corpus]
                                              [--constraints constraints.txt] [--max_bytes 2000000]

Reads the standard library of the running Python, numpy and the distributions named in
`builtin_sources.PACKAGES`, takes each domain's documents in order up to `--max_bytes`,
drops a document any earlier domain already holds (by sha256; the training domains come first,
so a target never shares a document with them) and writes one gzipped JSON-lines file per domain
and a manifest. Refuses (exit 2, nothing written) unless the Python is SNAPSHOT_PYTHON and every
named distribution is installed at the version constraints.txt pins: a snapshot is then the same
bytes on every machine. A new snapshot has a new fingerprint: experiments made on the old one
will not resume on it.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import pathlib
import sys

from admire_jax.data.builtin_shipped import ALL_DOMAINS, MANIFEST, SHIPPED_DIR, builtin_fingerprint, write_domain
from admire_jax.data.builtin_sources import BuiltinSources, MissingDistributionError, collect

SNAPSHOT_PYTHON = "3.11.7"
SNAPSHOT_MAX_BYTES = 2_000_000
CONSTRAINTS = pathlib.Path(__file__).parents[2] / "constraints.txt"


def pinned_versions(constraints: str | os.PathLike) -> dict[str, str]:
    """{distribution name, lower case: version} of the `name==version` lines of a constraints file."""
    pins = {}
    for line in pathlib.Path(constraints).read_text(encoding="utf-8").splitlines():
        line = line.split("#")[0].strip()
        if "==" in line:
            name, version = (part.strip() for part in line.split("==", 1))
            pins[name.lower().replace("_", "-")] = version
    return pins


def pin_problems(sources: BuiltinSources, pins: dict[str, str]) -> list[str]:
    """Why `sources` would not give the pinned snapshot (empty when it would)."""
    problems = []
    if sources.python_version != SNAPSHOT_PYTHON:
        problems.append(f"Python is {sources.python_version}, the snapshot's is {SNAPSHOT_PYTHON}")
    for name in sources.distributions:
        pinned = pins.get(name.lower().replace("_", "-"))
        try:
            installed = sources.distribution(name).version
        except MissingDistributionError as exc:
            problems.append(str(exc))
            continue
        if pinned is None:
            problems.append(f"{name} is not pinned in the constraints file")
        elif installed != pinned:
            problems.append(f"{name} is {installed}, the constraints file pins {pinned}")
    return problems


def write_snapshot(out_dir: str | os.PathLike, sources: BuiltinSources, max_bytes: int = SNAPSHOT_MAX_BYTES) -> dict:
    """Writes every domain's documents and the manifest to `out_dir`; returns the manifest."""
    out = pathlib.Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    seen: set[str] = set()
    domains = {}
    for name in ALL_DOMAINS:
        records, size = [], 0
        for label, doc in collect(name, sources):
            if size >= max_bytes:
                break
            digest = hashlib.sha256(doc).hexdigest()
            if digest in seen:
                continue  # the first domain to claim a text keeps it
            seen.add(digest)
            records.append((label, doc))
            size += len(doc)
        if len(records) < 2:
            raise ValueError(f"built-in domain {name!r} found fewer than 2 documents in {sources}")
        write_domain(out, name, records)
        domains[name] = {"documents": len(records), "bytes": size}
    manifest = {
        "python": sources.python_version,
        "distributions": {d: sources.distribution(d).version for d in sources.distributions},
        "max_bytes": max_bytes,
        "domains": domains,
        "fingerprint": builtin_fingerprint(out),
    }
    (out / MANIFEST).write_text(json.dumps(manifest, indent=1) + "\n", encoding="utf-8")
    return manifest


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m admire_jax.data.builtin_snapshot", description=__doc__)
    parser.add_argument("--out", default=str(SHIPPED_DIR))
    parser.add_argument("--constraints", default=str(CONSTRAINTS))
    parser.add_argument("--max_bytes", type=int, default=SNAPSHOT_MAX_BYTES)
    args = parser.parse_args(argv)
    prog = parser.prog
    if args.max_bytes <= 0:
        print(f"{prog}: --max_bytes must be positive", file=sys.stderr)
        return 2
    if not pathlib.Path(args.constraints).is_file():
        print(f"{prog}: no constraints file {args.constraints}", file=sys.stderr)
        return 2
    sources = BuiltinSources()
    problems = pin_problems(sources, pinned_versions(args.constraints))
    if problems:
        print(f"{prog}: this environment would not give the pinned snapshot:", file=sys.stderr)
        for problem in problems:
            print(f"  {problem}", file=sys.stderr)
        return 2
    manifest = write_snapshot(args.out, sources, args.max_bytes)
    print(f"wrote the built-in corpus to {args.out}, fingerprint {manifest['fingerprint']}")
    for name, info in manifest["domains"].items():
        print(f"  {name:<18}{info['documents']:>6} documents{info['bytes']:>10} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
