"""The proxy trainer: train one model on one data mixture, report per-domain validation loss and cost.

  trainer.py        the loop (resume, divergence, validation, result.json on every exit path)
  step.py           the jitted train / eval steps (explicit shardings, donated state, accumulation)
  state.py          train state, its shardings and sharded creation
  optimizer.py      AdamW + warm-up/cosine + clipping (gin)
  checkpoint.py     Orbax CheckpointManager (async saves, keep-last-n, restore)
  preemption.py     SIGTERM -> every process stops at the same step boundary, with a checkpoint
  evaluation.py     per-domain validation loss
  flops.py          device peak FLOPs / memory tables, MFU
  validate.py       `admire-jax validate`: ahead-of-time compile from shapes (CPU mesh or TPU topology)
  plan.py           a run's FLOPs, model size and evaluations before it runs (rung pricing)
  flags.py          --preset and --mesh, shared by `train` and `validate`
  cli.py            `admire-jax train`
Submodules are imported on use, so `admire-jax --help` stays fast.

A preempted run (SIGTERM: a spot VM reclaimed, a Slurm job signalled before its time limit) saves
a checkpoint at the next step boundary, writes result.json with status "preempted", and exits with
`PREEMPTED_EXIT_CODE`; a launcher or the experiment runs the same command again to resume it.
"""

PREEMPTED_EXIT_CODE = 75  # EX_TEMPFAIL (sysexits.h): a temporary failure, the same command resumes the run
