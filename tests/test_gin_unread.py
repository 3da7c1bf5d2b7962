"""A binding the run never reads is named when the run ends, not passed over in silence."""

import gin
import pytest

from admire_jax import gin_cli, gin_unread


@gin.configurable
def used_component(width=1, depth=1):
    return width * depth


@gin.configurable
def unused_component(size=1):
    return size


def test_the_users_bindings_that_were_never_read_are_named(tmp_path, capsys):
    shipped = tmp_path / "configs"
    shipped.mkdir()
    (shipped / "preset.gin").write_text("unused_component.size = 3\n")  # a shipped file: never listed
    user = tmp_path / "mine.gin"
    user.write_text("used_component.width = 2\nunused_component.size = 5\nMACRO = 1\n")
    bindings = ["used_component.depth = 3"]
    files = gin_cli.parse_gin([str(shipped / "preset.gin"), str(user)], bindings, [str(tmp_path)])
    parameters = gin_unread.user_parameters(files, bindings, str(shipped))
    assert parameters == ["used_component.width", "unused_component.size", "used_component.depth"]
    assert used_component() == 6
    assert gin_unread.warn_unread("prog", parameters) == ["unused_component.size"]
    err = capsys.readouterr().err
    assert "never read" in err and "unused_component.size" in err and "used_component.width" not in err


def test_nothing_is_printed_when_every_binding_was_read(capsys):
    gin_cli.parse_gin([], ["used_component.width = 2"])
    used_component()
    assert gin_unread.warn_unread("prog", ["used_component.width"]) == []
    assert capsys.readouterr().err == ""


@pytest.mark.parametrize("binding", ["used_component.width=2", "not a binding"])
def test_flags_are_read_as_bindings_only_when_they_are_bindings(binding):
    names = gin_unread.user_parameters([], [binding.replace("=", " = ")], "/nonexistent")
    assert names == (["used_component.width"] if "." in binding else [])


@gin.configurable
def made_later(size=1):
    return size


@gin.configurable
def holder(factory=None):
    return factory


def test_a_configurable_referred_to_by_a_read_parameter_counts_as_read():
    gin_cli.parse_gin([], ["holder.factory = @made_later", "made_later.size = 2", "unused_component.size = 3"])
    assert holder()() == 2  # the reference is read now ...
    gin_cli.parse_gin([], ["holder.factory = @made_later", "made_later.size = 2", "unused_component.size = 3"])
    holder()  # ... and counts as read before the factory is called
    assert gin_unread.unread(["made_later.size", "unused_component.size"]) == ["unused_component.size"]
    assert gin_unread.unread(["unused_component.size"], forwarded=["unused_component.size"]) == []
