"""Starting a local ``satgeo serve`` with a configured Python (QProcess, owned by the plugin)."""

from __future__ import annotations

import os
import re

from qgis.PyQt.QtCore import QObject, QProcess, pyqtSignal

_LISTENING = re.compile(r"listening on (https?://\S+)")


class LocalServer(QObject):
    """``<python> -m satgeo.cli serve --host 127.0.0.1 --port P --data-dir D``.

    ``started(url)`` fires once the server prints its "listening on" line; ``failed(message)``
    when the process cannot start or exits early (with the last line it printed).
    """

    started = pyqtSignal(str)
    failed = pyqtSignal(str)

    def __init__(self, python: str, port: int = 8000, data_dir: str = "", parent=None):
        super().__init__(parent)
        self.python = python or "python3"
        self.port = int(port)
        self.data_dir = data_dir
        self.url: str | None = None
        self.output = ""
        self.process = QProcess(self)
        self.process.setProcessChannelMode(QProcess.ProcessChannelMode.MergedChannels)
        self.process.readyReadStandardOutput.connect(self._read)
        self.process.errorOccurred.connect(self._error)
        self.process.finished.connect(self._finished)

    def arguments(self) -> list:
        args = ["-m", "satgeo.cli", "serve", "--host", "127.0.0.1", "--port", str(self.port)]
        if self.data_dir:
            args += ["--data-dir", self.data_dir]
        return args

    def start(self) -> None:
        if self.data_dir:
            os.makedirs(self.data_dir, exist_ok=True)
        self.output = ""
        self.url = None
        self.process.start(self.python, self.arguments())

    def is_running(self) -> bool:
        return self.process.state() != QProcess.ProcessState.NotRunning

    def stop(self, wait_ms: int = 5000) -> None:
        if not self.is_running():
            return
        self.process.terminate()
        if not self.process.waitForFinished(wait_ms):
            self.process.kill()
            self.process.waitForFinished(2000)

    def _read(self) -> None:
        text = bytes(self.process.readAllStandardOutput()).decode("utf-8", "replace")
        self.output = (self.output + text)[-20000:]
        if self.url is None:
            match = _LISTENING.search(self.output)
            if match:
                self.url = match.group(1)
                self.started.emit(self.url)

    def _last_line(self) -> str:
        lines = [line for line in self.output.splitlines() if line.strip()]
        return lines[-1].strip() if lines else "no output"

    def _error(self, error) -> None:
        if error == QProcess.ProcessError.FailedToStart:
            self.failed.emit(
                f"cannot run {self.python!r}; set the Python that has satgeo installed (pip install satgeo) in the satgeo panel"
            )

    def _finished(self, code, status=None) -> None:
        if self.url is None and code != 0:
            self._read()
            hint = self._last_line()
            if "No module named" in hint and "satgeo" in hint:
                hint = f"satgeo is not installed for {self.python}; pip install satgeo there or pick another Python"
            self.failed.emit(f"the local satgeo server exited (code {code}): {hint}")
