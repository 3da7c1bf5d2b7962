"""Test set-up: eight simulated CPU devices, fixed before jax is imported anywhere."""

import os

os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=8").strip()
os.environ.setdefault("JAX_PLATFORMS", "cpu")

import pytest  # noqa: E402


@pytest.fixture(autouse=True)
def clean_gin():
    """Every test starts and ends with no gin bindings, so no test depends on another's config."""
    import gin

    gin.clear_config()
    yield
    gin.clear_config()


@pytest.fixture
def fixed_learning_rate():
    """A clean gin config with only the trainer's learning rate bound, cleared afterwards."""
    import gin

    gin.clear_config()
    gin.bind_parameter("learning_rate_schedule.learning_rate", 0.01)
    yield
    gin.clear_config()


@pytest.fixture
def bucket(tmp_path, monkeypatch):
    """Object storage for the test: gs://NAME/PATH is tmp_path/bucket/NAME/PATH (tests/local_bucket.py)."""
    from tests.local_bucket import serve_bucket

    yield from serve_bucket(tmp_path / "bucket", monkeypatch)


@pytest.fixture(scope="session")
def tiny_checkpoints():
    """`scripts/make_tiny_checkpoints.py`: tiny random Llama / Qwen2 checkpoints."""
    from scripts import make_tiny_checkpoints

    return make_tiny_checkpoints
