"""What the experiment tests share: the shipped configs they load and the stand-in trainer's bindings."""

DEMO = ["configs/experiments/demo.gin"]
SMOKE = DEMO + ["configs/experiments/smoke.gin"]
SYNTHETIC = ["experiment.trainer = 'admire_jax.experiment.synthetic:main'", "Runtime.poll_seconds = 0.05"]
