"""`satgeo models pull` against a real HTTP server on 127.0.0.1 (Range requests, checksums, Zenodo API)."""

from __future__ import annotations

import hashlib
import http.server
import json
import os
import subprocess
import sys
import threading
import zipfile
from pathlib import Path

import pytest

from satgeo.errors import ModelError
from satgeo.models import registry
from satgeo.models.hub import download, pull
from satgeo.models.registry import ModelEntry, register_entry


class _Server:
    """Serves files from a dict, honours Range, records requests; can cut a response short."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.ranges: list[str | None] = []
        self.truncate_next: int | None = None
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:  # quiet
                pass

            def do_GET(self) -> None:  # noqa: N802
                path = self.path.split("?")[0]
                body = outer.files.get(path)
                if body is None:
                    self.send_error(404)
                    return
                rng = self.headers.get("Range")
                outer.ranges.append(rng)
                start = 0
                if rng:
                    start = int(rng.split("=")[1].split("-")[0])
                    if start >= len(body):
                        self.send_response(416)
                        self.end_headers()
                        return
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
                else:
                    self.send_response(200)
                chunk = body[start:]
                self.send_header("Content-Length", str(len(chunk)))
                self.end_headers()
                if outer.truncate_next is not None:
                    chunk = chunk[: outer.truncate_next]
                    outer.truncate_next = None
                    self.wfile.write(chunk)
                    self.wfile.flush()
                    self.connection.shutdown(2)  # connection drops mid-transfer
                    return
                self.wfile.write(chunk)

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture()
def server():
    s = _Server()
    yield s
    s.close()


@pytest.fixture(scope="module")
def tiny_zip(tiny_root, tmp_path_factory) -> bytes:
    z = tmp_path_factory.mktemp("zip") / "diffusionsat_256.zip"
    with zipfile.ZipFile(z, "w") as zf:
        for f in sorted(tiny_root.rglob("*")):
            if f.is_file():
                zf.write(f, str(Path("finetune_sd21_256") / f.relative_to(tiny_root)))
    return z.read_bytes()


@pytest.fixture()
def entry(server, tiny_zip, satgeo_home):
    server.files["/files/diffusionsat_256.zip"] = tiny_zip
    e = ModelEntry(name="tiny-test-256", family="diffusionsat", description="test",
                   url=server.url + "/files/diffusionsat_256.zip", sha256=hashlib.sha256(tiny_zip).hexdigest())
    register_entry(e)
    yield e
    registry._ENTRIES.pop(e.name, None)


def test_pull_downloads_verifies_and_unpacks(entry, satgeo_home):
    path = pull(entry.name)
    assert path == satgeo_home / "models" / entry.name
    assert (path / "finetune_sd21_256" / "model_index.json").exists()
    found, family = registry.resolve(entry.name)
    assert family.name == "diffusionsat"
    assert not list((satgeo_home / "downloads").glob("*.part"))


def test_pull_resumes_a_truncated_download_with_range(entry, server, tiny_zip, satgeo_home):
    server.truncate_next = len(tiny_zip) // 3
    with pytest.raises(ModelError):
        pull(entry.name)  # connection dropped: a .part file stays, nothing unpacked
    part = satgeo_home / "downloads" / "diffusionsat_256.zip.part"
    assert part.exists() and 0 < part.stat().st_size < len(tiny_zip)
    assert not (satgeo_home / "models" / entry.name).exists()
    have = part.stat().st_size
    pull(entry.name)
    assert server.ranges[-1] == f"bytes={have}-"
    assert (satgeo_home / "downloads" / "diffusionsat_256.zip").read_bytes() == tiny_zip


def test_checksum_mismatch_leaves_nothing_behind(server, tiny_zip, satgeo_home):
    server.files["/bad.zip"] = tiny_zip
    register_entry(ModelEntry(name="tiny-bad", family="diffusionsat", description="", url=server.url + "/bad.zip",
                              sha256="0" * 64))
    try:
        with pytest.raises(ModelError, match="checksum mismatch"):
            pull("tiny-bad")
        assert not (satgeo_home / "models" / "tiny-bad").exists()
        assert not list((satgeo_home / "downloads").glob("bad.zip*"))
    finally:
        registry._ENTRIES.pop("tiny-bad", None)


def test_zenodo_record_files_are_listed_and_md5_checked(server, tiny_zip, satgeo_home, monkeypatch):
    server.files["/api/records/424242"] = json.dumps({"files": [{
        "key": "diffusionsat_256.zip", "size": len(tiny_zip), "checksum": "md5:" + hashlib.md5(tiny_zip).hexdigest(),
        "links": {"self": server.url + "/api/records/424242/files/diffusionsat_256.zip/content"}}]}).encode()
    server.files["/api/records/424242/files/diffusionsat_256.zip/content"] = tiny_zip
    monkeypatch.setenv("SATGEO_ZENODO_API", server.url + "/api")
    register_entry(ModelEntry(name="tiny-zenodo", family="diffusionsat", description="", zenodo_record="424242"))
    try:
        path = pull("tiny-zenodo")
        found, family = registry.resolve("tiny-zenodo")
        assert family.name == "diffusionsat" and found == path
    finally:
        registry._ENTRIES.pop("tiny-zenodo", None)


def test_unreachable_server_is_one_line(satgeo_home):
    with pytest.raises(ModelError, match="cannot reach"):
        download("http://127.0.0.1:9/nothing.zip", satgeo_home / "x.zip")


def test_cli_pull_shows_progress_and_prints_the_path(server, tiny_zip, tmp_path):
    """The real `satgeo` command in a subprocess: a test entry is registered via a plugin-free sitecustomize."""
    server.files["/files/diffusionsat_256.zip"] = tiny_zip
    home = tmp_path / "home"
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(
        "from satgeo.models.registry import ModelEntry, register_entry\n"
        f"register_entry(ModelEntry(name='tiny-cli', family='diffusionsat', description='cli test', "
        f"url='{server.url}/files/diffusionsat_256.zip', sha256='{hashlib.sha256(tiny_zip).hexdigest()}'))\n"
    )
    env = dict(os.environ, SATGEO_HOME=str(home), HF_HUB_OFFLINE="1", PYTHONPATH=f"{site}:{os.environ.get('PYTHONPATH', '')}")
    cli = [sys.executable, "-c", "from satgeo.cli import main; main()"]
    r = subprocess.run(cli + ["models", "pull", "tiny-cli"], env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == str(home / "models" / "tiny-cli")
    assert "tiny-cli" in r.stderr and "B" in r.stderr  # tqdm progress bar on stderr
    r = subprocess.run(cli + ["models", "pull", "no-such-model"], env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 2 and r.stderr.strip().startswith("error: unknown model") and len(r.stderr.strip().splitlines()) == 1


def test_cli_list_and_info(entry, satgeo_home):
    from click.testing import CliRunner

    from satgeo.cli import app

    runner = CliRunner()
    r = runner.invoke(app, ["models", "list"])
    assert r.exit_code == 0
    assert any(line.startswith(entry.name) and "not downloaded" in line for line in r.output.splitlines())
    assert any(line.startswith("diffusionsat-512") and "zenodo:13751498" in line for line in r.output.splitlines())
    pull(entry.name)
    r = runner.invoke(app, ["models", "info", entry.name, "--json"])
    info = json.loads(r.output)
    assert info["status"] == "ready" and info["metadata"] is True and info["window"].startswith("256 px")
    r = runner.invoke(app, ["models", "info", "diffusionsat-256"])
    assert "get_it:" in r.output and "zenodo.org/records/13756199" in r.output
