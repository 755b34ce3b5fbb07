/* The stats page: figures from /api/stats/…, charts, and the live feed over WebSocket. */
(function () {
  "use strict";

  const page = document.querySelector(".stats-page");
  if (!page) return;
  // Words in the staff member's language, written into the page by the server (stats.views).
  const labels = JSON.parse(document.getElementById("stats-labels").textContent);
  const units = labels.units;
  const charts = window.PhotoChangerCharts;
  const windowSelect = document.getElementById("stats-window");
  const FEED_LIMIT = 50;
  const REFRESH_MS = 15000;
  const REQUESTS_REFRESH_MS = 3000;
  const AFTER_EVENT_MS = 1500;

  /* Formatting ----------------------------------------------------------------------------- */

  // A translated text with "%(name)s" placeholders, filled from values.
  function format(text, values) {
    return text.replace(/%\((\w+)\)s/g, (whole, name) => String(values[name]));
  }

  function duration(ms) {
    if (ms === null || ms === undefined) return "–";
    if (ms < 1000) return `${Math.round(ms)} ${units.ms}`;
    return `${(ms / 1000).toFixed(ms < 10000 ? 2 : 1)} ${units.s}`;
  }

  function percent(rate) {
    return rate === null || rate === undefined ? "–" : `${(rate * 100).toFixed(1)} %`;
  }

  function bytes(count) {
    const names = ["B", "KB", "MB", "GB", "TB"];
    let value = count || 0;
    let unit = 0;
    while (value >= 1000 && unit < names.length - 1) {
      value /= 1000;
      unit += 1;
    }
    return `${value.toFixed(unit && value < 10 ? 1 : 0)} ${units[names[unit]]}`;
  }

  function clock(iso) {
    return iso ? new Date(iso).toLocaleTimeString(document.documentElement.lang || []) : "–";
  }

  function cell(row, text, className) {
    const td = document.createElement("td");
    td.textContent = text;
    if (className) td.className = className;
    row.appendChild(td);
    return td;
  }

  /* Figures -------------------------------------------------------------------------------- */

  async function getJson(url) {
    const response = await fetch(url, {
      credentials: "same-origin",
      headers: { Accept: "application/json" },
    });
    if (!response.ok) throw new Error(`${url}: HTTP ${response.status}`);
    return response.json();
  }

  let refreshing = null;
  let lastOverview = null;

  async function refresh() {
    if (refreshing) return refreshing;
    const query = `?window_minutes=${encodeURIComponent(windowSelect.value)}`;
    refreshing = Promise.all([
      getJson(page.dataset.overviewUrl + query),
      getJson(page.dataset.slotsUrl + query),
    ])
      .then(([overview, slots]) => {
        lastOverview = overview;
        renderTotals(overview);
        renderCharts(overview);
        renderFailures(overview);
        renderTestRuns(overview);
        renderSlots(slots);
        document.getElementById("stats-updated").textContent =
          `${labels.updated} ${clock(new Date().toISOString())}`;
      })
      .catch((error) => {
        document.getElementById("stats-updated").textContent = String(error.message || error);
      })
      .finally(() => {
        refreshing = null;
      });
    refreshRefused();
    refreshRequests();
    return refreshing;
  }

  function renderTotals(overview) {
    const totals = overview.totals;
    const shown = {
      jobs: totals.jobs,
      done: totals.done,
      failed: totals.failed,
      timeouts: totals.timeouts,
      rate_limited: totals.rate_limited,
      in_flight: totals.in_flight,
      success_rate: percent(totals.success_rate),
      p50_ms: duration(totals.p50_ms),
      p95_ms: duration(totals.p95_ms),
      storage: bytes(overview.storage_now.total_bytes),
    };
    for (const [key, value] of Object.entries(shown)) {
      const node = page.querySelector(`[data-total="${key}"]`);
      if (node) node.textContent = String(value);
    }
    const kinds = Object.entries(overview.storage_now.by_kind)
      .filter(([, size]) => size > 0)
      .map(([kind, size]) => `${labels.media_kinds[kind] || kind} ${bytes(size)}`);
    document.getElementById("stats-storage-kinds").textContent = kinds.join(" · ");
    page.querySelector('[data-test-runs="jobs"]').textContent = String(overview.test_runs.jobs);
  }

  function renderCharts(overview) {
    const series = overview.series;
    const describe = (point) =>
      format(labels.chart_point, {
        time: clock(point.start),
        jobs: point.jobs,
        done: point.done,
        failed: point.failed,
        timeouts: point.timeouts,
      });
    charts.stackedBars(
      document.getElementById("chart-jobs"),
      series,
      ["done", "failed", "timeouts"],
      describe
    );
    charts.lines(
      document.getElementById("chart-duration"),
      series,
      ["p50_ms", "p95_ms"],
      duration,
      (point) => `${clock(point.start)}: p50 ${duration(point.p50_ms)}, p95 ${duration(point.p95_ms)}`
    );
  }

  function renderFailures(overview) {
    const reasons = Object.entries(overview.totals.failures_by_reason);
    const reasonsNode = document.getElementById("stats-reasons");
    reasonsNode.textContent = "";
    if (!reasons.length && !overview.totals.timeouts) {
      reasonsNode.textContent = labels.no_failures;
    }
    for (const [reason, count] of reasons) {
      const chip = document.createElement("span");
      chip.className = "stats-chip";
      chip.textContent = `${reason} ${count}`;
      reasonsNode.appendChild(chip);
    }
    if (overview.totals.timeouts) {
      const chip = document.createElement("span");
      chip.className = "stats-chip warn";
      chip.textContent = `${labels.timeout} ${overview.totals.timeouts}`;
      reasonsNode.appendChild(chip);
    }
    renderFailureRows(document.querySelector("#stats-failures tbody"), overview.recent_failures);
  }

  // One row per failed job: its reason with the details, and a link to the job's page.
  function renderFailureRows(body, failures) {
    body.textContent = "";
    for (const failure of failures) {
      const row = document.createElement("tr");
      row.dataset.jobId = failure.job_id;
      cell(row, clock(failure.finished_at || failure.started_at));
      cell(row, failure.slot_id, "stats-wrap");
      const reason = cell(row, "", "stats-wrap");
      const code = document.createElement("strong");
      code.textContent = failure.failure_reason || failure.status;
      reason.appendChild(code);
      if (failure.failure_details) {
        const details = document.createElement("div");
        details.className = "stats-details";
        details.textContent = failure.failure_details;
        reason.appendChild(details);
      }
      cell(row, failure.http_status ?? "–", "num");
      cell(row, duration(failure.duration_ms), "num");
      const job = cell(row, "", "stats-job-link");
      const link = document.createElement("a");
      link.href = failure.job_url;
      link.textContent = failure.job_id;
      link.title = `${labels.job} ${failure.job_id}`;
      job.appendChild(link);
      body.appendChild(row);
    }
  }

  function renderTestRuns(overview) {
    const runs = overview.test_runs;
    document.getElementById("stats-test-runs-summary").textContent = runs.jobs
      ? format(labels.test_runs_summary, runs)
      : labels.no_test_runs;
    renderFailureRows(
      document.querySelector("#stats-test-run-failures tbody"),
      overview.recent_test_run_failures
    );
  }

  /* Booth requests ------------------------------------------------------------------------- */

  // The log, as the filters above it say; refreshed with the rest of the page.
  async function refreshRequests() {
    const form = document.getElementById("stats-requests-filter");
    const query = new URLSearchParams(new FormData(form));
    let rows;
    try {
      rows = await getJson(`${page.dataset.requestsUrl}?${query}`);
    } catch (error) {
      return;
    }
    const body = document.querySelector("#stats-requests-table tbody");
    body.textContent = "";
    for (const request of rows) {
      const row = document.createElement("tr");
      row.className = request.status >= 400 ? "failed" : "done";
      cell(row, clock(request.last_at));
      cell(row, request.client);
      cell(row, request.slot_sent);
      cell(row, request.status, "num");
      cell(row, request.reason);
      cell(row, request.count, "num");
      cell(row, request.bytes === null ? "" : bytes(request.bytes), "num");
      cell(row, request.user_agent);
      const job = cell(row, "");
      if (request.job_id) {
        const link = document.createElement("a");
        link.href = `/admin/ingest/job/${request.job_id}/change/`;
        link.textContent = request.job_id.slice(0, 8);
        job.appendChild(link);
      }
      body.appendChild(row);
    }
  }

  /* Refused addresses ---------------------------------------------------------------------- */

  // Rows are copies of the page's own model row, which holds the release form and its CSRF
  // token. A failed read leaves the list as it was.
  async function refreshRefused() {
    let data;
    try {
      data = await getJson(page.dataset.refusedUrl);
    } catch (error) {
      return;
    }
    const model = document.getElementById("stats-refused-row").content.querySelector("tr");
    const table = document.getElementById("stats-refused");
    const body = table.querySelector("tbody");
    body.textContent = "";
    for (const refused of data.addresses) {
      const row = model.cloneNode(true);
      row.classList.toggle("blocked", Boolean(refused.blocked_until));
      const shown = {
        address: refused.address,
        failures: refused.failures,
        last_slot_id: refused.last_slot_id,
        last_reason: labels[refused.last_reason] || refused.last_reason,
        since: clock(refused.since),
        blocked_until: refused.blocked_until ? clock(refused.blocked_until) : "–",
      };
      for (const [field, value] of Object.entries(shown)) {
        row.querySelector(`[data-field="${field}"]`).textContent = String(value);
      }
      row.querySelector('input[name="address"]').value = refused.address;
      body.appendChild(row);
    }
    table.hidden = !data.addresses.length;
    document.getElementById("stats-refused-empty").hidden = Boolean(data.addresses.length);
  }

  function renderSlots(data) {
    const body = document.querySelector("#stats-slots tbody");
    body.textContent = "";
    for (const slot of data.slots) {
      const row = document.createElement("tr");
      row.dataset.slot = slot.slot_id;
      if (!slot.is_active) row.className = "inactive";
      const name = cell(row, "");
      const strong = document.createElement("strong");
      strong.textContent = slot.slot_id;
      name.appendChild(strong);
      name.appendChild(document.createTextNode(` ${slot.display_name}`));
      cell(row, slot.jobs, "num");
      cell(row, slot.done, "num");
      cell(row, slot.failed, "num");
      cell(row, slot.timeouts, "num");
      cell(row, slot.rate_limited, "num");
      cell(row, percent(slot.success_rate), "num");
      // Own provider · first failover · second: "12 · 3 · 0".
      cell(row, slot.served_by_step.join(" · "), "num served-by");
      cell(row, duration(slot.p50_ms), "num");
      cell(row, duration(slot.p95_ms), "num");
      cell(row, bytes(slot.window_storage.total_bytes), "num");
      body.appendChild(row);
    }
  }

  /* Live feed ------------------------------------------------------------------------------ */

  const feed = document.getElementById("stats-feed");
  const liveBadge = document.getElementById("stats-live");
  let refreshTimer = null;

  function setLive(state) {
    liveBadge.dataset.state = state;
    liveBadge.textContent = labels[state] || state;
  }

  function addToFeed(job) {
    document.getElementById("stats-feed-empty").hidden = true;
    const item = document.createElement("li");
    item.className = `stats-feed-item ${job.status}`;
    item.dataset.jobId = job.id;
    if (job.thumbnail_url) {
      const link = document.createElement("a");
      link.href = job.result_url;
      link.target = "_blank";
      link.rel = "noopener";
      const image = document.createElement("img");
      image.src = job.thumbnail_url;
      image.alt = "";
      image.width = 64;
      image.height = 64;
      link.appendChild(image);
      item.appendChild(link);
    } else {
      const placeholder = document.createElement("span");
      placeholder.className = "stats-feed-placeholder";
      placeholder.textContent = job.http_status ? String(job.http_status) : "!";
      item.appendChild(placeholder);
    }
    const text = document.createElement("div");
    const title = document.createElement("strong");
    title.textContent = job.slot_id;
    const badge = document.createElement("span");
    badge.className = `stats-badge ${job.status}`;
    badge.textContent = labels[job.status] || job.status;
    text.append(title, " ", badge);
    const details = document.createElement("div");
    details.className = "stats-muted";
    const parts = [clock(job.finished_at), duration(job.duration_ms), labels[job.source] || job.source];
    if (job.failure_reason) parts.push(job.failure_reason);
    details.textContent = parts.join(" · ");
    text.appendChild(details);
    item.appendChild(text);
    feed.prepend(item);
    while (feed.children.length > FEED_LIMIT) feed.lastElementChild.remove();
  }

  function connect(attempt) {
    const scheme = window.location.protocol === "https:" ? "wss:" : "ws:";
    const socket = new WebSocket(`${scheme}//${window.location.host}${page.dataset.socketPath}`);
    setLive("connecting");
    socket.addEventListener("open", () => {
      attempt = 0;
      setLive("live");
    });
    socket.addEventListener("message", (message) => {
      const event = JSON.parse(message.data);
      if (event.type !== "job.finished") return;
      addToFeed(event.job);
      clearTimeout(refreshTimer);
      refreshTimer = setTimeout(refresh, AFTER_EVENT_MS);
    });
    socket.addEventListener("close", () => {
      setLive("offline");
      const delay = Math.min(30000, 1000 * Math.pow(2, attempt));
      setTimeout(() => connect(attempt + 1), delay);
    });
  }

  /* Start ---------------------------------------------------------------------------------- */

  windowSelect.addEventListener("change", () => {
    const url = new URL(window.location.href);
    url.searchParams.set("window", windowSelect.value);
    window.history.replaceState(null, "", url);
    refresh();
  });
  let resizeTimer = null;
  window.addEventListener("resize", () => {
    clearTimeout(resizeTimer);
    resizeTimer = setTimeout(() => lastOverview && renderCharts(lastOverview), 200);
  });
  const requestsFilter = document.getElementById("stats-requests-filter");
  requestsFilter.addEventListener("input", () => refreshRequests());
  requestsFilter.addEventListener("submit", (event) => {
    event.preventDefault();
    refreshRequests();
  });
  refresh();
  setInterval(() => document.hidden || refresh(), REFRESH_MS);
  // The log is what the crew watches while a booth misbehaves: kept fresher than the figures.
  setInterval(() => document.hidden || refreshRequests(), REQUESTS_REFRESH_MS);
  connect(0);
})();
