"""HTTP client of the satgeo server, through QGIS's network stack (proxy, SSL and auth settings apply).

Blocking calls use ``QgsBlockingNetworkRequest``: call them from a ``QgsTask`` or a Processing
algorithm, not from the GUI thread (except the quick /health probe).
"""

from __future__ import annotations

import json
import os
import tempfile
from typing import Any

from qgis.core import QgsBlockingNetworkRequest, QgsFeedback
from qgis.PyQt.QtCore import QByteArray, QUrl
from qgis.PyQt.QtNetwork import QNetworkRequest

DEFAULT_URL = "http://127.0.0.1:8000"
_OK = QgsBlockingNetworkRequest.ErrorCode.NoError
_STATUS = QNetworkRequest.Attribute.HttpStatusCodeAttribute
_CONTENT_TYPE = QNetworkRequest.KnownHeaders.ContentTypeHeader

REQUEST_TIMEOUT_MS = 60_000  # without any byte moving; downloads of big COGs keep bytes moving
CREATE_TIMEOUT_MS = 300_000  # creating a job/scene may load a model on the server first
SUCCEEDED = {"succeeded", "success", "done", "completed", "complete", "finished"}
FAILED = {"failed", "error", "errored"}
CANCELLED = {"cancelled", "canceled"}


class ServerError(Exception):
    """A one-line, user-facing description of what went wrong talking to the server."""

    def __init__(self, message: str, status: int | None = None):
        super().__init__(message)
        self.status = status


def _one_line(text: str, limit: int = 300) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def server_message(body: bytes) -> str:
    """The human part of an error body (FastAPI's ``detail``, or ``error``/``message``)."""
    try:
        data = json.loads(bytes(body).decode("utf-8"))
    except (ValueError, UnicodeDecodeError):
        return _one_line(bytes(body).decode("utf-8", "replace")) if body else ""
    if isinstance(data, dict):
        for key in ("detail", "error", "message"):
            value = data.get(key)
            if isinstance(value, str) and value:
                return _one_line(value)
            if isinstance(value, dict):
                inner = value.get("message") or value.get("error") or value.get("detail")
                if inner:
                    return _one_line(inner)
            if isinstance(value, list) and value:  # FastAPI 422: [{"loc": [...], "msg": "..."}]
                parts = []
                for item in value[:3]:
                    if isinstance(item, dict):
                        loc = ".".join(str(p) for p in item.get("loc", []) if p != "body")
                        parts.append(f"{loc}: {item.get('msg', '')}" if loc else str(item.get("msg", "")))
                    else:
                        parts.append(str(item))
                return _one_line("; ".join(parts))
    return _one_line(json.dumps(data))


def model_entries(data) -> list:
    """``/v1/models`` as dicts with name, family, available, default; the default first."""
    items = data.get("models", data.get("items", [])) if isinstance(data, dict) else data
    out = []
    for item in items or []:
        if isinstance(item, str):
            item = {"name": item}
        if isinstance(item, dict) and item.get("name"):
            out.append({"name": str(item["name"]), "family": str(item.get("family") or ""),
                        "available": bool(item.get("available", True)), "default": bool(item.get("default", False))})
    if isinstance(data, dict) and isinstance(data.get("default"), str):
        for m in out:
            m["default"] = m["name"] == data["default"]
    out.sort(key=lambda m: not m["default"])
    return out


