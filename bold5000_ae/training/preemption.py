"""Preemption and Ctrl-C: save a resumable checkpoint, say so, and never look like success.

Why: Lightning turns SIGTERM (a SLURM time limit, a preempted cloud VM, ``scancel``) into a
``SIGTERMException``, which is a ``SystemExit`` with no code: the process exited 0 after
"Received SIGTERM: 15", so a preempted job looked finished, with no ``metrics.json`` and a last
checkpoint up to an epoch old. Now the batch in progress ends, ``checkpoints/last.ckpt`` is
written from the current step, ``status.json`` records ``status: preempted`` with the command
that resumes, and the process exits 143 (128 + SIGTERM, what SLURM and submitit read as "killed
by SIGTERM": submitit requeues on its own signal, and a job script can requeue on 143).
Ctrl-C (SIGINT) saves the same way and prints that command; Lightning exits 1 there, kept as 130
(128 + SIGINT) so shells and schedulers see an interrupt.
"""

from __future__ import annotations

import json
import shlex
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import lightning as L
from hydra.core.hydra_config import HydraConfig
from lightning.pytorch.utilities.exceptions import SIGTERMException

from bold5000_ae.utils.atomic_io import atomic_path
from bold5000_ae.utils.errors import ReportedError

DROPPED = ("hydra.run.dir=", "ckpt_path=", "auto_resume=")


class Preempted(ReportedError):
    """SIGTERM: the run stopped early with a resumable checkpoint."""

    exit_code = 143


def resume_command(out_dir: Path) -> str:
    """The command that continues this run in its own folder."""
    try:
        overrides = list(HydraConfig.get().overrides.task)
    except ValueError:  # not started by Hydra (in-process use)
        overrides = sys.argv[1:]
    kept = [o for o in overrides if not o.lstrip("+~").startswith(DROPPED)]
    return shlex.join(["bold5000-ae-train", *kept, f"hydra.run.dir={out_dir}", "ckpt_path=last"])


class _SaveOnInterrupt(L.Callback):
    """Saves ``last.ckpt`` from the step in progress when fit stops on SIGTERM or Ctrl-C."""

    def __init__(self, out_dir: Path) -> None:
        self.out_dir = out_dir
        self.kind: str | None = None
        self.checkpoint: Path | None = None

    def on_exception(self, trainer: L.Trainer, pl_module: L.LightningModule,
                     exception: BaseException) -> None:
        if isinstance(exception, SIGTERMException):
            self.kind = "preempted"
        elif isinstance(exception, KeyboardInterrupt):
            self.kind = "interrupted"
        else:
            return
        ckpt_cb = trainer.checkpoint_callback
        folder = Path(ckpt_cb.dirpath) if ckpt_cb and ckpt_cb.dirpath else (
            self.out_dir / "checkpoints")
        self.checkpoint = folder / "last.ckpt"
        trainer.save_checkpoint(self.checkpoint)
        if trainer.is_global_zero:
            record = {"status": self.kind, "epoch": trainer.current_epoch,
                      "global_step": trainer.global_step,
                      "checkpoint": str(self.checkpoint.relative_to(self.out_dir)
                                        if self.checkpoint.is_relative_to(self.out_dir)
                                        else self.checkpoint),
                      "resume": resume_command(self.out_dir)}
            with atomic_path(self.out_dir / "status.json") as tmp:
                tmp.write_text(json.dumps(record, indent=2))


def _mark_fitted(trainer: L.Trainer, out_dir: Path) -> None:
    """Replace a ``preempted``/``interrupted`` record once the resumed fit has completed, so
    ``status.json`` never contradicts ``metrics.json``."""
    steps = int(trainer.global_step)
    record = {"status": "finished" if steps > 0 else "untrained", "epoch": trainer.current_epoch,
              "global_step": steps, "checkpoint": "checkpoints/last.ckpt"}
    with atomic_path(out_dir / "status.json") as tmp:
        tmp.write_text(json.dumps(record, indent=2))


@contextmanager
def preemption_guard(trainer: L.Trainer, out_dir: str | Path) -> Iterator[None]:
    """Around ``trainer.fit``: SIGTERM becomes :class:`Preempted` (exit 143) after the checkpoint
    and ``status.json`` are written; Ctrl-C prints the resume command and exits 130."""
    out_dir = Path(out_dir).absolute()
    saver = _SaveOnInterrupt(out_dir)
    trainer.callbacks.append(saver)
    try:
        yield
        if trainer.is_global_zero and (out_dir / "status.json").is_file():
            _mark_fitted(trainer, out_dir)  # a resumed run: status.json follows it to the end
    except SIGTERMException:
        raise Preempted(f"preempted (SIGTERM) at epoch {trainer.current_epoch}, step "
                        f"{trainer.global_step}; checkpoint saved to {saver.checkpoint}; "
                        f"resume with: {resume_command(out_dir)}") from None
    except SystemExit as exc:
        if saver.kind != "interrupted":
            raise
        print(f"\ninterrupted; checkpoint saved to {saver.checkpoint}. Resume with:\n  "
              f"{resume_command(out_dir)}", file=sys.stderr)
        raise SystemExit(130) from exc
    finally:
        trainer.callbacks.remove(saver)

