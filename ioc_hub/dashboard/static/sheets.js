/* ioc-hub reporting forms: a unit's key downloads its form (GET /api/v1/templates/{unit}) and
 * uploads it back filled (POST /api/v1/uploads), then sees the import summary. The key is kept
 * in sessionStorage; everything the hub returns is written with textContent, never as HTML.
 */
"use strict";

(() => {
  const KEY_STORAGE = "ioc-hub.unit-key";
  const $ = (id) => document.getElementById(id);

  const key = () => $("key-input").value.trim();

  function showError(text) {
    $("sheets-error").textContent = text;
    $("sheets-error").hidden = !text;
  }

  async function problemText(response) {
    try {
      const problem = await response.json();
      return `HTTP ${response.status}: ${problem.detail || problem.title || ""}`;
    } catch {
      return `HTTP ${response.status}`;
    }
  }

  function filenameOf(response, fallback) {
    const found = /filename="([^"]+)"/.exec(response.headers.get("Content-Disposition") || "");
    return found ? found[1] : fallback;
  }

  async function download() {
    showError("");
    sessionStorage.setItem(KEY_STORAGE, key());
    const unit = $("unit-input").value.trim();
    const params = new URLSearchParams({
      period: $("period-input").value.trim(),
      format: $("format-select").value,
    });
    const response = await fetch(
      `/api/v1/templates/${encodeURIComponent(unit)}?${params}`,
      { headers: { Authorization: `Bearer ${key()}` } },
    );
    if (!response.ok) {
      showError(await problemText(response));
      return;
    }
    const url = URL.createObjectURL(await response.blob());
    const link = document.createElement("a");
    link.href = url;
    link.download = filenameOf(response, `template.${$("format-select").value}`);
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(url), 60_000);
  }

  function showSummary(summary) {
    for (const cell of document.querySelectorAll("[data-count]")) {
      cell.textContent = String(summary[cell.dataset.count] ?? 0);
    }
    const list = $("upload-errors");
    list.replaceChildren(
      ...summary.errors.map((error) => {
        const item = document.createElement("li");
        item.textContent = error.reason;
        return item;
      }),
    );
    $("upload-result").hidden = false;
  }

  async function upload() {
    showError("");
    $("upload-result").hidden = true;
    sessionStorage.setItem(KEY_STORAGE, key());
    const file = $("upload-file").files[0];
    if (!file) {
      showError("Choose the filled form first.");
      return;
    }
    const body = new FormData();
    body.append("file", file, file.name);
    const unit = $("unit-input").value.trim();
    if (unit) body.append("unit", unit);
    const response = await fetch("/api/v1/uploads", {
      method: "POST",
      headers: { Authorization: `Bearer ${key()}` },
      body,
    });
    const answer = await response.json().catch(() => null);
    if (response.ok) {
      showSummary(answer);
      return;
    }
    if (answer && answer.summary) showSummary(answer.summary);
    showError(answer ? `HTTP ${response.status}: ${answer.detail}` : `HTTP ${response.status}`);
  }

  function guarded(work) {
    return () => work().catch((error) => showError(`The hub could not be reached: ${error}`));
  }

  $("key-input").value = sessionStorage.getItem(KEY_STORAGE) || "";
  $("download").addEventListener("click", guarded(download));
  $("upload").addEventListener("click", guarded(upload));
  $("sheets-form").addEventListener("submit", (event) => event.preventDefault());
})();
