"""Real text that every installation carries, gathered into documents per built-in domain.

Each collector walks its files in sorted order and yields (path, document); the same
installation therefore always yields the same documents in the same order.

  python_code       standard-library Python modules (tests excluded)
  python_tests      the standard library's own test suite
  c_code            C headers and sources of CPython and installed packages (numpy, ...)
  docstrings        docstrings of installed packages, extracted with `ast`: technical English
  markdown          package READMEs (long descriptions in installed metadata) and .md files
  licenses          licence texts of the installed distributions and of Python itself
Held-out targets (scored, never trained on):
  python_reference  the language reference topics of `pydoc_data`: English prose about Python
  numpy_stubs       numpy's type stubs (.pyi): typed API signatures, the demo's objective
"""

from __future__ import annotations

import ast
import dataclasses
import email
import fnmatch
import os
import pathlib
import sysconfig
from typing import Callable, Iterator

TRAIN_DOMAINS = ("python_code", "python_tests", "c_code", "docstrings", "markdown", "licenses")
TARGET_DOMAINS = ("python_reference", "numpy_stubs")
MAX_FILE_BYTES = 1 << 20  # larger files are generated code or data, not prose or code
MIN_DOC_BYTES = 200
_LICENCE_NAMES = ("LICEN", "COPYING", "NOTICE")


@dataclasses.dataclass(frozen=True)
class BuiltinSources:
    """Folders the built-in corpus reads; defaults describe the running installation."""

    stdlib: str = dataclasses.field(default_factory=lambda: sysconfig.get_paths()["stdlib"])
    include: str = dataclasses.field(default_factory=lambda: sysconfig.get_paths()["include"])
    site_packages: tuple[str, ...] = dataclasses.field(
        default_factory=lambda: tuple(sorted({sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}))
    )


Document = tuple[pathlib.Path, bytes]


def _files(
    roots,
    pattern: str,
    keep: Callable[[pathlib.Path], bool] = lambda p: True,
    skip_dirs: tuple[str, ...] = ("__pycache__",),
) -> Iterator[pathlib.Path]:
    """Files under `roots` matching `pattern`, in sorted order, not below any `skip_dirs`."""
    for root in roots:
        for folder, dirs, names in os.walk(root):
            dirs[:] = sorted(d for d in dirs if d not in skip_dirs)
            for name in sorted(names):
                p = pathlib.Path(folder, name)
                if (
                    fnmatch.fnmatchcase(name, pattern)
                    and p.is_file()
                    and p.stat().st_size <= MAX_FILE_BYTES
                    and keep(p)
                ):
                    yield p


def _python_code(src: BuiltinSources) -> Iterator[Document]:
    skip = ("__pycache__", "site-packages", "dist-packages", "test", "tests")
    for p in _files([src.stdlib], "*.py", skip_dirs=skip):
        yield p, p.read_bytes()


def _python_tests(src: BuiltinSources) -> Iterator[Document]:
    for p in _files([pathlib.Path(src.stdlib) / "test"], "*.py"):
        yield p, p.read_bytes()


def _c_code(src: BuiltinSources) -> Iterator[Document]:
    for pattern in ("*.h", "*.c"):
        for p in _files([src.include, *src.site_packages], pattern):
            yield p, p.read_bytes()


def _docstrings(src: BuiltinSources) -> Iterator[Document]:
    for p in _files(src.site_packages, "*.py"):
        try:
            tree = ast.parse(p.read_bytes())
        except (SyntaxError, ValueError, RecursionError):
            continue
        kinds = (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)
        texts = [ast.get_docstring(n) for n in ast.walk(tree) if isinstance(n, kinds)]
        yield p, "\n\n".join(t for t in texts if t).encode("utf-8")


def _markdown(src: BuiltinSources) -> Iterator[Document]:
    for p in _files(src.site_packages, "METADATA", lambda p: p.parent.suffix == ".dist-info"):
        message = email.message_from_bytes(p.read_bytes())
        body = message.get_payload() or message.get("Description", "")
        yield p, (body if isinstance(body, str) else "").encode("utf-8", errors="replace")
    for p in _files(src.site_packages, "*.md"):
        yield p, p.read_bytes()


def _licenses(src: BuiltinSources) -> Iterator[Document]:
    stdlib_licence = pathlib.Path(src.stdlib) / "LICENSE.txt"
    if stdlib_licence.is_file():
        yield stdlib_licence, stdlib_licence.read_bytes()
    in_dist_info = lambda p: (
        any(part.endswith(".dist-info") for part in p.parts) and p.name.upper().startswith(_LICENCE_NAMES)
    )
    for p in _files(src.site_packages, "*", in_dist_info):
        yield p, p.read_bytes()


def _python_reference(src: BuiltinSources) -> Iterator[Document]:
    path = pathlib.Path(src.stdlib) / "pydoc_data" / "topics.py"
    if not path.is_file():
        return
    topics = ast.literal_eval(ast.parse(path.read_bytes()).body[-1].value)
    for name in sorted(topics):
        yield path.with_name(f"topics.py#{name}"), topics[name].encode("utf-8")


def _numpy_stubs(src: BuiltinSources) -> Iterator[Document]:
    for p in _files([pathlib.Path(root) / "numpy" for root in src.site_packages], "*.pyi"):
        yield p, p.read_bytes()


COLLECTORS: dict[str, Callable[[BuiltinSources], Iterator[Document]]] = {
    "python_code": _python_code,
    "python_tests": _python_tests,
    "c_code": _c_code,
    "docstrings": _docstrings,
    "markdown": _markdown,
    "licenses": _licenses,
    "python_reference": _python_reference,
    "numpy_stubs": _numpy_stubs,
}


def collect(name: str, sources: BuiltinSources) -> Iterator[Document]:
    """Yields the documents of built-in domain `name` in a fixed order: text files only
    (UTF-8, no NUL bytes), each at least MIN_DOC_BYTES. Capping and de-duplication happen
    in the caller."""
    for path, doc in COLLECTORS[name](sources):
        try:
            doc.decode("utf-8")
        except UnicodeDecodeError:
            continue  # binary or legacy-encoded file
        if len(doc.strip()) >= MIN_DOC_BYTES and b"\0" not in doc:
            yield path, doc
