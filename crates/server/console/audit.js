// The audit view (admin only) and the rendering of a decision trail, shared with the API panel.

export function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "class") e.className = v;
    else e.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children) {
    if (c === undefined || c === null) continue;
    e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return e;
}

const MARKS = { pass: "✓", fail: "✗", skip: "–" };

/** One audit event's decision trail: each check in order, the first failing one marked. */
export function renderExplanation(ex) {
  const box = el("div", { class: "explanation" });
  const who = ex.userName ? ` · user ${ex.userName}` : "";
  box.append(el("p", { class: "explanation-head" },
    el("strong", {}, ex.decision === "denied" ? "Denied" : "Allowed"),
    ` — ${ex.eventName} (${ex.eventSource}) at ${ex.eventTime}${who}`));
  if (ex.errorCode) box.append(el("p", {}, `${ex.errorCode}: ${ex.errorMessage ?? ""}`));
  const ol = el("ol", { class: "trail" });
  (ex.steps || []).forEach((s, i) => {
    const outcome = String(s.outcome).toLowerCase();
    const first = ex.firstFailure === i + 1;
    const li = el("li", { class: `trail-${outcome}${first ? " first-failure" : ""}` },
      el("span", { class: "mark", "aria-label": outcome }, MARKS[outcome] ?? "?"), " ",
      el("strong", {}, s.check), `: ${s.detail}`,
      first ? el("span", { class: "first-label" }, " ← first failing check") : null);
    ol.append(li);
  });
  if (!ex.steps?.length) ol.append(el("li", {}, "(no checks recorded)"));
  box.append(ol);
  return box;
}

let adminToken = "";

/** The admin token typed into the audit view, for other panels that may use it. */
export function currentAdminToken() {
  return adminToken;
}

async function adminGet(path) {
  const res = await fetch(path, { headers: { authorization: `Bearer ${adminToken}` } });
  const body = await res.json().catch(() => ({}));
  return { ok: res.ok, status: res.status, body };
}

function isoOrEmpty(value) {
  if (!value) return "";
  const d = new Date(value);
  return Number.isNaN(d.getTime()) ? "" : d.toISOString();
}

function queryString(form) {
  const q = new URLSearchParams({ limit: "100" });
  const add = (name, value) => { if (value) q.set(name, value); };
  add("event_name", form.querySelector("#audit-event-name").value.trim());
  add("user", form.querySelector("#audit-user").value.trim());
  add("request_id", form.querySelector("#audit-request-id").value.trim());
  const outcome = form.querySelector("#audit-outcome").value;
  if (outcome) q.set("denied", outcome === "denied" ? "true" : "false");
  add("start_time", isoOrEmpty(form.querySelector("#audit-start").value));
  add("end_time", isoOrEmpty(form.querySelector("#audit-end").value));
  return q.toString();
}

async function toggleDetails(row, record) {
  const next = row.nextElementSibling;
  if (next?.classList.contains("event-details")) {
    next.remove();
    row.setAttribute("aria-expanded", "false");
    return;
  }
  row.setAttribute("aria-expanded", "true");
  const cell = el("td", { colspan: "6" });
  const detailsRow = el("tr", { class: "event-details" }, cell);
  row.after(detailsRow);
  if (record.errorCode) {
    const r = await adminGet(`/admin/audit/${encodeURIComponent(record.requestID)}`);
    const ex = r.ok ? (r.body.events || []).find((e) => e.eventId === record.eventID) : null;
    cell.append(ex ? renderExplanation(ex) : el("p", {}, `No explanation (HTTP ${r.status}).`));
  }
  cell.append(el("h4", {}, "Event JSON"), el("pre", { class: "event-json" }, JSON.stringify(record, null, 2)));
}

function renderEvents(tbody, events) {
  tbody.replaceChildren();
  if (!events.length) {
    tbody.append(el("tr", {}, el("td", { colspan: "6" }, "No events match.")));
    return;
  }
  for (const r of events) {
    const user = r.userIdentity?.userName ?? r.userIdentity?.principalId ?? r.userIdentity?.arn ?? "";
    const outcome = r.errorCode ? el("span", { class: "status-bad" }, r.errorCode) : el("span", { class: "status-ok" }, "allowed");
    const row = el("tr", { tabindex: "0", "data-request-id": r.requestID, "aria-expanded": "false" },
      el("td", {}, r.eventTime), el("td", {}, r.eventName), el("td", {}, r.eventSource),
      el("td", {}, user), el("td", {}, outcome), el("td", { class: "mono" }, r.requestID));
    row.addEventListener("click", () => toggleDetails(row, r));
    row.addEventListener("keydown", (ev) => {
      if (ev.key === "Enter" || ev.key === " ") {
        ev.preventDefault();
        toggleDetails(row, r);
      }
    });
    tbody.append(row);
  }
}

export function initAudit(root, say) {
  const signIn = root.querySelector("#audit-sign-in");
  const tokenInput = root.querySelector("#admin-token");
  const form = root.querySelector("#audit-filters");
  const tbody = root.querySelector("#audit-events tbody");
  const state = root.querySelector("#audit-state");

  async function search(ev) {
    ev?.preventDefault();
    if (!adminToken) {
      state.textContent = "Sign in with the admin token first.";
      return;
    }
    const r = await adminGet(`/admin/audit?${queryString(form)}`);
    if (!r.ok) {
      state.textContent = `Lookup refused (HTTP ${r.status}): ${r.body.error_description ?? r.body.error ?? ""}`;
      return;
    }
    state.textContent = `${r.body.events.length} event(s), newest first.`;
    renderEvents(tbody, r.body.events);
  }

  signIn.addEventListener("click", async () => {
    adminToken = tokenInput.value.trim();
    tokenInput.value = "";
    const r = await adminGet("/admin/audit?limit=1");
    if (r.ok) {
      state.textContent = "Signed in as admin.";
      form.hidden = false;
      say("Audit view: signed in as admin.");
      await search();
    } else {
      adminToken = "";
      state.textContent = `The admin token was refused (HTTP ${r.status}): ${r.body.error_description ?? ""}`;
    }
  });
  form.addEventListener("submit", search);
  return { search, setRequestId: (id) => { form.querySelector("#audit-request-id").value = id; } };
}
