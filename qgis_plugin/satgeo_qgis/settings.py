"""The plugin's settings, persisted in QgsSettings under ``satgeo/``."""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, fields

from qgis.core import QgsSettings

from .client import DEFAULT_URL

PREFIX = "satgeo/"


@dataclass
class PluginSettings:
    server_url: str = DEFAULT_URL
    token: str = ""
    authcfg: str = ""
    python: str = "python3"  # a Python with satgeo installed, for "Start local server"
    local_port: int = 8000
    local_data_dir: str = ""
    model: str = ""
    prompt: str = ""
    date: str = ""  # YYYY-MM-DD or empty
    cloud_cover: float = -1.0  # < 0: leave it to the server
    seed: int = 0
    gsd: float = 0.0  # 0: the model's native GSD
    steps: int = 0  # 0: the model's default
    output_dir: str = ""

    @classmethod
    def load(cls) -> PluginSettings:
        store = QgsSettings()
        out = cls()
        for f in fields(cls):
            default = getattr(out, f.name)
            value = store.value(PREFIX + f.name, default)
            try:
                setattr(out, f.name, type(default)(value) if value is not None else default)
            except (TypeError, ValueError):
                setattr(out, f.name, default)
        if not out.output_dir:
            out.output_dir = os.path.join(os.path.expanduser("~"), "satgeo")
        return out

    def save(self) -> None:
        store = QgsSettings()
        for key, value in asdict(self).items():
            store.setValue(PREFIX + key, value)

    def server(self) -> dict:
        """Keyword arguments for SatgeoClient."""
        return {"base_url": self.server_url, "token": self.token, "authcfg": self.authcfg}
