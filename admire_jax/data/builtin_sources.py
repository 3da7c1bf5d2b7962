"""Where the built-in corpus's text comes from: one pinned Python and named pinned distributions.

The corpus is shipped with the package (see `builtin_shipped.py`); these collectors are what
`python -m admire_jax.data.builtin_snapshot` runs to make that snapshot again. They read only the
standard library of the running Python, numpy and the distributions named in PACKAGES (all pinned in
constraints.txt, all install requirements of admire-jax), never whatever else is installed; each
walks its files in sorted order, so the same versions always give the same documents in the same order.

  python_code       standard-library Python modules (tests excluded)
  python_tests      the standard library's own test suite
  c_code            CPython's C headers, then numpy's C headers and sources
  docstrings        docstrings of the named distributions (numpy excluded), extracted with `ast`
  markdown          READMEs (long descriptions in their metadata) and .md files of the named distributions
  licenses          Python's licence and the licence texts of the named distributions
Held-out targets (scored, never trained on):
  python_reference  the language reference topics of `pydoc_data`: English prose about Python
  numpy_stubs       numpy's type stubs (.pyi): typed API signatures, the demo's objective
"""

from __future__ import annotations

import ast
import dataclasses
import email
import importlib.metadata
import itertools
import pathlib
import platform
import re
import sysconfig
from typing import Callable, Iterable, Iterator

TRAIN_DOMAINS = ("python_code", "python_tests", "c_code", "docstrings", "markdown", "licenses")
TARGET_DOMAINS = ("python_reference", "numpy_stubs")
MAX_FILE_BYTES = 1 << 20  # larger files are generated code or data, not prose or code
MIN_DOC_BYTES = 200

# admire-jax's install requirements, as pinned in constraints.txt (numpy apart: it is the target's source).
PACKAGES = (
    "jax",
    "jaxlib",
    "flax",
    "optax",
    "orbax-checkpoint",
    "tensorflow-datasets",
    "array_record",
    "numpyro",
    "gin-config",
    "scipy",
    "pandas",
    "matplotlib",
    "lightgbm",
    "tensorboardX",
    "tqdm",
    "threadpoolctl",
)
_LICENCE_NAMES = ("LICEN", "COPYING", "NOTICE")


class MissingDistributionError(LookupError):
    """A named distribution is not installed where the snapshot looks."""


@dataclasses.dataclass(frozen=True)
class BuiltinSources:
    """The Python installation a snapshot reads; defaults describe the running interpreter."""

    stdlib: str = dataclasses.field(default_factory=lambda: sysconfig.get_paths()["stdlib"])
    include: str = dataclasses.field(default_factory=lambda: sysconfig.get_paths()["include"])
    site_packages: tuple[str, ...] = dataclasses.field(
        default_factory=lambda: tuple(sorted({sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}))
    )
    python_version: str = dataclasses.field(default_factory=platform.python_version)
    packages: tuple[str, ...] = PACKAGES  # docstrings, READMEs and licences come from these

    @property
    def distributions(self) -> tuple[str, ...]:
        """Every distribution the snapshot reads: the packages and numpy."""
        return (*self.packages, "numpy")

    def distribution(self, name: str) -> importlib.metadata.Distribution:
        """The installed distribution `name` under `site_packages` (not the running environment's)."""
        wanted = _canonical(name)
        for dist in importlib.metadata.distributions(path=list(self.site_packages)):
            if _canonical(dist.metadata["Name"] or "") == wanted:
                return dist
        raise MissingDistributionError(f"distribution {name!r} is not installed in {list(self.site_packages)}")


Document = tuple[str, bytes]  # (where it comes from, e.g. 'numpy-2.4.6/numpy/__init__.pyi'; its text)


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _tree(
    root: pathlib.Path, label: str, pattern: str, skip_dirs=("__pycache__",)
) -> Iterator[tuple[str, pathlib.Path]]:
    """(label/relative path, path) of the files under `root` matching `pattern`, in sorted order."""
    files = (p for p in root.rglob(pattern) if not set(p.relative_to(root).parts[:-1]) & set(skip_dirs))
    for p in sorted(files, key=lambda p: p.relative_to(root).parts):
        if p.is_file() and p.stat().st_size <= MAX_FILE_BYTES:
            yield f"{label}/{p.relative_to(root).as_posix()}", p


