"""Object storage for tests: gs://NAME/PATH served from a local folder by an fsspec filesystem,
the interface gcsfs gives etils.epath (and through it orbax's metadata and TFDS) on a pod."""

import os

import fsspec
import pytest
from fsspec.implementations.local import LocalFileSystem


class LocalBucket(LocalFileSystem):
    """gs://NAME/PATH served from ROOT/NAME/PATH."""

    protocol = ("gs", "gcs")  # epath asks fsspec for 'gcs'
    root = ""

    def __init__(self, *args, finalize_on_close=None, **kwargs):
        super().__init__(auto_mkdir=True)

    @classmethod
    def _strip_protocol(cls, path):
        path = os.fspath(path)
        if path.startswith("gs://"):
            path = os.path.join(cls.root, path[len("gs://") :])
        return super()._strip_protocol(path)


@pytest.fixture
def bucket(tmp_path, monkeypatch):
    """The local folder behind gs:// for this test."""
    monkeypatch.setattr(LocalBucket, "root", str(tmp_path / "bucket"))
    for name in LocalBucket.protocol:
        fsspec.register_implementation(name, LocalBucket, clobber=True)
    LocalBucket.clear_instance_cache()
    yield tmp_path / "bucket"
    LocalBucket.clear_instance_cache()
