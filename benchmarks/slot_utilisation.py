"""Slot utilisation of the asynchronous controller against synchronous rounds, on one multi-rung search.

One experiment (the smoke-sized demo's domains and objective, the stand-in trainer of
`admire_jax.experiment.synthetic`, three rungs whose train tokens and hence FLOPs grow 4x a rung) is
run twice to the end of its budget on `--slots` slots of a virtual clock (tests/experiment/virtual.py:
a trial holds its slot for a virtual time proportional to its rung's tokens, so to its cost; no real
training and no real waiting):

- `asynchronous`: the controller as shipped; a slot freed by a cheap trial gets a proposal at once;
- `synchronous rounds`: the same controller behind `RoundsExecutor`, which withholds every freed slot
  until all the trials of the round have finished, as a controller that waits for the whole round
  before it proposes again does.

Per mode: the slot utilisation (busy slot time over slots x the time from the first launch to the
last finish, `progress.utilisation`, the figure `admire-jax status` shows), the virtual time to spend
the budget, the trials per rung, the budget spent, and how far the recommendation's true objective
(the synthetic trainer's known loss) sits above the best mixture's. The BO's asks take no virtual
time: the figures are the schedule's alone.

  python benchmarks/slot_utilisation.py --slots 4 --budget 1.5e11 --json slot_utilisation.json
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import sys
import tempfile
from pathlib import Path
from typing import Sequence

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script from anywhere: the repository's packages first
    sys.path.insert(0, str(ROOT))

from admire_jax.experiment import config, progress, proposals, synthetic  # noqa: E402
from admire_jax.experiment.controller import Controller  # noqa: E402
from admire_jax.experiment.store import SEARCH  # noqa: E402
from tests.experiment.virtual import SECONDS_PER_TOKEN, VirtualClock, VirtualExecutor  # noqa: E402

CONFIGS = [str(ROOT / "configs/experiments/demo.gin"), str(ROOT / "configs/experiments/smoke.gin")]
RUNG_TOKENS = {"xs": 256, "s": 1024, "m": 4096}  # 1m preset, one layer: 1.5e9, 6.1e9 and 2.5e10 FLOPs
MODES = ("asynchronous", "synchronous rounds")


class RoundsExecutor:
    """An executor that runs synchronous rounds: once a trial of the current round has finished, its
    slot (and every other freed one) stays withheld until the round's last trial has finished."""

    def __init__(self, inner: VirtualExecutor):
        self.inner, self._round_start = inner, 0

    @property
    def slots(self) -> int:
        """The slots the controller may fill now: all of them between rounds, else only the running ones."""
        this_round = [job for _, _, job in self.inner.submitted[self._round_start :]]
        if all(job.done() for job in this_round):
            self._round_start = len(self.inner.submitted)
            return self.inner.slots
        if any(job.done() for job in this_round):
            return sum(not job.done() for job in this_round)
        return self.inner.slots

    def submit(self, command, run_dir, slot):
        return self.inner.submit(command, run_dir, slot)


def bindings(slots: int, budget: float, seed: int) -> list[str]:
    rungs = ", ".join(
        f"'{name}': ('1m', {tokens}, ['TransformerConfig.num_layers = 1'])" for name, tokens in RUNG_TOKENS.items()
    )
    return [
        "experiment.trainer = 'admire_jax.experiment.synthetic:main'",
        f"experiment.rungs = {{{rungs}}}",
        f"Q = {slots}",
        f"SEED = {seed}",
        f"experiment.budget = {budget}",
        "experiment.max_trials = None",
        f"experiment.initial_trials = {slots}",
        "experiment.seed_per_trial = True",
        "Runtime.poll_seconds = 1.0",
        "Runtime.max_poll_seconds = 8.0",
    ]


def run(mode: str, slots: int, budget: float, seed: int, workdir: Path) -> dict:
    """One experiment to the end of its budget in `mode`; its figures."""
    exp = config.load(CONFIGS, bindings(slots, budget, seed))
    clock = VirtualClock()
    executor = VirtualExecutor(clock, slots=slots)
    exp.runtime.executor = executor if mode == MODES[0] else RoundsExecutor(executor)
    controller = Controller(
        exp, workdir / mode.replace(" ", "_"), log=lambda line: None, clock=clock, sleep=clock.sleep
    )
    with contextlib.redirect_stdout(io.StringIO()):  # the stand-in trainer's lines, one per trial
        controller.search()
    trials = controller.store.trials()
    searched = [t for t in trials if t.role == SEARCH]
    rec = proposals.recommend(exp, [], trials)[1]
    [target] = exp.spec.objective.weights  # the demo's: one target's loss
    loss = lambda mixture: synthetic.losses(mixture, synthetic.preset_size("1m"))[target]  # noqa: E731
    regret = loss(proposals.as_mixture(rec.mixture, exp.spec.domains)) - loss(
        synthetic.optimum(list(exp.spec.domains), target)
    )
    return {
        "mode": mode,
        "utilisation": progress.utilisation(trials, slots, controller.clock()),
        "virtual_seconds": max(t.finished for t in trials),
        "trials": {rung: sum(t.rung == rung for t in searched) for rung in exp.spec.ladder.names},
        "spent": controller.spent(searched),
        "regret": regret,
    }


def table(rows: Sequence[dict], slots: int, budget: float) -> str:
    seconds = {name: tokens * SECONDS_PER_TOKEN for name, tokens in RUNG_TOKENS.items()}
    lines = [
        f"{slots} slots, budget {budget:.3g} FLOPs; virtual seconds per trial: "
        + ", ".join(f"{name} {s:g}" for name, s in seconds.items()),
        "",
        "| mode | slot utilisation | virtual time to spend the budget | trials (xs / s / m) | spent FLOPs "
        "| recommendation's loss above the optimum |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['mode']} | {r['utilisation']:.0%} | {r['virtual_seconds']:.0f} s | "
            f"{' / '.join(str(n) for n in r['trials'].values())} | {r['spent']:.3g} | "
            f"{r['regret']:.4f} |"
        )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--slots", type=int, default=4, help="trials at once")
    p.add_argument("--budget", type=float, default=1.5e11, help="search budget in synthetic FLOPs")
    p.add_argument("--seed", type=int, default=100, help="experiment seed")
    p.add_argument("--json", help="also write the figures here")
    args = p.parse_args(argv)
    if args.slots < 2:
        p.error("--slots must be >= 2 (one slot has nothing to keep busy)")
    if not args.budget > 0:
        p.error("--budget must be positive")
    with tempfile.TemporaryDirectory() as tmp:
        rows = [run(mode, args.slots, args.budget, args.seed, Path(tmp)) for mode in MODES]
    print(table(rows, args.slots, args.budget))
    if args.json:
        Path(args.json).write_text(json.dumps({"slots": args.slots, "budget": args.budget, "rows": rows}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
