"""Where trials run: local subprocesses, a Slurm cluster (submitit), or any shell template.

Each executor takes a trial's command line and run directory and returns a `Job` that the
controller polls. The command itself writes `result.json`; the executor only starts it and says
whether it has ended and how. Executors are gin-configurable, so an experiment file picks one.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
from pathlib import Path
from typing import Any, Callable, Protocol, Sequence

import gin


class Job(Protocol):
    def done(self) -> bool:
        """True once the trial's process has ended, however it ended."""

    def error(self) -> str | None:
        """After `done`: None if the command exited 0, else what went wrong."""


class Executor(Protocol):
    slots: int  # trials that may run at once

    def submit(self, command: Sequence[str], run_dir: Path, slot: int) -> Job:
        """Starts `command` for the trial in `run_dir`, on parallel slot `slot` (0 <= slot < slots)."""


class _ProcessJob:
    """A local child process whose output goes to `<run_dir>/trial.log`."""

    def __init__(
        self,
        args: Sequence[str] | str,
        run_dir: Path,
        env: dict[str, str],
        shell: bool = False,
        cores: Sequence[int] | None = None,
    ):
        run_dir.mkdir(parents=True, exist_ok=True)
        self._log = run_dir / "trial.log"
        with open(self._log, "ab") as log:
            self._proc = subprocess.Popen(
                args,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
                shell=shell,
                start_new_session=True,
            )
        if cores is not None:
            # Pinned from here, not in a preexec_fn: forking a multithreaded (JAX) parent to run Python in
            # the child can deadlock. The child is still starting its interpreter, so every thread it
            # creates inherits the pinning.
            try:
                os.sched_setaffinity(self._proc.pid, cores)
            except ProcessLookupError:  # already ended
                pass

    def done(self) -> bool:
        return self._proc.poll() is not None

    def error(self) -> str | None:
        code = self._proc.returncode
        if code == 0:
            return None
        tail = self._log.read_text(errors="replace")[-2000:]
        return f"exit code {code}; end of {self._log}:\n{tail}"