class SatgeoClient:
    """The satgeo HTTP API (see docs/server.md) at ``base_url``."""

    def __init__(
        self,
        base_url: str = DEFAULT_URL,
        token: str = "",
        authcfg: str = "",
        feedback: QgsFeedback | None = None,
    ):
        base_url = (base_url or "").strip().rstrip("/")
        if not base_url:
            raise ServerError("no satgeo server URL is set; enter one such as http://127.0.0.1:8000")
        if "://" not in base_url:
            base_url = "http://" + base_url
        self.base_url = base_url
        self.token = (token or "").strip()  # the bearer token `satgeo serve` prints for non-loopback hosts
        self.authcfg = authcfg or ""  # or a QGIS authentication configuration id
        self.feedback = feedback  # once cancelled, calls raise ServerError("cancelled") when they return

    # -- plumbing ---------------------------------------------------------------------------
    def url(self, path: str) -> str:
        if path.startswith("http://") or path.startswith("https://"):
            return path
        return self.base_url + "/" + path.lstrip("/")

    def _request(self, path: str, content_type: str | None = None, timeout_ms: int = REQUEST_TIMEOUT_MS) -> QNetworkRequest:
        req = QNetworkRequest(QUrl(self.url(path)))
        # Worker threads sleep between polls without an event loop, so a kept-alive socket that the
        # server closed meanwhile goes unnoticed and the next request stalls: use one connection per call.
        req.setRawHeader(b"Connection", b"close")
        if timeout_ms and hasattr(req, "setTransferTimeout"):  # Qt >= 5.15: no request hangs forever
            req.setTransferTimeout(timeout_ms)
        if content_type:
            req.setHeader(_CONTENT_TYPE, content_type)
        req.setRawHeader(b"Accept", b"application/json, */*")
        if self.token:
            req.setRawHeader(b"Authorization", b"Bearer " + self.token.encode("utf-8"))
        return req

    def _send(self, method: str, path: str, body: dict | None = None, progress=None) -> bytes:
        blocking = QgsBlockingNetworkRequest()
        if self.authcfg:
            blocking.setAuthCfg(self.authcfg)
        if progress is not None:
            blocking.downloadProgress.connect(progress)
        try:
            if method == "GET":
                # No feedback is handed to QGIS here: on QGIS 3.22, aborting a blocking request from another
                # thread can leave it waiting forever. Calls are short (transfer timeout) and the
                # callers check for cancellation between them instead.
                err = blocking.get(self._request(path), True)
            elif method == "POST":
                data = QByteArray(json.dumps(body or {}).encode("utf-8"))
                err = blocking.post(self._request(path, "application/json", CREATE_TIMEOUT_MS), data, True)
            elif method == "DELETE":
                err = blocking.deleteResource(self._request(path))
            else:  # pragma: no cover - programming error
                raise ValueError(method)
        finally:
            if progress is not None:  # late signals must not reach a feedback object that is gone
                blocking.downloadProgress.disconnect(progress)
        reply = blocking.reply()
        content = bytes(reply.content())
        status = reply.attribute(_STATUS)
        status = int(status) if status not in (None, "") else None
        if self.feedback is not None and self.feedback.isCanceled():
            raise ServerError("cancelled", status)
        if err == _OK and not status:  # no HTTP answer at all (timed out, connection dropped)
            raise ServerError(
                f"no answer from the satgeo server at {self.base_url} to {method} {path} "
                f"({_one_line(blocking.errorMessage()) or 'timed out or connection closed'}); is it overloaded?"
            )
        if err != _OK or (status is not None and status >= 400):
            detail = server_message(content) if content else ""
            if status == 401:
                raise ServerError(f"the satgeo server at {self.base_url} refused the token: {detail}; "
                                  "enter the token `satgeo serve` printed", status)
            if status is None or status == 0:
                raise ServerError(
                    f"cannot reach the satgeo server at {self.base_url} ({_one_line(blocking.errorMessage())}); "
                    "start one with `satgeo serve` or the panel's 'Start local server'"
                )
            raise ServerError(f"server error {status} on {method} {path}: {detail or _one_line(blocking.errorMessage())}", status)
        return content

    def _json(self, method: str, path: str, body: dict | None = None) -> Any:
        content = self._send(method, path, body)
        if not content:
            return {}
        try:
            return json.loads(content.decode("utf-8"))
        except (ValueError, UnicodeDecodeError) as exc:
            raise ServerError(f"the server at {self.base_url} answered {path} with something that is not JSON") from exc

    # -- the API ----------------------------------------------------------------------------
    def health(self) -> dict:
        data = self._json("GET", "/health")
        return data if isinstance(data, dict) else {"status": str(data)}

    def models(self) -> list:
        """Model names the server offers (the default first when it says which)."""
        return [m["name"] for m in model_entries(self._json("GET", "/v1/models"))]

    def _create(self, path: str, body: dict, no_id: str) -> str:
        """POST ``body`` to ``path``; the ``id`` of what the server created (``no_id`` explains its absence)."""
        data = self._json("POST", path, body)
        new_id = data.get("id") if isinstance(data, dict) else None
        if not new_id:
            raise ServerError(f"{no_id}: {_one_line(json.dumps(data))}")
        return str(new_id)

    def submit_job(self, body: dict) -> str:
        return self._create("/v1/jobs", body, "the server accepted the job but returned no id")

    def job(self, job_id: str) -> dict:
        return self._json("GET", f"/v1/jobs/{job_id}")

    def cancel_job(self, job_id: str) -> None:
        saved, self.feedback = self.feedback, None  # the cancel must go through even when we were cancelled
        try:
            self._send("DELETE", f"/v1/jobs/{job_id}")
        finally:
            self.feedback = saved

    def result_url(self, job: dict) -> str:
        links = job.get("links") or {}
        if isinstance(links, dict):
            for key in ("result", "result.tif", "cog"):
                link = links.get(key)
                if isinstance(link, dict):
                    link = link.get("href")
                if link:
                    return self.url(str(link))
        elif isinstance(links, list):
            for link in links:
                if isinstance(link, dict) and link.get("rel") in ("result", "cog") and link.get("href"):
                    return self.url(str(link["href"]))
        return self.url(f"/v1/jobs/{job['id']}/result.tif")

    def download(self, url: str, dest: str, progress=None) -> str:
        """Fetch ``url`` into ``dest`` atomically (temp file + rename); returns ``dest``."""
        content = self._send("GET", url, progress=progress)
        if not content:
            raise ServerError(f"the server sent an empty file for {url}")
        folder = os.path.dirname(os.path.abspath(dest))
        os.makedirs(folder, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".satgeo-", suffix=".part", dir=folder)
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(content)
            os.replace(tmp, dest)
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise
        return dest

    def create_scene(self, body: dict) -> str:
        return self._create("/v1/scenes", body, "the server created no scene")

    def tilejson(self, scene_id: str) -> dict:
        """The scene's TileJSON; with a token its tile URLs carry ``access_token`` (map tiles cannot send headers)."""
        query = f"?access_token={self.token}" if self.token else ""
        data = self._json("GET", f"/v1/scenes/{scene_id}/tilejson.json{query}")
        if not isinstance(data, dict) or not data.get("tiles"):
            raise ServerError(f"scene {scene_id}'s TileJSON lists no tile URL")
        return data