def _dist_files(src: BuiltinSources, name: str, keep: Callable[[pathlib.PurePosixPath], bool]):
    """(label, path) of the files the distribution's RECORD lists under its site folder, sorted."""
    dist = src.distribution(name)
    label = f"{_canonical(name)}-{dist.version}"
    listed = sorted(pathlib.PurePosixPath(str(f)) for f in dist.files or ())
    for rel in listed:
        path = pathlib.Path(dist.locate_file(str(rel)))
        if ".." not in rel.parts and keep(rel) and path.is_file() and path.stat().st_size <= MAX_FILE_BYTES:
            yield f"{label}/{rel}", path


def _interleave(streams: Iterable[Iterator[Document]]) -> Iterator[Document]:
    """One document from each stream in turn, so a capped domain holds every distribution."""
    for batch in itertools.zip_longest(*streams):
        yield from (doc for doc in batch if doc is not None)


def _stdlib(src: BuiltinSources) -> tuple[pathlib.Path, str]:
    return pathlib.Path(src.stdlib), f"python-{src.python_version}/lib"


def _python_code(src: BuiltinSources) -> Iterator[Document]:
    root, label = _stdlib(src)
    skip = ("__pycache__", "site-packages", "dist-packages", "test", "tests")
    for name, p in _tree(root, label, "*.py", skip):
        yield name, p.read_bytes()


def _python_tests(src: BuiltinSources) -> Iterator[Document]:
    root, label = _stdlib(src)
    for name, p in _tree(root / "test", f"{label}/test", "*.py"):
        yield name, p.read_bytes()


def _c_code(src: BuiltinSources) -> Iterator[Document]:
    for name, p in _tree(pathlib.Path(src.include), f"python-{src.python_version}/include", "*.h"):
        yield name, p.read_bytes()
    for name, p in _dist_files(src, "numpy", lambda rel: rel.suffix in (".h", ".c")):
        yield name, p.read_bytes()


def _docstrings_of(src: BuiltinSources, dist: str) -> Iterator[Document]:
    kinds = (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)
    for name, p in _dist_files(src, dist, lambda rel: rel.suffix == ".py"):
        try:
            tree = ast.parse(p.read_bytes())
        except (SyntaxError, ValueError, RecursionError):
            continue
        texts = [ast.get_docstring(n) for n in ast.walk(tree) if isinstance(n, kinds)]
        yield name, "\n\n".join(t for t in texts if t).encode("utf-8")


def _docstrings(src: BuiltinSources) -> Iterator[Document]:
    return _interleave(_docstrings_of(src, d) for d in src.packages)


def _markdown_of(src: BuiltinSources, dist: str) -> Iterator[Document]:
    for name, p in _dist_files(src, dist, lambda rel: rel.name == "METADATA" and rel.parent.suffix == ".dist-info"):
        message = email.message_from_bytes(p.read_bytes())
        body = message.get_payload() or message.get("Description", "")
        yield name, (body if isinstance(body, str) else "").encode("utf-8", errors="replace")
    for name, p in _dist_files(src, dist, lambda rel: rel.suffix == ".md"):
        yield name, p.read_bytes()


def _markdown(src: BuiltinSources) -> Iterator[Document]:
    return _interleave(_markdown_of(src, d) for d in src.packages)


def _is_licence(rel: pathlib.PurePosixPath) -> bool:
    return any(part.endswith(".dist-info") for part in rel.parts) and rel.name.upper().startswith(_LICENCE_NAMES)


def _licenses(src: BuiltinSources) -> Iterator[Document]:
    root, label = _stdlib(src)
    if (root / "LICENSE.txt").is_file():
        yield f"{label}/LICENSE.txt", (root / "LICENSE.txt").read_bytes()
    streams = ((((n, p.read_bytes()) for n, p in _dist_files(src, d, _is_licence))) for d in src.distributions)
    yield from _interleave(streams)


def _python_reference(src: BuiltinSources) -> Iterator[Document]:
    root, label = _stdlib(src)
    path = root / "pydoc_data" / "topics.py"
    if not path.is_file():
        return
    topics = ast.literal_eval(ast.parse(path.read_bytes()).body[-1].value)
    for name in sorted(topics):
        yield f"{label}/pydoc_data/topics.py#{name}", topics[name].encode("utf-8")


def _numpy_stubs(src: BuiltinSources) -> Iterator[Document]:
    for name, p in _dist_files(src, "numpy", lambda rel: rel.suffix == ".pyi"):
        yield name, p.read_bytes()


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
    for label, doc in COLLECTORS[name](sources):
        try:
            doc.decode("utf-8")
        except UnicodeDecodeError:
            continue  # binary or legacy-encoded file
        if len(doc.strip()) >= MIN_DOC_BYTES and b"\0" not in doc:
            yield label, doc
