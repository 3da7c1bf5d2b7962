"""The experiment store: one SQLite file per experiment, the single source of truth for trials.

Only the controller writes here. Trials report through their own `result.json`; the controller
adopts it with `record_result`. The optimiser state is a function of the recorded trials, the seed
and the config, so a killed controller resumes from this file alone.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import sqlite3
import time
from pathlib import Path
from typing import Iterator, Mapping, Sequence

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
  scores TEXT
);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""


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

    @property
    def is_finished(self) -> bool:
        return self.status in FINISHED


class TrialStore:
    """Trials of one experiment in `<exp_dir>/trials.sqlite`."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(self.path, timeout=30.0, isolation_level=None)
        self._db.row_factory = sqlite3.Row
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(_SCHEMA)
        columns = {row["name"] for row in self._db.execute("PRAGMA table_info(trials)")}
        if "scores" not in columns:  # a store written before scores were recorded
            self._db.execute("ALTER TABLE trials ADD COLUMN scores TEXT")

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
    ) -> list[Trial]:
        """Records several pending trials in one transaction: a killed controller leaves all or none."""
        seeds = [seed] * len(items) if isinstance(seed, int) else list(seed)
        ids = []
        with self._transaction():
            for (mixture, rung), trial_seed in zip(items, seeds):
                cur = self._db.execute(
                    "INSERT INTO trials (mixture, rung, status, run_dir, created, role, seed)"
                    " VALUES (?, ?, ?, '', ?, ?, ?)",
                    (json.dumps(dict(mixture)), rung, PENDING, time.time(), role, int(trial_seed)),
                )
                trial_id = int(cur.lastrowid)
                run_dir = str(Path(run_root) / f"trial_{trial_id:05d}")
                self._db.execute("UPDATE trials SET run_dir = ? WHERE id = ?", (run_dir, trial_id))
                ids.append(trial_id)
        return [self.get(i) for i in ids]

    def mark_running(self, trial_id: int) -> None:
        """Pending (or re-launched running) trial -> running."""
        trial = self.get(trial_id)
        if trial.is_finished:
            raise ValueError(f"trial {trial_id} already finished as {trial.status!r}; it is never re-run")
        self._db.execute("UPDATE trials SET status = ?, started = ? WHERE id = ?", (RUNNING, time.time(), trial_id))

    def record_result(
        self,
        trial_id: int,
        status: str,
        losses: Mapping[str, float] | None = None,
        wall_seconds: float | None = None,
        flops: float | None = None,
        error: str | None = None,
        scores: Mapping[str, float] | None = None,
    ) -> Trial:
        """Finishes a trial once; recording a finished trial again is an error, not an overwrite."""
        if status not in FINISHED:
            raise ValueError(f"status must be one of {FINISHED}, got {status!r}")
        with self._transaction():
            cur = self._db.execute(
                "UPDATE trials SET status = ?, losses = ?, scores = ?, wall_seconds = ?, flops = ?, error = ?,"
                " finished = ? WHERE id = ? AND status IN (?, ?)",
                (
                    status,
                    None if losses is None else json.dumps(dict(losses)),
                    None if scores is None else json.dumps(dict(scores)),
                    wall_seconds,
                    flops,
                    error,
                    time.time(),
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
    )
