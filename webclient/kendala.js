// @ts-check
/**
 * The client's "Ada kendala?" form on the join page: report an obstacle and
 * maybe propose a new time, then read the PK's answers. Talks to
 * `/api/join/kendala` with the join pass cookie; page code only, text set with
 * textContent, never innerHTML.
 */
import { $, show, tr } from "./ui.js";

const data = JSON.parse(/** @type {HTMLElement} */ ($("join-data")).textContent || "{}");
// The strings come in the page, or (a phone that keeps the code) from strings.{locale}.js, run before this.
const T = tr(data.strings || /** @type {any} */ (globalThis).bimbingJoinStrings || {});
const API = "/api/join/kendala";
// While an answer is pending, look again now and then (cheap GET; the page may stay open for hours).
const POLL_MS = 30000;

const form = /** @type {HTMLFormElement | null} */ ($("kendala-form"));
const statusEl = /** @type {HTMLElement} */ ($("kendala-status"));
const sendButton = /** @type {HTMLButtonElement} */ ($("kendala-send"));
/** @type {number | undefined} */ let pollTimer;

/** @param {string} text @param {boolean} [error] */
function setStatus(text, error = false) {
  statusEl.textContent = text;
  statusEl.classList.toggle("error", error);
  show(statusEl, !!text);
}

/**
 * "2026-01-19T09:30:00+07:00" -> "19-01-2026 09:30". The server already sends
 * office time (WIB), so no conversion through the phone's own clock.
 * @param {string | null} iso
 */
function wib(iso) {
  if (!iso) return "";
  const [d, t] = iso.split("T");
  const [y, m, day] = d.split("-");
  return `${day}-${m}-${y} ${t.slice(0, 5)}`;
}

/**
 * @param {{kind: string, status: string, message: string, requested_at: string | null,
 *   reply: string, created_at: string, new_session: {scheduled_at: string} | null}[]} items
 */
function render(items) {
  const list = /** @type {HTMLElement} */ ($("kendala-list"));
  list.replaceChildren();
  for (const k of items) {
    const li = document.createElement("li");
    li.dataset.status = k.status;
    const head = document.createElement("p");
    const kind = document.createElement("strong");
    kind.textContent = T(`kendala.kind.${k.kind}`);
    const badge = document.createElement("span");
    badge.className = `badge kendala-${k.status}`;
    badge.textContent = T(`kendala.status.${k.status}`);
    const when = document.createElement("small");
    when.className = "muted";
    when.textContent = wib(k.created_at);
    head.append(kind, " ", badge, " ", when);
    li.append(head);
    /** @param {string} text @param {string} [cls] */
    const line = (text, cls) => {
      const p = document.createElement("p");
      if (cls) p.className = cls;
      p.textContent = text;
      li.append(p);
    };
    if (k.message) line(k.message, "muted");
    if (k.requested_at) line(T("join.kendala_proposed", { when: wib(k.requested_at) }));
    if (k.reply) line(T("join.kendala_reply", { reply: k.reply }), "kendala-reply");
    if (k.new_session) line(T("join.kendala_new_time", { when: wib(k.new_session.scheduled_at) }), "kendala-new-time");
    list.append(li);
  }
  show($("kendala-earlier"), items.length > 0);
}

async function refresh() {
  let answer;
  try {
    const resp = await fetch(API, { headers: { Accept: "application/json" }, credentials: "same-origin" });
    if (!resp.ok) return;
    answer = await resp.json();
  } catch {
    return; // offline for a moment: the next poll tries again
  }
  render(answer.kendala || []);
  if (!answer.can_report) show(form, false);
  clearTimeout(pollTimer);
  if ((answer.kendala || []).some((/** @type {{status: string}} */ k) => k.status === "open")) {
    pollTimer = window.setTimeout(refresh, POLL_MS);
  }
}

/** @param {number} status @param {{error?: string, fields?: Record<string, string>}} body */
function errorText(status, body) {
  if (status === 429) return T("join.kendala_err_many");
  if (status === 401 || status === 403) return T("join.kendala_err_link");
  if (status === 409) return T("join.kendala_err_closed");
  if (body.fields && "requested_at" in body.fields) return T("join.kendala_err_past");
  return T("join.kendala_err_message");
}

form?.addEventListener("submit", async (e) => {
  e.preventDefault();
  const when = /** @type {HTMLInputElement} */ ($("kendala-when")).value;
  /** @type {Record<string, string>} */
  const body = {
    kind: /** @type {HTMLSelectElement} */ ($("kendala-kind")).value,
    message: /** @type {HTMLTextAreaElement} */ ($("kendala-message")).value.trim(),
  };
  // datetime-local has no offset: the server reads it as office time (WIB), as the label says.
  if (when) body.requested_at = when;
  sendButton.disabled = true;
  setStatus(T("join.kendala_sending"));
  try {
    const resp = await fetch(API, {
      method: "POST",
      headers: { "Content-Type": "application/json", Accept: "application/json" },
      credentials: "same-origin",
      body: JSON.stringify(body),
    });
    if (resp.ok) {
      form.reset();
      /** @type {HTMLDetailsElement} */ ($("kendala-details")).open = false;
      setStatus(T("join.kendala_sent"));
      await refresh();
    } else {
      setStatus(errorText(resp.status, await resp.json().catch(() => ({}))), true);
    }
  } catch {
    setStatus(T("join.kendala_err_network"), true);
  } finally {
    sendButton.disabled = false;
  }
});

// When the call page reaches an end screen (e.g. the PK moved this session,
// which closes it), look for the answer at once instead of at the next poll.
new MutationObserver(() => {
  if (document.body.dataset.view === "final") refresh();
}).observe(document.body, { attributes: true, attributeFilter: ["data-view"] });

refresh();