class AsyncGets:
    """The GUI thread's GETs in flight. This object owns every reply it starts and releases each
    exactly once, here: when it finishes (after the callback ran) or when ``abort_all`` drops it.
    Nothing else may keep, query or delete a reply (a deleted reply's wrapper raises RuntimeError)."""

    def __init__(self) -> None:
        self._replies: list = []

    def __len__(self) -> int:
        return len(self._replies)

    def get(self, client: SatgeoClient, path: str, callback) -> None:
        """GET ``path``; ``callback(data, error_message)`` runs on the main thread unless aborted first."""
        from qgis.core import QgsNetworkAccessManager

        reply = QgsNetworkAccessManager.instance().get(client._request(path))
        self._replies.append(reply)
        reply.finished.connect(lambda: self._finished(reply, client, path, callback))

    def _finished(self, reply, client: SatgeoClient, path: str, callback) -> None:
        if not any(r is reply for r in self._replies):
            return  # aborted: abort_all released it
        self._replies = [r for r in self._replies if r is not reply]
        try:
            data, error = _read_json_reply(reply, client, path)
            callback(data, error)
        except Exception:  # noqa: BLE001 - an exception escaping a Qt slot would abort QGIS
            import traceback

            from qgis.core import QgsMessageLog

            QgsMessageLog.logMessage(traceback.format_exc(), "satgeo")
        finally:
            reply.deleteLater()

    def abort_all(self) -> None:
        """Drop every reply in flight; their callbacks never run."""
        replies, self._replies = self._replies, []
        for reply in replies:
            try:
                reply.finished.disconnect()
                reply.abort()
                reply.deleteLater()
            except (RuntimeError, TypeError):  # Qt already destroyed it (QGIS closing)
                pass


def _read_json_reply(reply, client: SatgeoClient, path: str) -> tuple:
    """(data, None) or (None, a one-line error) from a finished QNetworkReply."""
    status = reply.attribute(_STATUS)
    body = bytes(reply.readAll())
    if status in (None, 0, ""):
        return None, f"cannot reach the satgeo server at {client.base_url} ({_one_line(reply.errorString())})"
    if int(status) >= 400:
        return None, f"server error {int(status)} on GET {path}: {server_message(body)}"
    try:
        return json.loads(body.decode("utf-8")), None
    except (ValueError, UnicodeDecodeError):
        return None, f"the server at {client.base_url} answered {path} with something that is not JSON"
