"""gin_cli: where gin files and their includes are found (the shipped configs from any folder)."""

from __future__ import annotations

import logging
import os
import pathlib

import gin
import pytest

from admire_jax import gin_cli

REPO = pathlib.Path(__file__).resolve().parents[1]


def test_a_source_checkout_reads_the_top_level_configs_folder():
    assert pathlib.Path(gin_cli.CONFIG_ROOT) == REPO / "configs"
    assert "1m" in gin_cli.known_presets() and os.path.isfile(gin_cli.preset_file("1m"))


def test_shipped_configs_resolve_from_any_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    paths = gin_cli.with_default_search_paths(())
    for name in ("configs/models/1m.gin", "models/1m.gin"):
        assert gin_cli.resolve(name, paths) == str(REPO / "configs" / "models" / "1m.gin")
    with pytest.raises(gin_cli.UsageError, match="gin file not found: configs/models/9m.gin"):
        gin_cli.resolve("configs/models/9m.gin", paths)


def test_an_include_of_a_shipped_file_resolves_from_a_users_folder(tmp_path, monkeypatch, caplog):
    """configs/data/local.gin includes 'configs/data/builtin.gin'; so may a user's own file. With
    the repository root on sys.path, `configs` is a namespace package, which gin's package-file
    reader cannot look into (it raised TypeError) and logged an error for each miss."""
    (tmp_path / "mine.gin").write_text("include 'configs/data/builtin.gin'\nMAX_BYTES = 1234\n")
    monkeypatch.chdir(tmp_path)
    gin_cli.parse_gin(["mine.gin", "configs/data/local.gin"], [])
    assert gin_cli.bound("%MAX_BYTES") == 4000000  # local.gin's include came last
    gin_cli.parse_gin(["configs/data/local.gin", "mine.gin"], [])
    assert gin_cli.bound("%MAX_BYTES") == 1234
    assert not [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]


def test_an_include_may_name_a_file_of_an_installed_package(tmp_path, monkeypatch):
    """gin's package-file reader still answers: 'PACKAGE/NAME.gin' is NAME.gin beside the package."""
    package = tmp_path / "site" / "someone_elses"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "base.gin").write_text("MAX_BYTES = 77\n")
    (tmp_path / "mine.gin").write_text("include 'someone_elses/base.gin'\n")
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    monkeypatch.chdir(tmp_path)
    gin_cli.parse_gin(["mine.gin"], [])
    assert gin_cli.bound("%MAX_BYTES") == 77


def test_the_working_directory_then_search_paths_come_before_the_shipped_configs(tmp_path, monkeypatch):
    """A path is first read as given (from the working directory), then under --gin_search_paths,
    then from the shipped configs."""
    for folder, preset in (("project", "own"), ("extra", "extra")):
        models = tmp_path / folder / "configs" / "models"
        models.mkdir(parents=True)
        (models / "1m.gin").write_text(f"PRESET = '{preset}'\n")
    args, _ = gin_cli.parse_args(gin_cli.parser("t", ""), [f"--gin_search_paths={tmp_path / 'extra'}"])
    for cwd, preset in ((tmp_path / "project", "own"), (tmp_path, "extra")):
        monkeypatch.chdir(cwd)
        gin_cli.parse_gin(["configs/models/1m.gin"], [], gin_cli.search_paths(args))
        assert gin.query_parameter("%PRESET") == preset
    gin_cli.parse_gin(["configs/models/1m.gin"], [])
    assert gin.query_parameter("%PRESET") == "1m"
