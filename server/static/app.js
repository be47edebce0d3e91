// satgeo web map: a scene's synthetic tiles over its footprints, a rectangle tool that
// submits a job, its progress and the COG download. No framework, no CDN.
(function () {
  "use strict";
  const params = new URLSearchParams(location.search);
  const token = params.get("token") || params.get("access_token");
  const headers = token ? { Authorization: "Bearer " + token } : {};
  const withToken = (url) => (token ? url + (url.includes("?") ? "&" : "?") + "access_token=" + encodeURIComponent(token) : url);
  const $ = (id) => document.getElementById(id);
  const state = { scene: null, tiles: null, footprints: null, footprintData: null, rect: null, tilesLoaded: 0 };
  window.satgeo = state; // for tests and the curious

  const map = L.map("map", { zoomControl: true, attributionControl: true }).setView([0, 0], 2);

  async function api(path, options) {
    const res = await fetch(path, Object.assign({ headers: Object.assign({ "Content-Type": "application/json" }, headers) }, options || {}));
    const body = res.headers.get("content-type") && res.headers.get("content-type").includes("json") ? await res.json() : null;
    if (!res.ok) throw new Error((body && body.detail) || res.status + " " + res.statusText);
    return body;
  }

  function message(text) { $("message").textContent = text || ""; }

  async function showScene(scene) {
    state.scene = scene;
    if (state.tiles) map.removeLayer(state.tiles);
    if (state.footprints) map.removeLayer(state.footprints);
    const tj = await api(withToken(scene.links.tilejson));
    state.tiles = L.tileLayer(tj.tiles[0], {
      minZoom: 0, maxZoom: tj.maxzoom, minNativeZoom: tj.minzoom, maxNativeZoom: tj.maxzoom,
      tileSize: tj.tileSize || 256, attribution: tj.attribution, bounds: [[tj.bounds[1], tj.bounds[0]], [tj.bounds[3], tj.bounds[2]]],
    }).addTo(map);
    state.tiles.on("tileload", () => { state.tilesLoaded += 1; document.body.dataset.tilesLoaded = state.tilesLoaded; });
    state.tiles.on("tileerror", () => message("a tile failed to load"));
    state.tiles.on("load", () => { document.body.dataset.tilesDone = "1"; }); // every visible tile drawn
    const fz = params.get("zoom") ? Number(params.get("zoom")) : Math.min(tj.center[2], tj.maxzoom);
    const b = tj.bounds;
    if (params.get("lat") && params.get("lon")) map.setView([Number(params.get("lat")), Number(params.get("lon"))], fz);
    else map.setView([(b[1] + b[3]) / 2, (b[0] + b[2]) / 2], fz);
    try {
      state.footprintData = await api(withToken(scene.links.footprints));
      state.footprints = L.geoJSON(state.footprintData, { style: { color: "#ffcc00", weight: 1, fill: false } });
      if ($("show-footprints").checked) state.footprints.addTo(map);
    } catch (e) { message("footprints: " + e.message); }
  }

  async function loadScenes() {
    const scenes = await api(withToken("/v1/scenes"));
    const select = $("scene");
    select.innerHTML = "";
    for (const s of scenes) {
      const opt = document.createElement("option");
      opt.value = s.id; opt.textContent = s.name || s.id.slice(0, 8);
      select.appendChild(opt);
    }
    const wanted = params.get("scene");
    const scene = scenes.find((s) => s.id === wanted) || scenes[scenes.length - 1];
    if (scene) { select.value = scene.id; await showScene(scene); }
    else message("no scenes yet: POST /v1/scenes to add one");
    select.onchange = () => showScene(scenes.find((s) => s.id === select.value));
  }

  $("show-footprints").onchange = (e) => {
    if (!state.footprints) return;
    if (e.target.checked) state.footprints.addTo(map); else map.removeLayer(state.footprints);
  };

  // Rectangle tool: press, drag, release.
  function startDrawing() {
    map.dragging.disable();
    map.getContainer().classList.add("drawing");
    let start = null;
    const down = (e) => { start = e.latlng; state.rect && map.removeLayer(state.rect); state.rect = L.rectangle([start, start], { color: "#e74c3c" }).addTo(map); };
    const move = (e) => { if (start) state.rect.setBounds([start, e.latlng]); };
    const up = (e) => {
      map.off("mousedown", down); map.off("mousemove", move); map.off("mouseup", up);
      map.dragging.enable(); map.getContainer().classList.remove("drawing");
      if (start) submitJob(L.latLngBounds(start, e.latlng));
    };
    map.on("mousedown", down); map.on("mousemove", move); map.on("mouseup", up);
  }
  $("draw").onclick = startDrawing;

  function featuresIn(bounds) {
    if (!state.footprintData) return [];
    return state.footprintData.features.filter((f) => L.geoJSON(f).getBounds().intersects(bounds));
  }

  async function submitJob(bounds) {
    message("");
    const s = state.scene || {};
    const body = { bbox: [bounds.getWest(), bounds.getSouth(), bounds.getEast(), bounds.getNorth()], crs: "EPSG:4326" };
    if (s.model) body.model = s.model;
    const feats = featuresIn(bounds);
    if (feats.length) body.footprints = { type: "FeatureCollection", features: feats };
    try {
      const job = await api(withToken("/v1/jobs"), { method: "POST", body: JSON.stringify(body) });
      watchJob(job.id);
    } catch (e) { message("job: " + e.message); }
  }
  window.satgeoSubmitJob = (w, s, e, n) => submitJob(L.latLngBounds([s, w], [n, e]));

  async function watchJob(id) {
    $("job").hidden = false; $("job-id").textContent = id.slice(0, 8); $("job-download").hidden = true;
    document.body.dataset.jobId = id;
    for (;;) {
      let job;
      try { job = await api(withToken("/v1/jobs/" + id)); } catch (e) { message(e.message); return; }
      $("job-status").textContent = job.status + (job.error ? ": " + job.error : "");
      $("job-progress").value = job.progress;
      document.body.dataset.jobStatus = job.status;
      if (job.status === "succeeded") {
        const a = $("job-download"); a.href = withToken(job.links.result); a.hidden = false; return;
      }
      if (job.status === "failed" || job.status === "cancelled") return;
      await new Promise((r) => setTimeout(r, 500));
    }
  }

  loadScenes().catch((e) => message(e.message));
})();
