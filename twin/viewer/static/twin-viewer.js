/*
 * The twin's 3D viewer, on top of pydeck's deck.gl bundle (globals `deck`, `createDeck` and
 * `updateDeck`, served from the pydeck wheel by this service). The page gives the deck as
 * pydeck JSON (script#deck-json) and the viewer's own settings (script#viewer-config); this
 * file adds two layer classes to pydeck's JSON converter, the tooltip, the layer switches and
 * the first-frame timing the tests and the benchmark read (window.twinViewer).
 */
(function () {
  'use strict';

  const {Tile3DLayer, TileLayer, GeoJsonLayer, COORDINATE_SYSTEM} = globalThis.deck;

  /* ---------------------------------------------------------------------------------------
   * Buildings: 3D Tiles with glTF content. deck.gl draws glTF tiles as one scenegraph per
   * tile, which can only pick a whole tile, and lights them per pixel with PBR, which software
   * GL draws at a fraction of the speed of deck.gl's extruded polygons. Our tiles carry the
   * building of every vertex (EXT_mesh_features) and the buildings' properties
   * (EXT_structural_metadata), so each loaded tile is drawn by FeatureMeshLayer instead:
   * deck.gl's SimpleMeshLayer picking by feature id (as deck.gl's own I3S mesh layer does) and
   * shading each face flat by one fixed light, so roofs and walls read.
   */
  const NO_DATA = -9999;
  const HOLD_MS = 8000;

  // deck.gl 9.3 mesh-layer-vertex.glsl (MIT, vis.gl contributors: the I3S mesh layer of
  // Tile3DLayer): the layer's model matrix (the tile's frame) applies to the positions, and the
  // picking colour is per vertex (feature); no normals or texture coordinates needed.
  const FEATURE_MESH_VS = `#version 300 es
#define SHADER_NAME twin-feature-mesh-vs
in vec3 positions;
in vec3 colors;
in vec3 featureIdsPickingColors;
in vec4 instanceColors;
out vec4 position_commonspace;
out vec4 vColor;
void main(void) {
  geometry.uv = vec2(0.0);
  geometry.pickingColor = featureIdsPickingColors;
  vColor = vec4(colors * instanceColors.rgb, instanceColors.a);
  position_commonspace = vec4(project_position(positions), 1.0);
  gl_Position = project_common_position_to_clipspace(position_commonspace);
  geometry.position = position_commonspace;
  geometry.normal = vec3(0.0, 0.0, 1.0);
  DECKGL_FILTER_GL_POSITION(gl_Position, geometry);
  DECKGL_FILTER_COLOR(vColor, geometry);
}
`;

  // Flat shading from the face's screen-space derivatives (a glTF mesh without normals is
  // shaded flat by definition), lit by a sun from the south-west and the sky.
  const FEATURE_MESH_FS = `#version 300 es
#define SHADER_NAME twin-feature-mesh-fs
precision highp float;
uniform sampler2D sampler;
in vec4 position_commonspace;
in vec4 vColor;
out vec4 fragColor;
const vec3 SUN = vec3(-0.42, -0.55, 0.72);
void main(void) {
  geometry.uv = vec2(0.0);
  vec3 normal = normalize(cross(dFdx(position_commonspace.xyz), dFdy(position_commonspace.xyz)));
  float light = 0.58 + 0.48 * max(dot(normal, normalize(SUN)), 0.0);
  vec4 color = simpleMesh.hasTexture ? texture(sampler, vec2(0.0)) : vColor;
  color = vec4(min(color.rgb * light, vec3(1.0)), color.a * layer.opacity);
  DECKGL_FILTER_COLOR(color, geometry);
  fragColor = color;
}
`;

  const {SimpleMeshLayer} = globalThis.deck;

  class FeatureMeshLayer extends SimpleMeshLayer {
    getShaders() {
      return {...super.getShaders(), vs: FEATURE_MESH_VS, fs: FEATURE_MESH_FS};
    }

    initializeState() {
      super.initializeState();
      // As deck.gl's MeshLayer: one picking colour per vertex, encoding its feature id.
      this.getAttributeManager().add({
        featureIdsPickingColors: {type: 'uint8', size: 3, noAlloc: true,
                                  update: this.calculateFeatureIdsPickingColors}
      });
    }

    calculateFeatureIdsPickingColors(attribute) {
      const featureIds = this.props.featureIds;
      const value = new Uint8ClampedArray(featureIds.length * attribute.size);
      const color = [];
      for (let i = 0; i < featureIds.length; i++) {
        this.encodePickingColor(featureIds[i], color);
        value[i * 3] = color[0];
        value[i * 3 + 1] = color[1];
        value[i * 3 + 2] = color[2];
      }
      attribute.value = value;
    }
  }
  FeatureMeshLayer.layerName = 'FeatureMeshLayer';
  FeatureMeshLayer.defaultProps = {featureIds: {type: 'array', value: null, optional: true}};

  function attribute(accessor) {
    return accessor && {value: accessor.value, size: accessor.components,
                        normalized: Boolean(accessor.normalized)};
  }

  function featureTable(gltf) {
    const metadata = (gltf.extensions || {}).EXT_structural_metadata;
    const table = metadata && metadata.propertyTables && metadata.propertyTables[0];
    if (!table) {
      return () => null;
    }
    const columns = Object.entries(table.properties || {});
    return index => {
      const feature = {};
      for (const [name, column] of columns) {
        let value = column.data ? column.data[index] : undefined;
        if (value === '' || value === NO_DATA) {
          value = null;
        }
        feature[name] = value === undefined ? null : value;
      }
      return feature;
    };
  }

  function asFeatureMesh(tile) {
    const content = tile.content;
    const gltf = content && content.gltf;
    if (!gltf || !gltf.meshes || content.feature) {
      return;
    }
    const primitive = gltf.meshes[0].primitives[0];
    const a = primitive.attributes;
    content.attributes = {positions: attribute(a.POSITION), colors: attribute(a.COLOR_0)};
    content.indices = primitive.indices && primitive.indices.value;
    content.featureIds = a._FEATURE_ID_0 && a._FEATURE_ID_0.value;
    content.material = null;
    content.coordinateSystem = COORDINATE_SYSTEM.METER_OFFSETS;
    content.feature = featureTable(gltf);
    delete content.gltf; // the arrays above are all that is drawn
    tile.type = 'mesh'; // drawn by Tile3DLayer's mesh sublayer: FeatureMeshLayer, below
  }

  class BuildingTilesLayer extends Tile3DLayer {
    _onTileLoad(tile) {
      asFeatureMesh(tile);
      super._onTileLoad(tile);
    }

    filterSubLayer({layer, viewport}) {
      // deck.gl also skips, when picking, tiles whose centre is a quarter screen away from the
      // pointer: at street level a 250 m tile is wider than the screen, so its buildings
      // could not be hovered. Draw and pick every selected tile.
      const {tile} = layer.props;
      return tile.selected && tile.viewportIds.includes(viewport.id) && this._initialLoadDone();
    }

    _initialLoadDone() {
      // The first view is drawn once, when every tile it needs has arrived (or after
      // HOLD_MS): in software GL each partial frame on the way costs as much as the last.
      const {tileset3d} = this.state;
      if (this.state.released || !tileset3d) {
        return Boolean(this.state.released);
      }
      const since = this.state.heldSince || (this.state.heldSince = performance.now());
      if ((tileset3d.isLoaded() && tileset3d.selectedTiles.length > 0) ||
          performance.now() - since > HOLD_MS) {
        this.state.released = true;
      }
      return Boolean(this.state.released);
    }

    getPickingInfo(params) {
      const info = super.getPickingInfo(params);
      const tile = info.sourceTile;
      if (info.picked && tile && tile.content && tile.content.feature) {
        info.object = tile.content.feature(info.index);
      }
      return info;
    }
  }
  BuildingTilesLayer.layerName = 'BuildingTilesLayer';
  BuildingTilesLayer.defaultProps = {_subLayerProps: {mesh: {type: FeatureMeshLayer}}};

  /* ---------------------------------------------------------------------------------------
   * Another collection of this API, fetched as GeoJSON (CRS84) per map tile with a bbox
   * query, so a city's worth of parcels is never fetched at once.
   */
  class OgcFeaturesLayer extends TileLayer {
    getTileData(tile) {
      const {west, south, east, north} = tile.bbox;
      const bbox = [west, south, east, north].map(v => v.toFixed(6)).join(',');
      const url = `${this.props.collectionUrl}/items?f=json&bbox=${bbox}` +
        `&limit=${this.props.pageSize}`;
      return fetch(url, {signal: tile.signal, headers: {Accept: 'application/geo+json'}})
        .then(response => (response.ok ? response.json() : {features: []}))
        .then(collection => collection.features || [])
        .catch(error => {
          if (error.name !== 'AbortError') {
            console.warn(`twin viewer: ${url}: ${error.message}`); // eslint-disable-line no-console
          }
          return [];
        });
    }

    renderSubLayers(props) {
      return new GeoJsonLayer(props, {id: `${props.id}-geojson`, data: props.data});
    }
  }
  OgcFeaturesLayer.layerName = 'OgcFeaturesLayer';
  OgcFeaturesLayer.defaultProps = {collectionUrl: '', pageSize: 1000, maxRequests: 4};

  /* ---------------------------------------------------------------------------------------
   * The terrain: this API's coverage `terrain` for the area in view, at most maxCells × maxCells
   * heights (scale-size; none when the view holds fewer cells), as CoverageJSON. Each height
   * is a vertex at its cell's centre, drawn by FeatureMeshLayer (flat-shaded faces) and
   * coloured by height. Heights are used as they come (DHHN2016, as ellipsoidal heights),
   * the convention of the building tiles, so the buildings stand on the terrain. The area
   * is fetched again when the view leaves it or comes much closer.
   */
  const {CompositeLayer} = globalThis.deck;
  const RELOAD_MS = 400;

  // Easting/northing of the storage CRS (transverse Mercator) to longitude/latitude: the
  // Krüger series to third order in n (accurate to about a millimetre within a UTM zone), as
  // deck.gl's bundle has no projection library. proj = [central meridian, scale factor, false
  // easting, false northing, semi-major axis, inverse flattening] (page.py, from pyproj).
  function inverseTransverseMercator(proj) {
    const [lon0, k0, fe, fn, a, invf] = proj;
    const f = 1 / invf;
    const n = f / (2 - f);
    const n2 = n * n;
    const n3 = n2 * n;
    const A = a / (1 + n) * (1 + n2 / 4 + n2 * n2 / 64);
    const beta = [n / 2 - 2 * n2 / 3 + 37 * n3 / 96, n2 / 48 + n3 / 15, 17 * n3 / 480];
    const delta = [2 * n - 2 * n2 / 3 - 2 * n3, 7 * n2 / 3 - 8 * n3 / 5, 56 * n3 / 15];
    const rad = Math.PI / 180;
    return (x, y) => {
      const xi = (y - fn) / (k0 * A);
      const eta = (x - fe) / (k0 * A);
      let xi1 = xi;
      let eta1 = eta;
      for (let j = 1; j <= 3; j++) {
        xi1 -= beta[j - 1] * Math.sin(2 * j * xi) * Math.cosh(2 * j * eta);
        eta1 -= beta[j - 1] * Math.cos(2 * j * xi) * Math.sinh(2 * j * eta);
      }
      const chi = Math.asin(Math.sin(xi1) / Math.cosh(eta1));
      let phi = chi;
      for (let j = 1; j <= 3; j++) {
        phi += delta[j - 1] * Math.sin(2 * j * chi);
      }
      return [lon0 + Math.atan(Math.sinh(eta1) / Math.cos(xi1)) / rad, phi / rad];
    };
  }

  function rampColour(ramp, t) {
    const at = Math.min(Math.max(t, 0), 1) * (ramp.length - 1);
    const i = Math.min(Math.floor(at), ramp.length - 2);
    const u = at - i;
    return ramp[i].map((c, k) => Math.round(c + (ramp[i + 1][k] - c) * u));
  }

  // The mesh of a CoverageJSON grid: positions as longitude/latitude offsets from the grid's
  // first cell (LNGLAT_OFFSETS keeps float32 precise) and metres up.
  function terrainMesh(doc, proj, ramp) {
    const {x, y} = doc.domain.axes;
    const range = Object.values(doc.ranges)[0];
    const [rows, cols] = range.shape;
    const toLonLat = inverseTransverseMercator(proj);
    const dx = cols > 1 ? (x.stop - x.start) / (cols - 1) : 0;
    const dy = rows > 1 ? (y.stop - y.start) / (rows - 1) : 0;
    const origin = toLonLat(x.start, y.start);
    const positions = new Float32Array(rows * cols * 3);
    let min = Infinity;
    let max = -Infinity;
    for (let r = 0; r < rows; r++) {
      for (let c = 0; c < cols; c++) {
        const i = r * cols + c;
        const [lon, lat] = toLonLat(x.start + c * dx, y.start + r * dy);
        const z = range.values[i];
        positions[i * 3] = lon - origin[0];
        positions[i * 3 + 1] = lat - origin[1];
        positions[i * 3 + 2] = z === null ? 0 : z;
        if (z !== null) {
          min = Math.min(min, z);
          max = Math.max(max, z);
        }
      }
    }
    const colors = new Uint8Array(rows * cols * 3);
    for (let i = 0; i < rows * cols; i++) {
      const colour = rampColour(ramp, max > min ? (positions[i * 3 + 2] - min) / (max - min) : 0.5);
      colors.set(colour, i * 3);
    }
    // Two triangles per four neighbouring heights; none touching a cell without height.
    const indices = [];
    const has = i => range.values[i] !== null;
    for (let r = 0; r + 1 < rows; r++) {
      for (let c = 0; c + 1 < cols; c++) {
        const i = r * cols + c;
        const [b, d, e] = [i + 1, i + cols, i + cols + 1];
        if (has(i) && has(b) && has(d) && has(e)) {
          indices.push(i, d, b, b, d, e);
        }
      }
    }
    return {origin, rows, cols, positions, min, max, mesh: {
      attributes: {positions: {value: positions, size: 3},
                   colors: {value: colors, size: 3, normalized: true}},
      indices: new Uint32Array(indices)}};
  }

  class TerrainCoverageLayer extends CompositeLayer {
    initializeState() {
      this.state = {terrain: null, loaded: null, timer: null, request: null};
    }

    shouldUpdateState({changeFlags}) {
      return changeFlags.somethingChanged;
    }

    updateState({changeFlags}) {
      if (changeFlags.viewportChanged || !this.state.loaded) {
        clearTimeout(this.state.timer);
        this.state.timer = setTimeout(() => this._load(), this.state.loaded ? RELOAD_MS : 0);
      }
    }

    finalizeState(context) {
      clearTimeout(this.state.timer);
      if (this.state.request) {
        this.state.request.abort();
      }
      showTerrainLegend(null);
      state.terrain = null;
      super.finalizeState(context);
    }

    // The area to ask for: the view (clipped to the terrain) and a quarter more each way,
    // and the size of its cells.
    _wanted(viewport) {
      const [west, south, east, north] = this.props.extent;
      const [vw, vs, ve, vn] = viewport.getBounds();
      const view = [Math.max(vw, west), Math.max(vs, south), Math.min(ve, east),
                    Math.min(vn, north)];
      if (view[0] >= view[2] || view[1] >= view[3]) {
        return null;
      }
      const mw = (view[2] - view[0]) / 4;
      const mh = (view[3] - view[1]) / 4;
      const bbox = [Math.max(view[0] - mw, west), Math.max(view[1] - mh, south),
                    Math.min(view[2] + mw, east), Math.min(view[3] + mh, north)];
      const lat = (bbox[1] + bbox[3]) / 2;
      const cols = (bbox[2] - bbox[0]) * 111320 * Math.cos(lat * Math.PI / 180) /
        this.props.resolution;
      const rows = (bbox[3] - bbox[1]) * 110574 / this.props.resolution;
      const max = this.props.maxCells;
      // Below the limit (with room for the densified outline) the cells come as they are.
      const scale = Math.max(cols, rows) > max * 0.9 ? Math.max(cols, rows) / max : 0;
      return {view, bbox, cell: this.props.resolution * Math.max(scale, 1),
              size: scale ? [Math.max(1, Math.round(cols / scale)),
                             Math.max(1, Math.round(rows / scale))] : null};
    }

    _load() {
      const viewport = this.context.viewport;
      const want = viewport && this._wanted(viewport);
      const loaded = this.state.loaded;
      if (!want || (loaded && want.view[0] >= loaded.bbox[0] && want.view[1] >= loaded.bbox[1] &&
                    want.view[2] <= loaded.bbox[2] && want.view[3] <= loaded.bbox[3] &&
                    loaded.cell <= want.cell * 2)) {
        return;
      }
      const bbox = want.bbox.map(v => v.toFixed(6)).join(',');
      const url = `${this.props.coverageUrl}?f=json&bbox=${bbox}` +
        (want.size ? `&scale-size=E(${want.size[0]}),N(${want.size[1]})` : '');
      if (this.state.request) {
        this.state.request.abort();
      }
      const request = new AbortController();
      this.state.request = request;
      this.state.loaded = {bbox: want.bbox, cell: want.cell}; // asked for: not again meanwhile
      fetch(url, {signal: request.signal, headers: {Accept: 'application/prs.coverage+json'}})
        .then(response => {
          if (!response.ok) {
            throw new Error(response.status === 404 ? 'the terrain is not loaded'
              : `HTTP ${response.status}`);
          }
          return response.json();
        })
        .then(doc => {
          const terrain = terrainMesh(doc, this.props.projection, this.props.ramp);
          terrain.url = url;
          state.terrain = terrain; // for the tests: what is drawn
          this.setState({terrain});
          showTerrainLegend(terrain);
        })
        .catch(error => {
          if (error.name !== 'AbortError') {
            console.warn(`twin viewer: ${url}: ${error.message}`); // eslint-disable-line no-console
          }
        });
    }

    renderLayers() {
      const {terrain} = this.state;
      if (!terrain) {
        return null;
      }
      const vertices = terrain.rows * terrain.cols;
      return new FeatureMeshLayer(this.getSubLayerProps({id: 'mesh'}), {
        data: [{}], mesh: terrain.mesh, getPosition: [0, 0, 0], getColor: [255, 255, 255, 255],
        featureIds: new Uint32Array(vertices), pickable: false,
        coordinateSystem: COORDINATE_SYSTEM.LNGLAT_OFFSETS,
        coordinateOrigin: [terrain.origin[0], terrain.origin[1], 0]
      });
    }
  }
  TerrainCoverageLayer.layerName = 'TerrainCoverageLayer';
  TerrainCoverageLayer.defaultProps = {
    coverageUrl: '', extent: [-180, -90, 180, 90], resolution: 1, maxCells: 256,
    projection: null, ramp: [[0, 0, 0], [255, 255, 255]]
  };

  function showTerrainLegend(terrain) {
    const legend = document.getElementById('terrain-legend');
    if (!legend) {
      return;
    }
    legend.hidden = !terrain;
    if (terrain) {
      const metres = v => v.toLocaleString('de-DE', {maximumFractionDigits: 1});
      document.getElementById('terrain-range').textContent =
        `${metres(terrain.min)}–${metres(terrain.max)} m ü. NHN`;
    }
  }

  /* --------------------------------------------------------------------------------------- */

  const state = {
    deck: null,
    startedAt: 0, // first frame counted from the start of navigation (performance.now())
    firstFrameMs: null,
    frames: 0,
    tilesetLoaded: false,
    errors: [],
    terrain: null // the terrain drawn: its mesh, heights and request (TerrainCoverageLayer)
  };

  function escapeHtml(value) {
    return String(value).replace(/[&<>"']/g, c => ({'&': '&amp;', '<': '&lt;', '>': '&gt;',
                                                    '"': '&quot;', "'": '&#39;'}[c]));
  }

  function format(value, field) {
    if (value === null || value === undefined || value === '') {
      return null;
    }
    if (field.values && field.values[value] !== undefined) {
      return field.values[value];
    }
    if (typeof value === 'number') {
      const digits = field.digits === undefined ? 1 : field.digits;
      return value.toLocaleString('de-DE', {maximumFractionDigits: digits}) +
        (field.unit ? ` ${field.unit}` : '');
    }
    return String(value) + (field.unit ? ` ${field.unit}` : '');
  }

  /* ---------------------------------------------------------------------------------------
   * Sensors: the last 7 days of a station as a small chart in its tooltip, hourly means from
   * this API's EDR series (CoverageJSON), fetched on first hover and again after a minute;
   * drawn as inline SVG (no chart library, nothing from another host).
   */
  const CHART_TTL_MS = 60000;
  const charts = {}; // key: {svg, at, pending}

  function sparkline(times, values, unit) {
    const points = values.map((v, i) => [Date.parse(times[i]), v]).filter(p => p[1] !== null);
    if (points.length < 2) {
      return '<small>letzte 7 Tage: zu wenige Werte</small>';
    }
    const w = 200;
    const h = 48;
    const t0 = points[0][0];
    const t1 = points[points.length - 1][0];
    const lo = Math.min(...points.map(p => p[1]));
    const hi = Math.max(...points.map(p => p[1]));
    const x = t => (t1 > t0 ? (t - t0) / (t1 - t0) : 0) * (w - 2) + 1;
    const y = v => h - 1 - (hi > lo ? (v - lo) / (hi - lo) : 0.5) * (h - 2);
    const path = points.map(([t, v]) => `${x(t).toFixed(1)},${y(v).toFixed(1)}`).join(' ');
    const n = v => v.toLocaleString('de-DE', {maximumFractionDigits: 1});
    return `<small>letzte 7 Tage (Stundenmittel): ${n(lo)}–${n(hi)} ${escapeHtml(unit)}</small>` +
      `<svg class="twin-spark" width="${w}" height="${h}" viewBox="0 0 ${w} ${h}">` +
      `<polyline fill="none" stroke="#1565c0" stroke-width="1.5" points="${path}"/></svg>`;
  }

  function fetchChart(chart, id, key) {
    charts[key] = {...(charts[key] || {}), pending: true};
    const since = new Date(Date.now() - 7 * 86400000).toISOString().replace(/\.\d+Z$/, 'Z');
    const url = `${chart.url}/${encodeURIComponent(id)}?f=json&resolution=PT1H` +
      `&parameter-name=${encodeURIComponent(chart.parameter)}` +
      `&datetime=${encodeURIComponent(since)}/..`;
    const done = svg => {
      charts[key] = {svg, at: Date.now(), pending: false};
      for (const element of document.querySelectorAll('.twin-chart')) {
        if (element.dataset.key === key) {
          element.innerHTML = svg;
        }
      }
    };
    fetch(url)
      .then(response => (response.ok ? response.json() : null))
      .then(cov => done(cov ? sparkline(cov.domain.axes.t.values,
                                        cov.ranges[chart.parameter].values, chart.unit)
        : '<small>letzte 7 Tage: keine Werte</small>'))
      .catch(() => done('<small>letzte 7 Tage: nicht erreichbar</small>'));
  }

  function chartHtml(chart, id) {
    const key = `${chart.url}/${id}`;
    const cached = charts[key];
    if (!cached || (!cached.pending && Date.now() - cached.at > CHART_TTL_MS)) {
      fetchChart(chart, id, key);
    }
    return `<div class="twin-chart" data-key="${escapeHtml(key)}">` +
      `${cached && cached.svg ? cached.svg : '<small>letzte 7 Tage …</small>'}</div>`;
  }

  function makeTooltip(config) {
    return info => {
      if (!info.picked || !info.object || !info.layer) {
        return null;
      }
      const spec = config.tooltips[info.layer.id];
      if (!spec) {
        return null;
      }
      const object = info.object.properties || info.object;
      const rows = [];
      for (const field of spec.fields) {
        const values = field.props.map(p => format(object[p], field)).filter(v => v !== null);
        if (values.length) {
          rows.push(`<tr><th>${escapeHtml(field.label)}</th>` +
                    `<td>${escapeHtml(values.join(field.join || ' · '))}</td></tr>`);
        }
      }
      const title = object[spec.title] ? `<b>${escapeHtml(object[spec.title])}</b>` : '';
      const chart = spec.chart && info.object.id !== undefined ?
        chartHtml(spec.chart, String(info.object.id)) : '';
      return {html: `<div class="twin-tooltip">${title}<table>${rows.join('')}</table>` +
                    `${chart}</div>`,
              className: 'twin-tooltip-box'};
    };
  }

  function viewFromQuery(initial) {
    // ?view=lon,lat,zoom[,pitch[,bearing]] opens the viewer at a place (links, tests, benchmark)
    const view = new URLSearchParams(window.location.search).get('view');
    if (!view) {
      return initial;
    }
    const [longitude, latitude, zoom, pitch, bearing] = view.split(',').map(Number);
    const out = {...initial, longitude, latitude, zoom};
    if (Number.isFinite(pitch)) {
      out.pitch = pitch;
    }
    if (Number.isFinite(bearing)) {
      out.bearing = bearing;
    }
    return out;
  }

  function buildingsLayer(deckgl) {
    const layers = deckgl.props.layers || [];
    return layers.find(layer => layer && layer.id === 'buildings');
  }

  // The first frame: the frame after which the tileset stays loaded (no request pending) for
  // SETTLE_MS. A parent tile can be loaded and drawn before its children are even requested.
  const SETTLE_MS = 400;

  function onAfterRender() {
    state.frames += 1;
    if (state.firstFrameMs !== null || !state.deck) {
      return;
    }
    const layer = buildingsLayer(state.deck);
    const tileset = layer && layer.state && layer.state.tileset3d;
    const now = performance.now();
    if (!(tileset && layer.isLoaded && tileset.selectedTiles.length > 0)) {
      state.candidateMs = null;
      return;
    }
    if (state.candidateMs === null || state.candidateMs === undefined) {
      // Wait for the GPU to finish this frame (a one-pixel read): it is drawn when done,
      // not when its draw calls are issued.
      const gl = state.deck.device && state.deck.device.gl;
      if (gl) {
        gl.readPixels(0, 0, 1, 1, gl.RGBA, gl.UNSIGNED_BYTE, new Uint8Array(4));
      }
      state.candidateMs = performance.now() - state.startedAt;
      setTimeout(() => state.deck.redraw(true), SETTLE_MS);
    } else if (now - state.startedAt - state.candidateMs >= SETTLE_MS) {
      state.firstFrameMs = state.candidateMs;
      state.selectedTiles = tileset.selectedTiles.length;
      document.body.dataset.firstFrame = String(Math.round(state.firstFrameMs));
    }
  }

  function shown(layers) {
    // Switched-off layers are left out, not hidden: a hidden TileLayer still fetches tiles.
    return layers.filter(layer => layer.visible !== false);
  }

  function switches(config, layers) {
    const box = document.getElementById('layer-switches');
    if (!box) {
      return;
    }
    for (const layer of layers) {
      const label = config.titles[layer.id];
      if (!label) {
        continue;
      }
      const item = document.createElement('label');
      const input = document.createElement('input');
      input.type = 'checkbox';
      input.checked = layer.visible !== false;
      input.dataset.layer = layer.id;
      input.addEventListener('change', () => {
        layer.visible = input.checked;
        // Only the layers change: the camera stays where the user put it.
        globalThis.updateDeck({layers: shown(layers)}, state.deck);
      });
      item.append(input, ` ${label}`);
      box.append(item);
    }
    for (const [id, label] of Object.entries(config.unavailable || {})) {
      const item = document.createElement('label');
      const input = document.createElement('input');
      input.type = 'checkbox';
      input.disabled = true;
      input.dataset.layer = id;
      item.className = 'unavailable';
      item.append(input, ` ${label}`);
      box.append(item);
    }
  }

  function start() {
    const jsonInput = JSON.parse(document.getElementById('deck-json').textContent);
    const configElement = document.getElementById('viewer-config');
    const config = configElement ? JSON.parse(configElement.textContent)
      : {titles: {}, tooltips: {}};
    jsonInput.initialViewState = viewFromQuery(jsonInput.initialViewState);
    const layers = jsonInput.layers;
    const container = document.getElementById('deck-container');
    const deckgl = globalThis.createDeck({
      container,
      jsonInput: {...jsonInput, layers: shown(layers)},
      tooltip: false,
      configuration: {classes: {BuildingTilesLayer, OgcFeaturesLayer, TerrainCoverageLayer}},
      customLibraries: null
    });
    state.deck = deckgl;
    deckgl.setProps({
      getTooltip: makeTooltip(config),
      onAfterRender,
      onError: error => {
        state.errors.push(String(error && error.message ? error.message : error));
        console.error(error); // eslint-disable-line no-console
      }
    });
    switches(config, layers);
    // Live sensor states: reload the features of these layers now and then (a new `data`
    // value makes the tile layer fetch its tiles again); switched-off layers are not fetched.
    for (const [id, seconds] of Object.entries(config.refresh || {})) {
      setInterval(() => {
        const layer = layers.find(l => l.id === id);
        if (layer && layer.visible !== false) {
          layer.data = `${id}#${Date.now()}`;
          globalThis.updateDeck({layers: shown(layers)}, state.deck);
        }
      }, seconds * 1000);
    }
  }

  globalThis.twinViewer = state;
  // For other pages that build a deck with pydeck (the notebook): the layer classes.
  state.classes = {BuildingTilesLayer, OgcFeaturesLayer, FeatureMeshLayer,
                   TerrainCoverageLayer};
  // A page with the deck as JSON (script#deck-json) starts by itself.
  const begin = () => document.getElementById('deck-json') && start();
  if (document.readyState === 'loading') {
    document.addEventListener('DOMContentLoaded', begin);
  } else {
    begin();
  }
})();
