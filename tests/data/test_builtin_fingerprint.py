"""The built-in corpus fingerprint: content only, the same in any folder and with any extra package."""

import gzip
import json
import os
import re
import shutil
import subprocess
import sys

from admire_jax.data import builtin_fingerprint, builtin_manifest
from admire_jax.data.builtin_shipped import (
    SHIPPED_DIR,
    content_fingerprint,
    domain_file,
    shipped_manifest,
    write_domain,
)


def _copy(tmp_path):
    return shutil.copytree(SHIPPED_DIR, tmp_path / "elsewhere" / "corpus")


def test_the_fingerprint_is_stable_and_the_one_the_shipped_manifest_names():
    first, second = builtin_fingerprint(), builtin_fingerprint()
    assert first == second == shipped_manifest()["fingerprint"]
    assert re.fullmatch("[0-9a-f]{64}", first)


def test_a_copy_in_another_folder_has_the_same_fingerprint_and_corpus(tmp_path):
    copy = _copy(tmp_path)
    assert builtin_fingerprint(copy) == builtin_fingerprint()
    shipped = builtin_manifest(max_bytes=30_000, data_dir=tmp_path / "a")
    copied = builtin_manifest(max_bytes=30_000, data_dir=tmp_path / "b", corpus_dir=copy)
    assert shipped["hash"] == copied["hash"] and copied["fingerprint"] == builtin_fingerprint()


def test_an_edited_document_changes_the_fingerprint(tmp_path):
    copy = _copy(tmp_path)
    with gzip.open(domain_file(copy, "licenses"), "rt", encoding="utf-8") as f:
        records = [json.loads(line) for line in f]
    records[3]["text"] += "\n"
    write_domain(copy, "licenses", [(r["source"], r["text"].encode("utf-8")) for r in records])
    edited = builtin_fingerprint(copy)
    assert edited != builtin_fingerprint()
    assert builtin_manifest(max_bytes=30_000, data_dir=tmp_path / "b", corpus_dir=copy)["fingerprint"] == edited


def test_moving_text_between_documents_or_domains_changes_the_fingerprint():
    base = content_fingerprint({"a": (b"xy", b"z"), "b": (b"w",)})
    assert base != content_fingerprint({"a": (b"x", b"yz"), "b": (b"w",)})
    assert base != content_fingerprint({"a": (b"xy",), "b": (b"z", b"w")})
    assert base == content_fingerprint({"b": (b"w",), "a": (b"xy", b"z")})


_EXTRA = """
import importlib.metadata, sys
from admire_jax.data import builtin_fingerprint, builtin_manifest
print(importlib.metadata.version("admire-extra-package"))
print(builtin_fingerprint())
print(builtin_manifest(max_bytes=30_000, data_dir=sys.argv[1])["hash"])
"""


def _fake_distribution(site):
    """An installed distribution with everything the corpus once gathered: docstrings, a README,
    Markdown, a licence, a C header and type stubs."""
    package, info = site / "admire_extra_package", site / "admire_extra_package-1.0.dist-info"
    package.mkdir(parents=True)
    info.mkdir()
    (package / "__init__.py").write_text('"""' + "An extra package's docstring. " * 20 + '"""\n')
    (package / "NOTES.md").write_text("# Notes\n\n" + "Some markdown text. " * 30)
    (package / "extra.h").write_text("#define EXTRA 1\n" * 30)
    (package / "__init__.pyi").write_text("def extra(x: int) -> int: ...\n" * 20)
    readme = "# admire extra package\n\n" + "A README that must not reach the corpus. " * 20
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: admire-extra-package\nVersion: 1.0\n\n{readme}\n")
    (info / "LICENSE").write_text("Permission is hereby granted to everyone. " * 20)
    files = [p.relative_to(site).as_posix() for p in sorted(site.rglob("*")) if p.is_file()]
    (info / "RECORD").write_text("".join(f"{f},,\n" for f in [*files, f"{info.name}/RECORD"]))


def test_an_extra_installed_distribution_changes_nothing(tmp_path):
    site = tmp_path / "site-packages"
    _fake_distribution(site)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")])}
    out = subprocess.run(
        [sys.executable, "-c", _EXTRA, str(tmp_path / "data")], env=env, capture_output=True, text=True, timeout=300
    )
    assert out.returncode == 0, out.stderr[-3000:]
    version, fingerprint, selection = out.stdout.split()
    assert version == "1.0"  # the extra distribution is installed in that process
    assert fingerprint == builtin_fingerprint()
    assert selection == builtin_manifest(max_bytes=30_000, data_dir=tmp_path / "here")["hash"]
