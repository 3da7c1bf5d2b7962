"""The experiment store: one SQLite file per experiment, the single source of truth for trials.

Only the controller writes here. Trials report through their own `result.json`; the controller
adopts it with `record_result`. The optimiser state is a function of the recorded trials, the seed
and the config, so a killed controller resumes from this file alone. Each search trial keeps the
record it was proposed from (`basis`: the finished and pending trials, the trial id seeding the
optimiser), and the executor slot it runs on.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import sqlite3
import time
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping, Sequence

PENDING, RUNNING, OK, DIVERGED, FAILED = "pending", "running", "ok", "diverged", "failed"
SEARCH = "search"
FINISHED = (OK, DIVERGED, FAILED)
STATUSES = (PENDING, RUNNING) + FINISHED

_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS trials (
  id INTEGER PRIMARY KEY,
  mixture TEXT NOT NULL,
  rung TEXT NOT NULL,
  status TEXT NOT NULL CHECK (status IN ({", ".join(repr(s) for s in STATUSES)})),
  losses TEXT,
  wall_seconds REAL,
  flops REAL,
  run_dir TEXT NOT NULL,
  created REAL NOT NULL,
  started REAL,
  finished REAL,
  error TEXT,
  role TEXT NOT NULL DEFAULT 'search',
  seed INTEGER NOT NULL DEFAULT 0,
  scores TEXT,
  slot INTEGER,
  basis TEXT,
  restarts INTEGER NOT NULL DEFAULT 0,
  wasted_flops REAL NOT NULL DEFAULT 0,
  wasted_wall_seconds REAL NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""
# columns added after the first stores were written, with their declarations (added on opening)
_LATER_COLUMNS = {
    "scores": "TEXT",
    "slot": "INTEGER",
    "basis": "TEXT",
    "restarts": "INTEGER NOT NULL DEFAULT 0",
    "wasted_flops": "REAL NOT NULL DEFAULT 0",
    "wasted_wall_seconds": "REAL NOT NULL DEFAULT 0",
}


@dataclasses.dataclass(frozen=True)
class Trial:
    """One proxy run: a mixture trained at one rung, and what came of it."""

    id: int
    mixture: dict[str, float]
    rung: str
    status: str
    losses: dict[str, float] | None
    wall_seconds: float | None
    flops: float | None
    run_dir: str
    created: float
    started: float | None
    finished: float | None
    error: str | None
    role: str = SEARCH  # 'search' (told to the optimiser) or a check role ('recommended', 'uniform')
    seed: int = 0  # training seed of the trial
    scores: dict[str, float] | None = None  # result.json "scores" (evaluations of the final model)
    slot: int | None = None  # the executor slot of its latest launch
    basis: dict[str, Any] | None = None  # what its proposal was computed from (proposals.propose)
    restarts: int = 0  # invocations after the first (preempted or lost ones started again)
    wasted_flops: float = 0.0  # FLOPs of invocations whose work was lost (no checkpoint to resume)
    wasted_wall_seconds: float = 0.0  # their wall seconds

    @property
    def is_finished(self) -> bool:
        return self.status in FINISHED


class TrialStore:
    """Trials of one experiment in `<exp_dir>/trials.sqlite`."""

    def __init__(self, path: str | Path, clock: Callable[[], float] = time.time):
        self.path = Path(path)
        self.clock = clock  # the timestamps of creation, launch and finish
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(self.path, timeout=30.0, isolation_level=None)
        self._db.row_factory = sqlite3.Row
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(_SCHEMA)
        columns = {row["name"] for row in self._db.execute("PRAGMA table_info(trials)")}
        for name, declaration in _LATER_COLUMNS.items():  # a store written before the column existed
            if name not in columns:
                self._db.execute(f"ALTER TABLE trials ADD COLUMN {name} {declaration}")

    def close(self) -> None:
        self._db.close()

    def check_meta(self, key: str, value: str) -> None:
        """Stores `value` under `key` the first time; later calls must agree, so an experiment
        directory is never silently continued under a different config or seed."""
        row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        if row is None:
            self._db.execute("INSERT INTO meta VALUES (?, ?)", (key, value))
        elif row["value"] != value:
            raise ValueError(
                f"{self.path}: this experiment was started with {key}={row['value']!r}, "
                f"not {value!r}; use a new experiment directory or the original setting"
            )

    def meta(self, key: str) -> str | None:
        """The value stored under `key` by `check_meta`, or None."""
        row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else row["value"]

    def add(
        self, mixture: Mapping[str, float], rung: str, run_root: str | Path, role: str = SEARCH, seed: int = 0
    ) -> Trial:
        """Records a new pending trial; its run directory is `<run_root>/<id>`."""
        return self.add_many([(mixture, rung)], run_root, role, seed)[0]

    def add_many(
        self,
        items: Sequence[tuple[Mapping[str, float], str]],
        run_root: str | Path,
        role: str = SEARCH,
        seed: int | Sequence[int] = 0,
        bases: Sequence[Mapping[str, Any] | None] | None = None,
    ) -> list[Trial]:
        """Records several pending trials in one transaction: a killed controller leaves all or none.
        `bases`: per trial, the record its proposal was computed from."""
        seeds = [seed] * len(items) if isinstance(seed, int) else list(seed)
        bases = [None] * len(items) if bases is None else list(bases)
        ids = []
        with self._transaction():
            for (mixture, rung), trial_seed, basis in zip(items, seeds, bases):
                cur = self._db.execute(
                    "INSERT INTO trials (mixture, rung, status, run_dir, created, role, seed, basis)"
                    " VALUES (?, ?, ?, '', ?, ?, ?, ?)",
                    (
                        json.dumps(dict(mixture)),
                        rung,
                        PENDING,
                        self.clock(),
                        role,
                        int(trial_seed),
                        None if basis is None else json.dumps(dict(basis)),
                    ),
                )
                trial_id = int(cur.lastrowid)
                run_dir = str(Path(run_root) / f"trial_{trial_id:05d}")
                self._db.execute("UPDATE trials SET run_dir = ? WHERE id = ?", (run_dir, trial_id))
                ids.append(trial_id)
        return [self.get(i) for i in ids]

    def next_id(self) -> int:
        """The id the next added trial gets (ids are never reused: trials are never deleted)."""
        row = self._db.execute("SELECT MAX(id) AS last FROM trials").fetchone()
        return int(row["last"] or 0) + 1

    def mark_running(self, trial_id: int, slot: int | None = None) -> None:
        """Pending (or re-launched running) trial -> running, on executor slot `slot`."""
        trial = self.get(trial_id)
        if trial.is_finished:
            raise ValueError(f"trial {trial_id} already finished as {trial.status!r}; it is never re-run")
        self._db.execute(
            "UPDATE trials SET status = ?, started = ?, slot = ? WHERE id = ?", (RUNNING, self.clock(), slot, trial_id)
        )

    def record_result(
        self,
        trial_id: int,
        status: str,
        losses: Mapping[str, float] | None = None,
        wall_seconds: float | None = None,
        flops: float | None = None,
        error: str | None = None,
        scores: Mapping[str, float] | None = None,
        restarts: int = 0,
        wasted_flops: float = 0.0,
        wasted_wall_seconds: float = 0.0,
    ) -> Trial:
        """Finishes a trial once; recording a finished trial again is an error, not an overwrite.
        `flops` and `wall_seconds` are the cost of all its invocations; `wasted_*` the part of it
        that was lost to preemptions without a checkpoint."""
        if status not in FINISHED:
            raise ValueError(f"status must be one of {FINISHED}, got {status!r}")
        with self._transaction():
            cur = self._db.execute(
                "UPDATE trials SET status = ?, losses = ?, scores = ?, wall_seconds = ?, flops = ?, error = ?,"
                " finished = ?, restarts = ?, wasted_flops = ?, wasted_wall_seconds = ?"
                " WHERE id = ? AND status IN (?, ?)",
                (
                    status,
                    None if losses is None else json.dumps(dict(losses)),
                    None if scores is None else json.dumps(dict(scores)),
                    wall_seconds,
                    flops,
                    error,
                    self.clock(),
                    int(restarts),
                    float(wasted_flops),
                    float(wasted_wall_seconds),
                    trial_id,
                    PENDING,
                    RUNNING,
                ),
            )
            if cur.rowcount != 1:
                trial = self.get(trial_id)  # raises for an unknown id
                raise ValueError(f"trial {trial_id} was already recorded as {trial.status!r}")
        return self.get(trial_id)

    def get(self, trial_id: int) -> Trial:
        row = self._db.execute("SELECT * FROM trials WHERE id = ?", (trial_id,)).fetchone()
        if row is None:
            raise KeyError(f"no trial {trial_id} in {self.path}")
        return _trial(row)

    def trials(self, *statuses: str) -> list[Trial]:
        """All trials in id order, or only those with the given statuses."""
        unknown = set(statuses) - set(STATUSES)
        if unknown:
            raise ValueError(f"unknown status {sorted(unknown)}; known: {STATUSES}")
        query, args = "SELECT * FROM trials", ()
        if statuses:
            query += f" WHERE status IN ({', '.join('?' * len(statuses))})"
            args = statuses
        return [_trial(r) for r in self._db.execute(query + " ORDER BY id", args)]

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[None]:
        """BEGIN IMMEDIATE ... COMMIT, rolled back on error."""
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")


def _trial(row: sqlite3.Row) -> Trial:
    return Trial(
        id=row["id"],
        mixture=json.loads(row["mixture"]),
        rung=row["rung"],
        status=row["status"],
        losses=None if row["losses"] is None else json.loads(row["losses"]),
        wall_seconds=row["wall_seconds"],
        flops=row["flops"],
        run_dir=row["run_dir"],
        created=row["created"],
        started=row["started"],
        finished=row["finished"],
        error=row["error"],
        role=row["role"],
        seed=row["seed"],
        scores=None if row["scores"] is None else json.loads(row["scores"]),
        slot=row["slot"],
        basis=None if row["basis"] is None else json.loads(row["basis"]),
        restarts=row["restarts"],
        wasted_flops=row["wasted_flops"],
        wasted_wall_seconds=row["wasted_wall_seconds"],
    )
