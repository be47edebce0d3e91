"""Scenes: a set of layers + model + parameters, content-addressed, served as XYZ tiles."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import geopandas as gpd

from satgeo.atomic import write_bytes
from satgeo.errors import InputError, LimitError
from satgeo.geo.area import Area
from satgeo.geo.xyz import native_zoom_for, tile_ground_gsd
from satgeo.models.registry import DEFAULT_MODEL
from satgeo_server import inputs
from satgeo_server.schemas import SceneCreate
from satgeo_server.settings import Settings
from satgeo_server.store import Store


@dataclass
class LoadedScene:
    id: str
    spec: dict[str, Any]
    layers: list[str]  # absolute paths (the engine caches loaded layers by path + mtime)
    request: Any  # satgeo.render.request.RenderRequest shared by every metatile

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        return tuple(self.spec["bounds"])  # type: ignore[return-value]

    @property
    def native_zoom(self) -> int:
        return int(self.spec["native_zoom"])


def model_card(model: str | None, device: str | None = None):
    from satgeo.render.engine import get_generator  # cached by the engine

    return get_generator(model, device).card


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class SceneRegistry:
    def __init__(self, settings: Settings, store: Store) -> None:
        self.settings = settings
        self.store = store
        self._loaded: dict[str, LoadedScene] = {}
        self._lock = threading.Lock()

    def create(self, body: SceneCreate) -> tuple[str, dict[str, Any]]:
        """Validate, store inline layers, and register; the id is a hash of everything that shapes pixels."""
        model = inputs.resolve_model(body.model, self.settings)
        layer_files: list[tuple[Path, bytes | None]] = []
        digests = []
        gdfs: dict[int, gpd.GeoDataFrame] = {}
        for ref in body.layers:
            if ref.geojson is not None:
                inputs.read_feature_collection(ref.geojson)
                encoded = json.dumps(ref.geojson.model_dump(), sort_keys=True).encode()
                digest = _sha(encoded)
                layer_files.append((self.settings.data_dir / "scenes" / "layers" / f"{digest}.geojson", encoded))
            else:
                path = inputs.confined_path(self.settings, ref.path or "")
                gdfs[len(layer_files)] = inputs.read_layer_file(path)
                digest = _sha(path.read_bytes())
                layer_files.append((path, None))
            digests.append(digest)
        # inline layers are written only once every layer has been checked
        for i, (path, content) in enumerate(layer_files):
            if content is not None:
                if not path.exists():
                    path.parent.mkdir(parents=True, exist_ok=True)
                    write_bytes(path, content)
                gdfs[i] = inputs.read_layer_file(path)
        bounds = inputs.layer_bounds([gdfs[i] for i in range(len(layer_files))])
        area = Area.from_bbox(bounds)
        km2 = area.work_geometry().area / 1e6
        if km2 > self.settings.max_area_km2:
            raise LimitError(
                f"scene layers span {km2:.2f} km², above this server's limit of {self.settings.max_area_km2:g} km²"
            )
        card = model_card(model, self.settings.device)
        lat = (bounds[1] + bounds[3]) / 2
        zoom = body.native_zoom
        if zoom is None:
            zoom = native_zoom_for(card.native_gsd, lat, self.settings.tile_size)
        px = tile_ground_gsd(zoom, lat, self.settings.tile_size)
        ratio = max(px / card.native_gsd, card.native_gsd / px)
        if ratio > card.max_gsd_ratio:
            raise InputError(
                f"zoom {zoom} is {px:.3g} m/px here, {ratio:.1f}x away from model {card.name!r}'s native "
                f"{card.native_gsd:g} m; leave native_zoom out to get the closest zoom"
            )
        spec = {
            "name": body.name,
            "layers": [str(p.relative_to(self.settings.data_dir)) for p, _ in layer_files],
            "model": model,
            # the card's name, for listings that must not load the model
            "model_name": card.name or Path(model or DEFAULT_MODEL).name,
            "prompt": body.prompt,
            "date": body.date.isoformat() if body.date else None,
            "cloud_cover": body.cloud_cover,
            "seed": body.seed,
            "steps": body.steps,
            "native_zoom": zoom,
            "bounds": list(bounds),
        }
        # added later: only when set, so scenes asked for without them keep their ids
        spec |= {k: v for k, v in (("guidance", body.guidance), ("scheduler", body.scheduler)) if v is not None}
        key = {k: v for k, v in spec.items() if k not in ("name", "layers", "model_name")}
        # the model as named (a path relative to --data-dir), so copies of a data dir share scene ids
        key["model"] = body.model
        key["layer_digests"] = digests
        key["tile_size"] = self.settings.tile_size
        scene_id = _sha(json.dumps(key, sort_keys=True).encode())[:24]
        self.store.put_scene(scene_id, spec)
        return scene_id, self.store.get_scene(scene_id) or spec

    def spec(self, scene_id: str) -> dict[str, Any] | None:
        return self.store.get_scene(scene_id)

    def load(self, scene_id: str) -> LoadedScene | None:
        with self._lock:
            scene = self._loaded.get(scene_id)
        if scene is not None:
            return scene
        spec = self.store.get_scene(scene_id)
        if spec is None:
            return None
        from satgeo.render.request import RenderRequest

        layers = [str(self.settings.data_dir / p) for p in spec["layers"]]
        request = RenderRequest(
            area=Area.from_bbox(spec["bounds"]),
            layers=layers,
            model=spec["model"],
            prompt=spec["prompt"],
            date=dt.date.fromisoformat(spec["date"]) if spec["date"] else None,
            cloud_cover=spec["cloud_cover"],
            seed=int(spec["seed"]),
            steps=spec["steps"],
            guidance=spec.get("guidance"),
            scheduler=spec.get("scheduler"),
            device=self.settings.device,
        )
        scene = LoadedScene(scene_id, spec, layers, request)
        with self._lock:
            self._loaded.setdefault(scene_id, scene)
            return self._loaded[scene_id]

    def footprints_geojson(self, scene_id: str, max_features: int = 20_000) -> dict[str, Any]:
        scene = self.load(scene_id)
        if scene is None:
            raise InputError("no such scene")
        frames = [inputs.read_layer_file(Path(p)).to_crs("EPSG:4326")[["geometry"]] for p in scene.layers]
        total = sum(len(f) for f in frames)
        if total > max_features:
            raise LimitError(f"scene has {total} features, above the {max_features} this route returns")
        features = []
        for f in frames:
            features.extend(json.loads(f.to_json())["features"])
        return {"type": "FeatureCollection", "features": features}
