/* ioc-hub operator dashboard.
 *
 * Reads the API with the operator's key (kept in sessionStorage) and follows the event stream.
 * EventSource cannot send an Authorization header, so the stream is read with fetch() and its
 * Server-Sent Events are parsed here. Every event marks its unit dirty; a debounced refresh
 * then reloads coverage, the dirty units' staleness, the rejections and the alerts. A full reload runs every
 * minute anyway: statuses also change as deadlines pass, which no event announces.
 *
 * On the national registry (a nation above provinces, thousands of communes) the areas are
 * the provinces: the page lists them, and a province opens onto its communes and its heatmap,
 * whose staleness is loaded for that province alone, never a wall of every unit of the country.
 *
 * Everything the hub returns is written with textContent, never as HTML.
 */
"use strict";

(() => {
  const KEY_STORAGE = "ioc-hub.operator-key";
  const PAGE = 1000; // the API's largest page
  const DEBOUNCE_MS = 400; // wait for a burst of events to settle...
  const MAX_WAIT_MS = 2000; // ...but never longer than this
  const FULL_REFRESH_MS = 60_000;
  const PER_UNIT_LIMIT = 12; // more dirty units than this: reload all staleness at once
  const STREAM_SILENCE_MS = 45_000; // the hub sends a comment every 15 s while idle
  const FEED_SIZE = 40;
  const REJECTIONS_SHOWN = 15;
  const FIRING_SHOWN = 200;
  const RESOLVED_SHOWN = 10;

  const KINDS = [
    ["ministry", "Ministries"],
    ["department", "Departments"],
    ["vertical_agency", "Vertical agencies"],
    ["district", "Districts"],
    ["commune", "Communes"],
  ];
  const KIND_LABEL = Object.fromEntries(KINDS);
  const STATUSES = ["fresh", "overdue", "stale", "never"]; // display order
  const WORST_FIRST = ["never", "stale", "overdue", "fresh"];
  const STATUS_LABEL = { fresh: "Fresh", overdue: "Overdue", stale: "Stale", never: "Never" };
  const STATUS_LETTER = { fresh: "F", overdue: "O", stale: "S", never: "N" };

  const $ = (id) => document.getElementById(id);

  const state = {
    key: null,
    generation: 0, // bumped on sign-out: late answers of an old session are dropped
    province: null,
    nation: null, // the national registry's root; null on a provincial map
    provinces: [], // on the national registry: its provinces, the areas of the page
    groups: [], // [{code, name}], columns of the heatmap
    groupNames: new Map(),
    coverage: null,
    at: null, // the "as of" instant (ISO, UTC) the coverage and staleness are asked at; null: now
    units: new Map(), // code -> coverage row
    series: new Map(), // unit code -> staleness items
    openDistrict: null,
    activeCell: null,
    events: 0,
    stream: null,
    timers: [],
    dirty: new Set(),
    dirtyAll: false,
    debounce: null,
    firstDirtyAt: 0,
    refreshing: null,
  };

  class AuthError extends Error {}
  class Stale extends Error {} // an answer for a session signed out since: dropped

  // --- small helpers ------------------------------------------------------------------------

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attrs || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (name === "class") node.className = value;
      else if (name === "text") node.textContent = value;
      else if (name === "dataset") Object.assign(node.dataset, value);
      else node.setAttribute(name, value === true ? "" : String(value));
    }
    for (const child of children) {
      if (child === null || child === undefined || child === false) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  /** Sets a node's text; a value that changed (not a first one) glows briefly. */
  function setText(node, text) {
    text = String(text);
    const previous = node.textContent;
    if (previous !== text) {
      node.textContent = text;
      if (previous !== "") flash(node);
    }
  }

  function flash(node) {
    node.classList.remove("changed");
    void node.offsetWidth; // restart the animation
    node.classList.add("changed");
  }

  const clock = new Intl.DateTimeFormat(undefined, {
    hour: "2-digit", minute: "2-digit", second: "2-digit", hour12: false,
  });
  const dateTime = new Intl.DateTimeFormat(undefined, {
    year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit",
    hour12: false,
  });

  function ago(iso) {
    if (!iso) return "never";
    const seconds = Math.max(0, (Date.now() - Date.parse(iso)) / 1000);
    if (seconds < 60) return "just now";
    if (seconds < 3600) return `${Math.floor(seconds / 60)} min ago`;
    if (seconds < 86400) return `${Math.floor(seconds / 3600)} h ago`;
    return `${Math.floor(seconds / 86400)} d ago`;
  }

  function when(iso) {
    return iso ? dateTime.format(new Date(iso)) : "never";
  }

  function percent(part, whole) {
    return whole ? Math.round((100 * part) / whole) : 0;
  }

  function worst(statuses) {
    for (const status of WORST_FIRST) if (statuses.includes(status)) return status;
    return null;
  }

  function unitName(code) {
    const unit = state.units.get(code);
    return unit ? unit.name : code || "—";
  }

  const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

  // --- the API ------------------------------------------------------------------------------

  function apiUrl(path, params) {
    const url = new URL(path, document.baseURI); // relative: works behind a path prefix
    for (const [name, value] of Object.entries(params || {})) {
      for (const v of [].concat(value)) url.searchParams.append(name, v);
    }
    return url;
  }

  async function api(path, params) {
    const generation = state.generation;
    const response = await fetch(apiUrl(path, params), {
      headers: { Authorization: `Bearer ${state.key}`, Accept: "application/json" },
      cache: "no-store",
    });
    if (generation !== state.generation) throw new Stale("signed out");
    if (response.status === 401 || response.status === 403) {
      throw new AuthError(await problemText(response));
    }
    if (!response.ok) throw new Error(`${path}: ${await problemText(response)}`);
    return response.json();
  }

  async function problemText(response) {
    try {
      const problem = await response.json();
      return problem.detail || problem.title || `HTTP ${response.status}`;
    } catch {
      return `HTTP ${response.status}`;
    }
  }

  /** Every item of a paged list: the first page says the total, the rest come in parallel.
   * ``pageOf`` finds the page in an answer (coverage nests its units' page). */
  async function fetchAll(path, params, pageOf = (answer) => answer) {
    const first = await api(path, { ...params, limit: PAGE, offset: 0 });
    const rest = [];
    for (let offset = PAGE; offset < pageOf(first).total; offset += PAGE) {
      rest.push(api(path, { ...params, limit: PAGE, offset }));
    }
    const pages = [first, ...(await Promise.all(rest))];
    return { first, items: pages.flatMap((answer) => pageOf(answer).items) };
  }

  // --- loading ------------------------------------------------------------------------------

  async function loadOnce() {
    const groups = await fetchAll("api/v1/indicator-groups");
    state.groupNames = new Map(groups.items.map((g) => [g.code, g.name]));
    await loadProvince();
  }

  /** The root of the day shown, in the header: the province (the map changes: Bình Dương until
   * 30 June 2025, then Thành phố Hồ Chí Minh), or the nation and its provinces. */
  async function loadProvince() {
    const day = state.at ? new Date(state.at) : new Date();
    const at = [day.getFullYear(), day.getMonth() + 1, day.getDate()]
      .map((n) => String(n).padStart(2, "0"))
      .join("-");
    const first = (answer) => (answer && answer.items.length ? answer.items[0] : null);
    const [nation, province] = await Promise.all(
      ["nation", "province"].map((kind) => api("api/v1/units", { kind, limit: 1, at }).catch(() => null))
    );
    state.nation = first(nation);
    state.province = first(province);
    state.provinces = state.nation
      ? (await fetchAll("api/v1/units", { kind: "province", at })).items.sort(byCode)
      : [];
    const root = state.nation || state.province;
    $("province").textContent = root ? root.name : "ioc-hub";
    $("app").dataset.registry = state.nation ? "national" : "provincial";
  }

  /** The ``at=`` of the coverage and staleness calls: none for now, else the chosen instant. */
  function asOf() {
    return state.at ? { at: state.at } : {};
  }

  async function loadCoverage() {
    const { first, items } = await fetchAll("api/v1/coverage", asOf(), (answer) => answer.units);
    state.coverage = first;
    state.units = new Map(items.map((unit) => [unit.code, unit]));
  }

  async function loadStaleness(units) {
    if (!units) {
      // Nationally, only the open province's series: the heatmap shows that province alone.
      if (state.nation && !state.openDistrict) {
        state.series = new Map();
        orderGroups();
        return;
      }
      const open = state.openDistrict;
      const area = state.nation ? { district: open } : {};
      const { items } = await fetchAll("api/v1/staleness", { ...asOf(), ...area });
      if (state.nation && state.openDistrict !== open) return; // another province since
      const series = new Map();
      for (const item of items) {
        if (!series.has(item.unit)) series.set(item.unit, []);
        series.get(item.unit).push(item);
      }
      state.series = series;
      orderGroups();
      return;
    }
    const answers = await Promise.all(
      [...units].map((unit) =>
        fetchAll("api/v1/staleness", { ...asOf(), unit }).then((a) => [unit, a.items])
      )
    );
    for (const [unit, items] of answers) state.series.set(unit, items);
  }

  async function loadRejections() {
    state.rejections = await api("api/v1/rejections", { limit: REJECTIONS_SHOWN });
  }

  async function loadAlerts() {
    const [firing, resolved] = await Promise.all([
      api("api/v1/alerts", { state: "firing", limit: FIRING_SHOWN }),
      api("api/v1/alerts", { state: "resolved", limit: RESOLVED_SHOWN }),
    ]);
    state.alerts = { firing, resolved };
  }

  /** Heatmap columns: the groups the area reports in, busiest first, then the others. */
  function orderGroups() {
    const counts = new Map([...state.groupNames.keys()].map((code) => [code, 0]));
    for (const items of state.series.values()) {
      for (const item of items) counts.set(item.group, (counts.get(item.group) || 0) + 1);
    }
    state.groups = [...counts.entries()]
      .sort((a, b) => (b[1] > 0) - (a[1] > 0) || b[1] - a[1] || a[0].localeCompare(b[0]))
      .map(([code]) => ({ code, name: state.groupNames.get(code) || code }));
  }

  async function reloadAll() {
    await Promise.all([loadCoverage(), loadStaleness(null), loadRejections(), loadAlerts()]);
    render();
  }

  /** Reload what events marked dirty; one refresh at a time, a new one queued behind it. */
  async function refreshDirty() {
    if (state.refreshing) return;
    const everything = state.dirtyAll || state.dirty.size > PER_UNIT_LIMIT;
    const units = new Set(state.dirty);
    state.dirty.clear();
    state.dirtyAll = false;
    state.refreshing = (async () => {
      try {
        await Promise.all([
          loadCoverage(),
          loadStaleness(everything ? null : units),
          loadRejections(),
          loadAlerts(),
        ]);
        render();
      } catch (error) {
        handleError(error); // the next event, or the minute's full reload, tries again
      } finally {
        state.refreshing = null;
        if (state.dirty.size || state.dirtyAll) arm();
      }
    })();
  }

  /** Refresh soon: ``unit``'s numbers, or everything without one. */
  function schedule(unit) {
    if (unit === undefined) state.dirtyAll = true;
    else state.dirty.add(unit);
    arm();
  }

  /** Debounce: refresh once events pause, or MAX_WAIT_MS after the first, whichever is first. */
  function arm() {
    const now = Date.now();
    if (!state.debounce) state.firstDirtyAt = now;
    clearTimeout(state.debounce);
    const wait = Math.max(0, Math.min(DEBOUNCE_MS, state.firstDirtyAt + MAX_WAIT_MS - now));
    state.debounce = setTimeout(() => {
      state.debounce = null;
      refreshDirty();
    }, wait);
  }

  /** Show the hub as of the instant in the picker (its wall time in this browser's zone), or
   * as of now when it is empty. The registry of that day decides the kinds and the units. */
  async function pickAsOf() {
    const value = $("as-of").value;
    const instant = value ? new Date(value) : null;
    state.at = instant && !Number.isNaN(instant.getTime()) ? instant.toISOString() : null;
    $("as-of-now").hidden = !state.at;
    const banner = $("as-of-banner");
    banner.hidden = !state.at;
    banner.textContent = state.at
      ? `Showing coverage and staleness as of ${dateTime.format(instant)}, over the registry ` +
        "of that day. Choose Now to follow the hub live again."
      : "";
    state.openDistrict = null;
    try {
      await Promise.all([reloadAll(), loadProvince()]);
      $("app").dataset.at = state.at || "";
    } catch (error) {
      handleError(error);
    }
  }

  // --- rendering ----------------------------------------------------------------------------

  function render() {
    renderCoverage();
    renderDistricts();
    renderDrilldown();
    renderRejections();
    renderAlerts();
    renderHeatmap();
    $("load-error").hidden = true;
    const updated = $("last-updated");
    updated.dateTime = new Date().toISOString();
    updated.textContent = clock.format(new Date());
    updated.title = `Evaluated at ${state.coverage.at}`;
  }

  function unitsOf(kind) {
    return [...state.units.values()].filter((u) => u.kind === kind);
  }

  function renderCoverage() {
    const body = $("coverage-table").tBodies[0];
    const { kinds, total, series } = state.coverage;
    // A kind with no units that day (districts after 1 July 2025) has no row.
    const rows = KINDS.filter(([kind]) => kinds[kind] && kinds[kind].registered).map(([kind, label]) => {
      const { connected, registered } = kinds[kind];
      const missing = unitsOf(kind).filter((u) => !u.connected);
      return { kind, label, connected, registered, missing };
    });
    rows.push({ kind: "total", label: "All units", ...total, missing: null });
    // Rows are kept and updated in place, so a changed number can glow.
    for (const row of rows) {
      let tr = body.querySelector(`tr[data-kind="${row.kind}"]`);
      if (!tr) {
        tr = el(
          "tr",
          { dataset: { kind: row.kind }, class: row.kind === "total" ? "total" : null },
          el("th", { scope: "row", text: row.label }),
          el("td", { class: "num" }, el("span", { class: "ratio" })),
          el("td", { class: "num pct" }),
          el("td", {}, el("div", { class: "bar" }, el("span"))),
          el("td", { class: "missing" })
        );
        body.append(tr);
      }
      tr.dataset.connected = row.connected;
      tr.dataset.registered = row.registered;
      setText(tr.querySelector(".ratio"), `${row.connected}/${row.registered}`);
      const pct = percent(row.connected, row.registered);
      setText(tr.querySelector(".pct"), `${pct}%`);
      const bar = tr.querySelector(".bar");
      bar.className = `bar${pct === 100 ? "" : pct >= 75 ? " partial" : " low"}`;
      bar.firstChild.style.width = `${pct}%`;
      bar.setAttribute("aria-label", `${pct}% connected`);
      const missing = tr.querySelector(".missing");
      missing.replaceChildren();
      if (row.missing && row.missing.length) {
        row.missing.slice(0, 3).forEach((u, i) => {
          if (i) missing.append(", ");
          missing.append(el("span", { class: "name", title: u.code, text: u.name }));
        });
        if (row.missing.length > 3) missing.append(` and ${row.missing.length - 3} more`);
      } else if (row.missing) {
        missing.append(el("span", { class: "muted", text: "—" }));
      }
    }
    for (const tr of [...body.rows]) {
      if (!rows.some((r) => r.kind === tr.dataset.kind)) tr.remove();
    }
    body.append(body.querySelector('tr[data-kind="total"]'));

    const summary = $("series-summary");
    if (!summary.childElementCount) {
      summary.append(el("span", { class: "hint", text: "Series:" }));
      for (const status of STATUSES) {
        summary.append(
          el(
            "span",
            { class: `chip status-${status}`, dataset: { status } },
            el("strong"),
            STATUS_LABEL[status].toLowerCase()
          )
        );
      }
    }
    for (const status of STATUSES) {
      setText(summary.querySelector(`[data-status="${status}"] strong`), series[status]);
    }
  }

  function counts(units) {
    const sum = { fresh: 0, overdue: 0, stale: 0, never: 0 };
    for (const unit of units) for (const s of STATUSES) sum[s] += unit.series[s];
    return sum;
  }

  function countBadges(sum) {
    const box = el("span", { class: "counts" });
    for (const status of STATUSES) {
      if (!sum[status] && status !== "fresh") continue;
      box.append(
        el("span", {
          class: `badge status-${status}`,
          title: `${sum[status]} ${STATUS_LABEL[status].toLowerCase()}`,
          text: `${sum[status]} ${STATUS_LABEL[status].toLowerCase()}`,
        })
      );
    }
    return box;
  }

  function connectionBadge(unit) {
    return unit.connected
      ? el("span", { class: "badge ok", text: "✓ Connected" })
      : el("span", { class: "badge bad", text: "✕ Not connected" });
  }

  const byCode = (a, b) => a.code.localeCompare(b.code);

  function childrenOf(code, kind) {
    return unitsOf(kind)
      .filter((u) => u.parent === code)
      .sort((a, b) => a.name.localeCompare(b.name, "vi"));
  }

  function communesOf(code) {
    return childrenOf(code, "commune");
  }

  /** The areas a commune hangs under: the districts of a provincial map, or the provinces of
   * the national registry. */
  function areas() {
    return state.nation ? state.provinces : unitsOf("district").sort(byCode);
  }

  function areaOf(code) {
    return code && areas().find((area) => area.code === code);
  }

  /** The area's own office (a district is one) or, for a province, its departments' ratio. */
  function officeCell(area) {
    if (!state.nation) return connectionBadge(area);
    const departments = childrenOf(area.code, "department");
    const connected = departments.filter((d) => d.connected).length;
    return el("span", { class: "departments-ratio", text: `${connected}/${departments.length}` });
  }

  function renderDistricts() {
    const section = $("districts");
    const districts = areas();
    section.hidden = districts.length === 0;
    const word = state.nation ? "province" : "district";
    $("districts-title").textContent = state.nation ? "Provinces" : "Districts";
    $("districts-hint").textContent = `Select a ${word} to see its communes`;
    $("districts-area").textContent = state.nation ? "Province" : "District";
    $("districts-office").textContent = state.nation ? "Departments connected" : "District office";
    $("districts-series").textContent = state.nation
      ? "Series (departments and communes)"
      : "Series (district and communes)";
    const body = $("districts-table").tBodies[0];
    body.replaceChildren(
      ...districts.map((district) => {
        const communes = communesOf(district.code);
        const connected = communes.filter((c) => c.connected).length;
        const own = state.nation ? childrenOf(district.code, "department") : [district];
        const tr = el(
          "tr",
          {
            dataset: { district: district.code },
            class: state.openDistrict === district.code ? "selected" : null,
          },
          el(
            "th",
            { scope: "row" },
            el("button", {
              type: "button",
              class: "linkish",
              "aria-expanded": state.openDistrict === district.code ? "true" : "false",
              "aria-controls": "drilldown",
              text: district.name,
            }),
            el("span", { class: "code", text: district.code })
          ),
          el("td", { class: state.nation ? "num" : null }, officeCell(district)),
          el(
            "td",
            { class: "num" },
            el("span", { class: "communes-ratio", text: `${connected}/${communes.length}` })
          ),
          el("td", {}, countBadges(counts([...own, ...communes])))
        );
        tr.addEventListener("click", () => openDistrict(district.code));
        return tr;
      })
    );
  }

  async function openDistrict(code) {
    state.openDistrict = state.openDistrict === code ? null : code;
    renderDistricts();
    renderDrilldown();
    if (state.openDistrict) $("drilldown").scrollIntoView({ block: "nearest" });
    if (state.nation) {
      // The heatmap follows the open province: its rows now, its series once loaded.
      renderHeatmap();
      try {
        await loadStaleness(null);
        renderHeatmap();
      } catch (error) {
        handleError(error);
      }
    }
  }

  function renderDrilldown() {
    const section = $("drilldown");
    section.hidden = !state.units.size || areas().length === 0;
    const district = areaOf(state.openDistrict);
    for (const id of ["drilldown-summary", "drilldown-body", "drilldown-close"]) {
      $(id).hidden = !district;
    }
    $("drilldown-empty").hidden = Boolean(district);
    if (!district) {
      delete section.dataset.district;
      $("drilldown-title").textContent = "Communes";
      return;
    }
    section.dataset.district = district.code;
    const communes = communesOf(district.code);
    const connected = communes.filter((c) => c.connected).length;
    $("drilldown-title").textContent = `Communes of ${district.name}`;
    if (state.nation) {
      const departments = childrenOf(district.code, "department");
      const reached = departments.filter((d) => d.connected).length;
      $("drilldown-summary").textContent =
        `${communes.length} communes, ${connected} connected · ${departments.length} ` +
        `departments, ${reached} connected`;
    } else {
      $("drilldown-summary").textContent =
        `${communes.length} communes, ${connected} connected · district office ` +
        `${district.connected ? "connected" : "not connected"}, last contact ` +
        `${ago(district.last_contact_at)}`;
    }
    const number = (n) => el("td", { class: n ? "num" : "num muted", text: n });
    $("communes-table").tBodies[0].replaceChildren(
      ...communes.map((c) =>
        el(
          "tr",
          { dataset: { unit: c.code, connected: c.connected } },
          el("th", { scope: "row", title: c.code, text: c.name }),
          el("td", {}, connectionBadge(c)),
          el("td", { class: "when", title: when(c.last_contact_at), text: ago(c.last_contact_at) }),
          number(c.series.fresh),
          number(c.series.overdue),
          number(c.series.stale),
          number(c.series.never)
        )
      )
    );
  }

  function renderRejections() {
    const { items, total } = state.rejections;
    setText($("rejections-total"), total);
    $("rejections-empty").hidden = items.length > 0;
    $("rejections-table").hidden = items.length === 0;
    $("rejections-table").tBodies[0].replaceChildren(
      ...items.map((r) =>
        el(
          "tr",
          { dataset: { id: r.id } },
          el("td", { title: dateTime.format(new Date(r.received_at)) }, clock.format(new Date(r.received_at))),
          el("td", { title: r.unit || "" }, unitName(r.unit)),
          el("td", {}, el("code", { text: r.indicator || "—" })),
          el("td", { class: "reason", title: r.row, text: r.reason })
        )
      )
    );
  }

  function renderAlerts() {
    const { firing, resolved } = state.alerts;
    setText($("alerts-firing"), firing.total);
    const items = [...firing.items, ...resolved.items];
    $("alerts-empty").hidden = items.length > 0;
    $("alerts-table").hidden = items.length === 0;
    $("alerts-table").tBodies[0].replaceChildren(
      ...items.map((a) =>
        el(
          "tr",
          { dataset: { alert: a.id, state: a.state, unit: a.unit }, class: a.state },
          el(
            "td",
            {},
            a.state === "firing"
              ? el("span", { class: "badge bad", text: "Firing" })
              : el("span", { class: "badge ok", text: "Resolved" })
          ),
          el("td", { text: a.rule_name }),
          el("td", { title: a.unit, text: unitName(a.unit) }),
          el("td", { class: "summary", title: a.subject, text: a.summary }),
          el(
            "td",
            { class: "when", title: when(a.resolved_at || a.started_at) },
            a.state === "firing"
              ? `${ago(a.started_at)}${a.repeats ? ` · reminded ${a.repeats}×` : ""}`
              : `resolved ${ago(a.resolved_at)}`
          )
        )
      )
    );
  }

  /** Heatmap rows: ministries, departments, vertical agencies, then each district followed by
   * its communes. */
  function heatmapSections() {
    const byName = (a, b) => a.name.localeCompare(b.name, "vi");
    const sections = [];
    if (state.nation) {
      // Nationally: the open province's departments, then its communes; none open, no rows.
      const province = areaOf(state.openDistrict);
      if (!province) return sections;
      const departments = childrenOf(province.code, "department");
      if (departments.length) sections.push({ title: KIND_LABEL.department, units: departments });
      const communes = communesOf(province.code);
      sections.push({ title: province.name, note: `${communes.length} communes`, units: communes });
      return sections;
    }
    for (const kind of ["ministry", "department", "vertical_agency"]) {
      const units = unitsOf(kind).sort(byName);
      if (units.length) sections.push({ title: KIND_LABEL[kind], units, child: false });
    }
    const districts = unitsOf("district").sort((a, b) => a.code.localeCompare(b.code));
    const placed = new Set();
    for (const district of districts) {
      const communes = communesOf(district.code);
      communes.forEach((c) => placed.add(c.code));
      sections.push({
        title: district.name,
        note: `district and ${communes.length} communes`,
        units: [district],
        children: communes,
      });
    }
    // Communes whose district is outside the answer (a commune key sees only itself).
    const orphans = unitsOf("commune").filter((c) => !placed.has(c.code)).sort(byName);
    if (orphans.length) sections.push({ title: KIND_LABEL.commune, units: orphans });
    return sections;
  }

  function cellState(unitCode, groupCode) {
    const items = (state.series.get(unitCode) || []).filter((i) => i.group === groupCode);
    return { items, status: worst(items.map((i) => i.status)) || "none" };
  }

  function describeCell(unit, group, cell) {
    if (cell.status === "none") return `${unit.name} · ${group.name}: no obligation`;
    const tally = STATUSES.map((s) => [s, cell.items.filter((i) => i.status === s).length])
      .filter(([, n]) => n)
      .map(([s, n]) => `${n} ${s}`)
      .join(", ");
    return `${unit.name} · ${group.name}: ${STATUS_LABEL[cell.status].toLowerCase()} (${tally})`;
  }

  function renderHeatmap() {
    const table = $("heatmap-table");
    const sections = heatmapSections();
    $("heatmap-pick").hidden = !state.nation || sections.length > 0;
    const rows = sections.flatMap((s) => [...s.units, ...(s.children || [])]);
    const shape = JSON.stringify([state.groups.map((g) => g.code), rows.map((u) => u.code)]);
    if (table.dataset.shape !== shape) {
      buildHeatmap(table, sections);
      table.dataset.shape = shape;
    }
    for (const tr of table.tBodies[0].querySelectorAll("tr[data-unit]")) {
      const unit = state.units.get(tr.dataset.unit);
      for (const td of tr.querySelectorAll("td.cell")) {
        const group = { code: td.dataset.group, name: state.groupNames.get(td.dataset.group) };
        const cell = cellState(unit.code, group.code);
        const label = describeCell(unit, group, cell);
        if (td.dataset.status !== cell.status) {
          const first = td.dataset.status === undefined;
          td.dataset.status = cell.status;
          td.className = `cell status-${cell.status}`;
          td.textContent = STATUS_LETTER[cell.status] || "·";
          if (!first) flash(td);
        }
        td.title = label;
        td.setAttribute("aria-label", label);
      }
    }
    if (state.activeCell) showCell(state.activeCell.unit, state.activeCell.group);
  }

  function buildHeatmap(table, sections) {
    const columns = state.groups.length + 1;
    table.tHead.replaceChildren(
      el(
        "tr",
        {},
        el("th", { class: "unit", scope: "col", text: "Unit" }),
        ...state.groups.map((g) =>
          el(
            "th",
            { class: "group", scope: "col", title: `${g.code}: ${g.name}` },
            el("span", { text: g.code.replace(/^G-/, "") })
          )
        )
      )
    );
    const body = [];
    for (const section of sections) {
      body.push(
        el(
          "tr",
          { class: "section" },
          el(
            "th",
            { colspan: columns, scope: "colgroup" },
            section.title,
            section.note ? el("span", { text: ` · ${section.note}` }) : null
          )
        )
      );
      const row = (unit, child) =>
        el(
          "tr",
          { dataset: { unit: unit.code }, class: child ? "child" : null },
          el("th", { class: "unit", scope: "row", title: `${unit.name} (${unit.code})`, text: unit.name }),
          ...state.groups.map((g) => el("td", { class: "cell", dataset: { group: g.code } }))
        );
      for (const unit of section.units) body.push(row(unit, false));
      for (const unit of section.children || []) body.push(row(unit, true));
    }
    table.tBodies[0].replaceChildren(...body);
  }

  function showCell(unitCode, groupCode) {
    const box = $("cell-detail");
    const unit = state.units.get(unitCode);
    const cell = unit && cellState(unitCode, groupCode);
    document.querySelectorAll("#heatmap-table td.cell.active").forEach((td) => td.classList.remove("active"));
    if (!cell || cell.status === "none") {
      state.activeCell = null;
      box.replaceChildren(
        el("p", { class: "empty", text: "Select a coloured cell to see the unit's series in that group." })
      );
      return;
    }
    state.activeCell = { unit: unitCode, group: groupCode };
    const td = document.querySelector(
      `#heatmap-table tr[data-unit="${CSS.escape(unitCode)}"] td[data-group="${CSS.escape(groupCode)}"]`
    );
    if (td) td.classList.add("active");
    box.replaceChildren(
      el("h3", { text: `${unit.name} · ${state.groupNames.get(groupCode) || groupCode}` }),
      el(
        "table",
        { class: "data" },
        el(
          "thead",
          {},
          el(
            "tr",
            {},
            ...["Indicator", "Status", "Last period", "Expected", "Last received"].map((h) =>
              el("th", { scope: "col", text: h })
            )
          )
        ),
        el(
          "tbody",
          {},
          ...cell.items.map((i) =>
            el(
              "tr",
              {},
              el(
                "td",
                {},
                el("code", { text: i.indicator }),
                el("span", { class: "cadence", text: i.cadence })
              ),
              el("td", {}, el("span", { class: `badge status-${i.status}`, text: STATUS_LABEL[i.status] })),
              el("td", { text: i.last_period || "—" }),
              el("td", { text: i.expected_period }),
              el("td", { title: when(i.last_received_at), text: ago(i.last_received_at) })
            )
          )
        )
      )
    );
  }

  // --- the live stream ----------------------------------------------------------------------

  function setStreamState(name, text) {
    const pill = $("stream-state");
    pill.dataset.state = name;
    pill.textContent = text;
  }

  /** Reads GET /api/v1/stream with the key until signed out, reconnecting with Last-Event-ID. */
  async function follow(generation) {
    let lastId = null;
    let retry = 2000;
    let failures = 0;
    while (generation === state.generation) {
      const controller = new AbortController();
      state.stream = controller;
      let silence = null;
      const watch = () => {
        clearTimeout(silence);
        silence = setTimeout(() => controller.abort(), STREAM_SILENCE_MS);
      };
      try {
        watch();
        const headers = { Authorization: `Bearer ${state.key}`, Accept: "text/event-stream" };
        if (lastId) headers["Last-Event-ID"] = lastId;
        const response = await fetch(apiUrl("api/v1/stream"), {
          headers,
          signal: controller.signal,
          cache: "no-store",
        });
        if (response.status === 401 || response.status === 403) {
          throw new AuthError(await problemText(response));
        }
        if (!response.ok || !response.body) throw new Error(`stream: HTTP ${response.status}`);
        let subscribed = false;
        const parser = sseParser((event) => {
          if (event.id) lastId = event.id;
          if (event.retry) retry = event.retry;
          if (event.type) onEvent(event);
        });
        const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          watch();
          if (!subscribed) {
            // The hub subscribes before its first line: from here on nothing is missed. What
            // happened before (since the last load, or while disconnected without a position)
            // is reloaded.
            subscribed = true;
            failures = 0;
            setStreamState("live", "Live");
            if (!lastId) schedule();
          }
          parser(value);
        }
      } catch (error) {
        if (error instanceof AuthError) return handleError(error);
      } finally {
        clearTimeout(silence);
      }
      if (generation !== state.generation) return;
      failures += 1;
      setStreamState("reconnecting", "Reconnecting…");
      const backoff = Math.min(30_000, retry * 2 ** Math.min(failures - 1, 4));
      await sleep(backoff * (0.75 + Math.random() * 0.5));
    }
  }

  /** An incremental Server-Sent Events parser (the WHATWG rules): feed it text as it comes. */
  function sseParser(dispatch) {
    let buffer = "";
    let data = [];
    let type = "";
    let id = null;
    let retry = null;
    return (chunk) => {
      buffer += chunk;
      const lines = buffer.split(/\r\n|\r|\n/);
      buffer = lines.pop(); // an unfinished line waits for the next chunk
      for (const line of lines) {
        if (line === "") {
          if (data.length || retry !== null || id !== null) {
            dispatch({ type: data.length ? type || "message" : "", data: data.join("\n"), id, retry });
          }
          data = [];
          type = "";
          id = null;
          retry = null;
          continue;
        }
        if (line.startsWith(":")) continue; // a comment: the hub's keep-alive
        const colon = line.indexOf(":");
        const field = colon < 0 ? line : line.slice(0, colon);
        let value = colon < 0 ? "" : line.slice(colon + 1);
        if (value.startsWith(" ")) value = value.slice(1);
        if (field === "data") data.push(value);
        else if (field === "event") type = value;
        else if (field === "id" && !value.includes("\0")) id = value;
        else if (field === "retry" && /^\d+$/.test(value)) retry = Number(value);
      }
    };
  }

  function onEvent(event) {
    let data = {};
    try {
      data = JSON.parse(event.data);
    } catch {
      return;
    }
    state.events += 1;
    setText($("event-count"), state.events);
    addToFeed(event.type, data);
    if (event.type === "reset") schedule();
    else if (data.unit) schedule(data.unit);
  }

  function describeEvent(type, data) {
    switch (type) {
      case "observations": {
        const what = data.imported ? "imported" : "pushed";
        const indicators = data.indicators.slice(0, 2).join(", ");
        const more = data.indicators.length > 2 ? ` +${data.indicators.length - 2}` : "";
        return `${data.rows} ${data.rows === 1 ? "row" : "rows"} ${what} · ${indicators}${more}`;
      }
      case "series":
        return data.status === data.previous_status
          ? `${data.indicator} → ${data.period}`
          : `${data.indicator}: ${data.previous_status} → ${data.status}`;
      case "connection":
        return data.reason === "first_contact" ? "connected (first contact)" : "reconnected";
      case "reset":
        return `reloading: ${data.reason}`;
      case "alert.firing":
        return `${data.repeats ? "still firing" : "firing"}: ${data.summary}`;
      case "alert.resolved":
        return `resolved: ${data.rule_name}`;
      default:
        return type;
    }
  }

  function addToFeed(type, data) {
    const feed = $("feed");
    $("feed-empty").hidden = true;
    const item = el(
      "li",
      { dataset: { type, unit: data.unit || "" } },
      el("time", { text: clock.format(new Date()) }),
      el("span", { class: `badge type type-${type.replace(".", "-")}`, text: type }),
      el(
        "span",
        {},
        data.unit ? el("strong", { text: unitName(data.unit) }) : null,
        data.unit ? " " : null,
        el("span", { class: "what", text: describeEvent(type, data) })
      )
    );
    feed.prepend(item);
    while (feed.childElementCount > FEED_SIZE) feed.lastElementChild.remove();
  }

  // --- session ------------------------------------------------------------------------------

  function handleError(error) {
    if (error instanceof Stale) return;
    if (error instanceof AuthError) {
      if (!state.key) return; // already signed out
      signOut(`The hub refused this key: ${error.message}. Enter an operator key with the ` +
        "coverage:read scope.");
      return;
    }
    const banner = $("load-error");
    banner.textContent = `Could not refresh: ${error.message}. Retrying on the next update.`;
    banner.hidden = false;
  }

  async function start(key) {
    state.key = key;
    state.generation += 1;
    const generation = state.generation;
    $("login").hidden = true;
    $("status-bar").hidden = false;
    setStreamState("connecting", "Connecting…");
    $("loading").hidden = false;
    try {
      await loadOnce();
      await reloadAll();
    } catch (error) {
      if (generation !== state.generation || error instanceof Stale) return;
      $("loading").hidden = true;
      return signOut(
        error instanceof AuthError
          ? `The hub refused this key: ${error.message}. Enter an operator key with the ` +
              "coverage:read scope."
          : `Could not load the dashboard: ${error.message}`
      );
    }
    if (generation !== state.generation) return;
    sessionStorage.setItem(KEY_STORAGE, key);
    $("loading").hidden = true;
    $("app").hidden = false;
    state.timers.push(setInterval(() => schedule(), FULL_REFRESH_MS));
    // Relative times ("3 min ago") age without any event.
    state.timers.push(setInterval(() => renderDrilldown(), 30_000));
    follow(generation);
  }

  function signOut(message) {
    sessionStorage.removeItem(KEY_STORAGE);
    state.key = null;
    state.generation += 1;
    if (state.stream) state.stream.abort();
    state.timers.forEach(clearInterval);
    state.timers = [];
    clearTimeout(state.debounce);
    state.debounce = null;
    state.dirty.clear();
    state.dirtyAll = false;
    state.coverage = null;
    $("app").hidden = true;
    $("loading").hidden = true;
    $("status-bar").hidden = true;
    $("login").hidden = false;
    const error = $("login-error");
    error.textContent = message || "";
    error.hidden = !message;
    $("key-input").value = "";
    $("key-input").focus();
  }

  function init() {
    $("login-form").addEventListener("submit", (event) => {
      event.preventDefault();
      const key = $("key-input").value.trim();
      if (key) start(key);
    });
    $("sign-out").addEventListener("click", () => signOut(null));
    $("refresh").addEventListener("click", () => schedule());
    $("as-of").addEventListener("change", () => pickAsOf());
    $("as-of-form").addEventListener("submit", (event) => {
      event.preventDefault();
      pickAsOf();
    });
    $("as-of-now").addEventListener("click", () => {
      $("as-of").value = "";
      pickAsOf();
    });
    $("drilldown-close").addEventListener("click", () => openDistrict(state.openDistrict));
    const heatmap = $("heatmap-table");
    const pick = (target) => {
      const td = target.closest("td.cell:not(.status-none)");
      if (td) showCell(td.parentElement.dataset.unit, td.dataset.group);
    };
    heatmap.addEventListener("click", (event) => pick(event.target));
    const key = sessionStorage.getItem(KEY_STORAGE);
    if (key) start(key);
    else signOut(null);
  }

  init();
})();
