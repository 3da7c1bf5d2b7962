"""The wheel: built from the tree and installed into a fresh folder, it trains from any folder,
with its configs shipped inside the package."""

from __future__ import annotations

import json
import os
import pathlib
import shutil
import subprocess
import sys
import zipfile

import pytest

REPO = pathlib.Path(__file__).resolve().parents[1]
# What the build reads; copied so that setuptools' build/ and *.egg-info stay out of the tree.
BUILD_INPUTS = ("setup.py", "pyproject.toml", "MANIFEST.in", "README.md", "admire_jax", "configs")


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> pathlib.Path:
    """A folder holding the wheel's install (--target, no dependencies: jax comes from this env)."""
    root = tmp_path_factory.mktemp("wheel")
    source = root / "source"
    source.mkdir()
    for name in BUILD_INPUTS:
        if (REPO / name).is_dir():
            shutil.copytree(REPO / name, source / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(REPO / name, source / name)
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check"]
    built = subprocess.run(
        [*pip, "wheel", "--no-deps", "--no-build-isolation", str(source), "-w", str(root / "dist")],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert built.returncode == 0, built.stdout[-3000:] + built.stderr[-3000:]
    (wheel,) = (root / "dist").glob("admire_jax-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "admire_jax/configs/models/1m.gin" in names and "admire_jax/configs/train/default.gin" in names
    site = root / "site"
    done = subprocess.run(
        [*pip, "install", "--no-deps", "--no-index", "--target", str(site), str(wheel)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return site


@pytest.mark.slow
def test_the_installed_wheel_trains_from_a_folder_outside_the_repository(installed, tmp_path):
    work = tmp_path / "elsewhere"
    work.mkdir()
    # a user's own gin file including a shipped one by the name the docs use
    (work / "small_data.gin").write_text("include 'configs/data/builtin.gin'\nMAX_BYTES = 200000\n")
    env = {
        **os.environ,
        "PYTHONPATH": str(installed),  # the installed copy only, not the source tree
        "ADMIRE_JAX_DATA_DIR": str(tmp_path / "data"),
        "JAX_PLATFORMS": "cpu",
        "XLA_FLAGS": "",
    }
    where = subprocess.run(
        [sys.executable, "-c", "import admire_jax, admire_jax.gin_cli as g; print(admire_jax.__file__, g.CONFIG_ROOT)"],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
    )
    package_file, config_root = where.stdout.split()
    assert package_file == str(installed / "admire_jax" / "__init__.py")
    assert config_root == str(installed / "admire_jax" / "configs")

    run = subprocess.run(
        [
            str(installed / "bin" / "admire-jax"),
            "train",
            "--preset=1m",
            "--gin_file=small_data.gin",
            "--gin.TrainConfig.steps=2",
            "--gin.GLOBAL_BATCH=4",
            "--gin.SEQ_LEN=32",
            "--gin.TransformerConfig.num_layers=1",
            "--gin.proxy_data.validation_sequences=4",
            "--gin.enable_compilation_cache.directory=None",
            "--run_dir=run",
        ],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    result = json.loads((work / "run" / "result.json").read_text())
    assert result["status"] == "ok" and result["preset"] == "1m" and result["steps"] == 2
    assert "ERROR" not in run.stderr  # no include lookup complains on its way to the shipped file
    operative = (work / "run" / "config.gin").read_text()  # the shipped builtin.gin was read, then ours
    assert "builtin_domains.max_bytes = %MAX_BYTES" in operative and "\nMAX_BYTES = 200000\n" in operative
