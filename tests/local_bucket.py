"""Object storage for tests: gs://NAME/PATH served from a local folder by an fsspec filesystem,
the interface gcsfs gives etils.epath (and through it orbax's metadata and TFDS) on a pod."""

import os

import fsspec
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


def serve_bucket(root, monkeypatch):
    """Serves gs:// from `root` while the test runs (the `bucket` fixture); yields `root`."""
    monkeypatch.setattr(LocalBucket, "root", str(root))
    for name in LocalBucket.protocol:
        fsspec.register_implementation(name, LocalBucket, clobber=True)
    LocalBucket.clear_instance_cache()
    yield root
    LocalBucket.clear_instance_cache()
