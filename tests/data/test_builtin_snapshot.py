"""Making the shipped corpus again: only the pinned Python and the named distributions, same bytes."""

import dataclasses
import pathlib
import shutil
import sys

import gin
import numpy

from admire_jax.data.builtin_shipped import ALL_DOMAINS, SHIPPED_DIR, builtin_fingerprint, domain_file
from admire_jax.data.builtin_snapshot import main, pin_problems, pinned_versions, write_snapshot
from admire_jax.data.builtin_sources import BuiltinSources

STDLIB = pathlib.Path(sys.base_prefix) / "lib" / f"python{sys.version_info[0]}.{sys.version_info[1]}"


def _copy_distribution(module_dir: pathlib.Path, site: pathlib.Path, dist_glob: str, files=None):
    """A distribution's metadata and its package folder (or only `files` of it) copied into `site`."""
    dist = next(module_dir.parent.glob(dist_glob))
    shutil.copytree(dist, site / dist.name)
    if files is None:
        shutil.copytree(module_dir, site / module_dir.name, ignore=shutil.ignore_patterns("__pycache__"))
    for f in files or ():
        (site / module_dir.name / f).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(module_dir / f, site / module_dir.name / f)


def _fake_installation(root: pathlib.Path) -> BuiltinSources:
    """A small Python installation made of copies of real files: gin-config and numpy as the named
    distributions with threadpoolctl, and `six` installed beside them but not named."""
    stdlib, include, site = root / "lib", root / "include", root / "site-packages"
    shutil.copytree(STDLIB / "json", stdlib / "json", ignore=shutil.ignore_patterns("__pycache__"))
    (stdlib / "test").mkdir(parents=True)
    for name in ("test_bisect.py", "test_heapq.py"):
        shutil.copy(STDLIB / "test" / name, stdlib / "test" / name)
    shutil.copy(STDLIB / "LICENSE.txt", stdlib / "LICENSE.txt")
    shutil.copytree(STDLIB / "pydoc_data", stdlib / "pydoc_data", ignore=shutil.ignore_patterns("__pycache__"))
    include.mkdir(parents=True)
    for h in sorted(pathlib.Path(sys.base_prefix, "include").rglob("*.h"))[:3]:
        shutil.copy(h, include / h.name)
    numpy_dir = pathlib.Path(numpy.__file__).parent
    stubs = [p.relative_to(numpy_dir) for p in sorted(numpy_dir.glob("*.pyi"))[:3]]
    header = next(numpy_dir.rglob("npy_os.h")).relative_to(numpy_dir)
    _copy_distribution(numpy_dir, site, "numpy-*.dist-info", [*stubs, header])
    _copy_distribution(pathlib.Path(gin.__file__).parent, site, "gin_config-*.dist-info")
    for module in ("threadpoolctl", "six"):
        path = pathlib.Path(__import__(module).__file__)
        shutil.copy(path, site / path.name)
        info = next(path.parent.glob(f"{module}-*.dist-info"))
        shutil.copytree(info, site / info.name)
    return BuiltinSources(str(stdlib), str(include), (str(site),), packages=("gin-config", "threadpoolctl"))


def _sources(folder, name):
    import gzip
    import json

    with gzip.open(domain_file(folder, name), "rt", encoding="utf-8") as f:
        return [json.loads(line)["source"] for line in f]


def test_a_snapshot_reads_only_named_sources_and_gives_the_same_bytes_twice(tmp_path):
    sources = _fake_installation(tmp_path / "install")
    first = write_snapshot(tmp_path / "one", sources, max_bytes=50_000)
    write_snapshot(tmp_path / "two", sources, max_bytes=50_000)
    for path in sorted((tmp_path / "one").iterdir()):
        assert path.read_bytes() == (tmp_path / "two" / path.name).read_bytes(), path.name
    assert list(first["distributions"]) == ["gin-config", "threadpoolctl", "numpy"]
    assert first["fingerprint"] == builtin_fingerprint(tmp_path / "one")
    labels = {name: _sources(tmp_path / "one", name) for name in ALL_DOMAINS}
    assert not any("six" in label for found in labels.values() for label in found)
    assert {label.split("/")[0] for label in labels["markdown"]} == {"gin-config-0.5.0", "threadpoolctl-3.8.0"}
    assert any(label.startswith("numpy-") for label in labels["c_code"])
    assert all(label.startswith("numpy-") and label.endswith(".pyi") for label in labels["numpy_stubs"])
    assert labels["licenses"][0].endswith("/lib/LICENSE.txt")


def gin_version():
    import importlib.metadata

    return importlib.metadata.version("gin-config")


def test_pin_problems_name_the_python_and_every_unpinned_or_other_version(tmp_path):
    sources = _fake_installation(tmp_path / "install")
    pins = {"gin-config": gin_version(), "threadpoolctl": "3.8.0", "numpy": numpy.__version__}
    assert pin_problems(dataclasses.replace(sources, python_version="3.11.7"), pins) == []
    problems = pin_problems(dataclasses.replace(sources, python_version="3.12.1"), {"gin-config": "0.1"})
    assert problems == [
        "Python is 3.12.1, the snapshot's is 3.11.7",
        f"gin-config is {gin_version()}, the constraints file pins 0.1",
        "threadpoolctl is not pinned in the constraints file",
        "numpy is not pinned in the constraints file",
    ]
    missing = pin_problems(dataclasses.replace(sources, packages=("flax",), python_version="3.11.7"), pins)
    assert len(missing) == 1 and "distribution 'flax' is not installed" in missing[0]


def test_the_constraints_file_pins_what_the_shipped_corpus_was_made_from(capsys, tmp_path):
    import json

    shipped = json.loads((SHIPPED_DIR / "manifest.json").read_text())
    pins = pinned_versions(pathlib.Path(__file__).parents[2] / "constraints.txt")
    assert {name: pins[name.lower().replace("_", "-")] for name in shipped["distributions"]} == shipped["distributions"]
    assert main(["--constraints", str(tmp_path / "none.txt"), "--out", str(tmp_path / "out")]) == 2
    assert "no constraints file" in capsys.readouterr().err and not (tmp_path / "out").exists()