@gin.configurable
class LocalExecutor:
    """Up to `slots` trials as subprocesses of this machine, each pinned to its own devices.

    On GPU hosts slot i sees `gpus_per_trial` GPUs of its own (CUDA_VISIBLE_DEVICES); on CPU
    hosts it is pinned to `cpus_per_trial` cores of its own, so parallel proxies do not fight
    over cores and their measured wall time stays comparable.
    """

    def __init__(self, slots: int = 1, cpus_per_trial: int | None = None, gpus_per_trial: int = 0):
        if slots < 1:
            raise ValueError(f"slots must be >= 1, got {slots}")
        self.slots = slots
        self.cpus_per_trial = cpus_per_trial or max(1, (os.cpu_count() or 1) // slots)
        self.gpus_per_trial = gpus_per_trial

    def submit(self, command: Sequence[str], run_dir: Path, slot: int) -> Job:
        env = dict(os.environ)
        if self.gpus_per_trial:
            first = slot * self.gpus_per_trial
            env["CUDA_VISIBLE_DEVICES"] = ",".join(str(first + i) for i in range(self.gpus_per_trial))
        available = sorted(os.sched_getaffinity(0))
        cores = [available[(slot * self.cpus_per_trial + i) % len(available)] for i in range(self.cpus_per_trial)]
        return _ProcessJob(list(command), Path(run_dir), env, cores=cores)


COMMAND_SCRIPT = "trial_command.sh"  # the trial's command line, written into its run directory
_SHELL_SAFE = re.compile(r"[\w@%+=:,./-]+")  # needs no quoting in any shell, inside any quotes


def write_command_script(command: Sequence[str], run_dir: Path) -> Path:
    """Writes `command` to `run_dir/trial_command.sh` and returns the script's absolute path.

    A template nests `{command}` in its own quoting (ssh's --command='...', bash -c "..."), so
    the command line itself would be re-split by every shell on the way; `bash SCRIPT` has no
    characters that any quoting changes, and the script holds the arguments exactly. The path
    must therefore be shell-safe, and it must be the same on the machines the template reaches
    (a shared filesystem, as the trial's result.json already needs).
    """
    script = Path(run_dir).absolute() / COMMAND_SCRIPT
    if not _SHELL_SAFE.fullmatch(str(script)):
        raise ValueError(
            f"the run directory {str(script.parent)!r} holds characters a shell would split "
            "or unquote; use one of letters, digits and @%+=:,./_- only"
        )
    script.parent.mkdir(parents=True, exist_ok=True)
    script.write_text(
        "#!/usr/bin/env bash\n# One trial's command, run by the executor's template as "
        f"`bash {script}`.\nexec {shlex.join(command)}\n"
    )
    return script


@gin.configurable
class CommandTemplateExecutor:
    """Runs each trial through a shell template, e.g. to reach a TPU pod slice:

        gcloud compute tpus tpu-vm ssh {tpu} --worker=all --command='cd admire-jax && {command}'

    Placeholders: {command}, {run_dir}, {slot}, and any extra `fields` (such as {tpu}, one value
    per slot when given as a list). {command} is `bash RUN_DIR/trial_command.sh`, a script holding
    the trial's command line, so it is safe inside whatever quoting the template puts around it.
    `python` replaces the command's interpreter (the controller's own) with the one the far side
    should use, e.g. 'python' from the virtualenv the template activates.
    """

    def __init__(
        self, template: str, slots: int = 1, fields: dict[str, object] | None = None, python: str | None = None
    ):
        if "{command}" not in template:
            raise ValueError(f"the executor template must contain {{command}}: {template!r}")
        self.template, self.slots, self.fields, self.python = template, slots, dict(fields or {}), python

    def submit(self, command: Sequence[str], run_dir: Path, slot: int) -> Job:
        values = {k: (v[slot] if isinstance(v, (list, tuple)) else v) for k, v in self.fields.items()}
        if self.python:
            command = [self.python, *command[1:]]
        script = write_command_script(command, Path(run_dir))
        try:
            line = self.template.format(command=f"bash {script}", run_dir=run_dir, slot=slot, **values)
        except KeyError as e:
            raise ValueError(f"the executor template names {e} but no such field was given") from None
        return _ProcessJob(line, Path(run_dir), dict(os.environ), shell=True)


PREEMPTED = "preempted"  # result.json status of a run stopped for the machine's sake (resumable)
# Scheduler states of a job taken away from its trial: Slurm's, and submitit's local backend's
# for a job process killed by a signal.
LOST_STATES = ("PREEMPTED", "NODE_FAIL", "BOOT_FAIL", "INTERRUPTED")
FINAL_STATUSES = ("ok", "diverged")  # a trial that ended so is never started again


def result_status(run_dir: Path) -> str | None:
    """The status in `run_dir/result.json`, or None while there is no readable one."""
    try:
        return json.loads((Path(run_dir) / "result.json").read_text()).get("status")
    except (OSError, ValueError, AttributeError):
        return None


class _SubmititJob:
    """One trial's Slurm job; a preempted or lost one is submitted again, up to `max_resubmissions`
    times, in the same run folder (the trainer resumes from its checkpoint there)."""

    def __init__(self, submit: Callable[[], Any], run_dir: Path, max_resubmissions: int):
        self._submit, self._run_dir, self._left = submit, run_dir, max_resubmissions
        self._job = submit()
        self._invocations = 1

    @property
    def invocations(self) -> int:
        """How many times the trial's job was submitted (1 + resubmissions)."""
        return self._invocations

    def done(self) -> bool:
        if not self._job.done():
            return False
        if self._left > 0 and self._interrupted():
            self._left -= 1
            self._job = self._submit()
            self._invocations += 1
            return False
        return True

    def _interrupted(self) -> bool:
        """The trial stopped for the machine's sake: result.json says preempted, or the scheduler
        lost the job before the trial had a final result."""
        status = result_status(self._run_dir)
        return status == PREEMPTED or (status not in FINAL_STATUSES and self._job.state in LOST_STATES)

    def error(self) -> str | None:
        exc = self._job.exception()
        return None if exc is None else f"slurm job {self._job.job_id}: {exc}"


@gin.configurable
class SlurmExecutor:
    """Each trial as one Slurm job through submitit (`cluster='local'` runs them here, for tests).

    `max_resubmissions` > 0: a job whose trial ended preempted (result.json status "preempted",
    exit code 75) or that Slurm lost (preempted, node or boot failure) is submitted again in the
    same run folder, at most that many times, before the controller is told it is done; its Job's
    `invocations` says how many submissions it took. 0 (the default) leaves restarts to the caller.
    Any other keyword is a submitit parameter (slurm_partition, gpus_per_node, timeout_min, ...).
    """

    def __init__(
        self, folder: str, slots: int = 4, cluster: str | None = None, max_resubmissions: int = 0, **parameters
    ):
        import submitit  # optional: only Slurm users need it

        if max_resubmissions < 0:
            raise ValueError(f"max_resubmissions must be >= 0, got {max_resubmissions}")
        self.slots, self.max_resubmissions = slots, max_resubmissions
        self._executor = submitit.AutoExecutor(folder=folder, cluster=cluster)
        self._executor.update_parameters(**parameters)

    def submit(self, command: Sequence[str], run_dir: Path, slot: int) -> Job:
        import submitit

        Path(run_dir).mkdir(parents=True, exist_ok=True)
        function = submitit.helpers.CommandFunction(list(command), cwd=str(run_dir))
        return _SubmititJob(lambda: self._executor.submit(function), Path(run_dir), self.max_resubmissions)
