"""The QgsTask that runs one synthesis job in the background (task manager bar, cancel)."""

from __future__ import annotations

from collections.abc import Callable

from qgis.core import QgsFeedback, QgsMessageLog, QgsTask

from .client import SatgeoClient, ServerError
from .jobs import JobCancelled, run_job

LOG_TAG = "satgeo"


class SynthesisTask(QgsTask):
    """Submit -> poll -> download in a worker thread; ``on_done(task)`` runs on the main thread.

    After it finishes: ``result_path`` is set on success; otherwise ``error`` holds a one-line
    message and ``cancelled`` tells a user cancel from a failure.
    """

    def __init__(
        self,
        server: dict,
        body: dict,
        dest: str,
        on_done: Callable[[SynthesisTask], None] | None = None,
        description: str = "satgeo: synthesize imagery",
    ):
        """``server`` holds SatgeoClient's keyword arguments: base_url, token, authcfg."""
        super().__init__(description, QgsTask.Flag.CanCancel)
        self.server = dict(server)
        self.body = body
        self.dest = dest
        self.on_done = on_done
        self.job_id: str | None = None
        self.result_path: str | None = None
        self.error: str | None = None
        self.cancelled = False
        self._feedback = QgsFeedback()

    def cancel(self) -> None:
        self._feedback.cancel()  # run() notices after the call in flight and cancels the server job
        super().cancel()

    def run(self) -> bool:
        try:
            client = SatgeoClient(**self.server, feedback=self._feedback)
            self.result_path = run_job(
                client,
                self.body,
                self.dest,
                progress=self.setProgress,
                is_cancelled=self.isCanceled,
                on_submitted=self._remember,
                log=lambda msg: QgsMessageLog.logMessage(msg, LOG_TAG),
            )
            return True
        except JobCancelled:
            self.cancelled = True
            self.error = "cancelled"
        except ServerError as exc:
            if self.isCanceled():
                self.cancelled = True
                self.error = "cancelled"
                if self.job_id:
                    try:
                        SatgeoClient(**self.server).cancel_job(self.job_id)
                    except ServerError:
                        pass
            else:
                self.error = str(exc)
        except Exception as exc:  # noqa: BLE001 - a task must never take QGIS down
            self.error = f"unexpected {type(exc).__name__}: {exc}"
        return False

    def _remember(self, job_id: str) -> None:
        self.job_id = job_id

    def finished(self, result: bool) -> None:  # main thread
        if not result and self.error is None:
            self.cancelled = True
            self.error = "cancelled"
        if self.on_done is not None:
            self.on_done(self)
