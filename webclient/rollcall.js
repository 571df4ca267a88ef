// The roll call at a mobile-counseling venue, on a phone (360 px wide).
//
// A check-in is never lost or doubled: each one gets a key made here on the
// device and goes into a queue kept in localStorage before anything is sent.
// The queue is sent in order whenever the network is there (at once, on the
// browser's `online` event, and every 15 s); the server answers the same key
// again with the same session (200), so a retry after a lost answer is safe.
// The queue holds only ids and keys.
//
// The page opens again with no signal (issue 23): a service worker
// (rollcall-sw.js, scoped to this event's page) answers from this event's cache
// when the network fails. This script fills that cache: the page, its scripts
// and styles, and the roster cut down to the invited and those checked in (the
// office's other clients, offered for walk-ins, are never stored). The cache
// lasts until the event ends (`offline_until`): then the worker, this page or
// the mobile-counseling pages (rollcall-sweep.js) delete it; signing out
// deletes it at once (Clear-Site-Data). docs/webclient.md, "Offline reload".

// Importing it also deletes the copies of other events that have ended.
import { CACHE_PREFIX, metaUrl } from "./rollcall-sweep.js";

const data = JSON.parse(document.getElementById("rollcall-data").textContent);
const strings = data.strings || {};
const T = (key, params = {}) => (strings[key] || key).replace(/\{(\w+)\}/g, (_m, name) => String(params[name] ?? ""));

const EVENT = data.event_id;
const QUEUE_KEY = `bimbing.rollcall.${EVENT}.queue`;
const RETRY_MS = 15000;
const PAGE = `/mobile-events/${EVENT}/rollcall`;
const ROSTER = `/api/mobile-events/${EVENT}/roster`;
const CACHE = `${CACHE_PREFIX}${EVENT}`;
const OFFLINE_UNTIL = Date.parse(data.offline_until);
// A service worker is given only to secure pages (HTTPS, localhost): on plain HTTP
// the page cannot open again without a signal, and nothing is stored.
const CAN_KEEP = "serviceWorker" in navigator && "caches" in window;
const OFFLINE_TEXT = {
  ready: "rollcall.offline_ready",
  kept: "rollcall.offline_kept",
  unavailable: "rollcall.offline_unavailable",
  failed: "rollcall.offline_failed",
  ended: "rollcall.offline_ended",
};

const els = {
  net: document.getElementById("net-status"),
  queue: document.getElementById("queue-status"),
  search: document.getElementById("search"),
  counts: document.getElementById("counts"),
  roster: document.getElementById("roster"),
  offline: document.getElementById("offline-status"),
};

/** @type {{id:number,name:string,register_number:string,kelurahan:string,invited:boolean,session_id:number|null}[]} */
let roster = [];
// Whether the day has ended (the server says so): only then is an invited client who
// has not checked in absent; before, they are awaited.
let over = false;
let flushing = false;

function loadQueue() {
  try {
    const items = JSON.parse(localStorage.getItem(QUEUE_KEY) || "[]");
    return Array.isArray(items) ? items : [];
  } catch {
    return [];
  }
}

function saveQueue(items) {
  localStorage.setItem(QUEUE_KEY, JSON.stringify(items));
}

/** Check-ins waiting on this phone, for every event (signing out deletes them). */
function waitingEverywhere() {
  let n = 0;
  for (let i = 0; i < localStorage.length; i++) {
    const name = localStorage.key(i) || "";
    if (!/^bimbing\.rollcall\.\d+\.queue$/.test(name)) continue;
    try {
      const items = JSON.parse(localStorage.getItem(name) || "[]");
      n += Array.isArray(items) ? items.length : 0;
    } catch { /* not ours */ }
  }
  return n;
}

function newKey() {
  if (crypto.randomUUID) return crypto.randomUUID();
  // Plain HTTP on the office network is not a secure context: no randomUUID there.
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

async function api(method, path, body) {
  const response = await fetch(path, {
    method,
    credentials: "same-origin",
    cache: "no-store",
    headers: body ? { "Content-Type": "application/json" } : {},
    body: body ? JSON.stringify(body) : undefined,
  });
  const payload = await response.json().catch(() => ({}));
  return { status: response.status, ok: response.ok, payload };
}

function pendingIds() {
  return new Set(loadQueue().map((item) => item.client_id));
}

function showNetwork() {
  const online = navigator.onLine;
  els.net.dataset.state = online ? "online" : "offline";
  els.net.textContent = online ? T("rollcall.online") : T("rollcall.offline");
  const waiting = loadQueue().length;
  els.queue.textContent = waiting ? T("rollcall.queued", { n: waiting }) : T("rollcall.all_sent");
  els.queue.dataset.waiting = String(waiting);
}

function matches(client, query) {
  if (!query) return client.invited || client.session_id !== null;
  const q = query.toLowerCase();
  return client.name.toLowerCase().includes(q) || client.register_number.toLowerCase().includes(q);
}

function render() {
  const query = els.search.value.trim();
  const pending = pendingIds();
  const shown = roster.filter((c) => matches(c, query) || pending.has(c.id));
  const came = roster.filter((c) => c.session_id !== null || pending.has(c.id));
  // Walk-ins are counted apart: "1 of 2 invited present · 1 came without an invitation".
  const walkIns = came.filter((c) => !c.invited).length;
  els.counts.textContent = T("rollcall.counts", { present: came.length - walkIns, invited: roster.filter((c) => c.invited).length })
    + (walkIns ? ` · ${T("rollcall.walk_ins_count", { n: walkIns })}` : "");
  els.roster.replaceChildren(...shown.map((c) => row(c, pending.has(c.id))));
  showNetwork();
}

function row(client, pending) {
  const li = document.createElement("li");
  li.className = "rollcall-item";
  li.dataset.clientId = String(client.id);
  li.dataset.state = client.session_id !== null ? "present" : pending ? "pending" : over ? "absent" : "awaited";
  const who = document.createElement("div");
  const name = document.createElement("strong");
  name.textContent = client.name;
  const meta = document.createElement("small");
  meta.className = "muted";
  meta.textContent = `${client.register_number} · ${client.kelurahan}` + (client.invited ? "" : ` · ${T("rollcall.walk_in")}`);
  who.append(name, document.createElement("br"), meta);
  const button = document.createElement("button");
  button.type = "button";
  if (client.session_id !== null) {
    button.className = "secondary undo";
    button.textContent = T("rollcall.undo");
    button.addEventListener("click", () => undo(client));
  } else if (pending) {
    button.className = "secondary";
    button.disabled = true;
    button.textContent = T("rollcall.pending");
  } else {
    button.className = "primary checkin";
    button.textContent = T("rollcall.check_in");
    button.addEventListener("click", () => checkIn(client));
  }
  li.append(who, button);
  return li;
}

function checkIn(client) {
  const items = loadQueue();
  if (!items.some((item) => item.client_id === client.id)) {
    // Stored before it is sent: a closed tab or a dead battery keeps it.
    items.push({ key: newKey(), client_id: client.id, at: new Date().toISOString() });
    saveQueue(items);
  }
  render();
  keepRoster(); // a walk-in waiting in the queue stays in the kept roster
  flush();
}

async function flush() {
  if (flushing || !navigator.onLine) return;
  flushing = true;
  try {
    for (const item of loadQueue()) {
      let result;
      try {
        result = await api("POST", `/api/mobile-events/${EVENT}/checkins`, { client_id: item.client_id, key: item.key });
      } catch {
        break; // no network after all: keep the queue, try again later
      }
      if (result.status >= 500 || result.status === 408 || result.status === 429) break;
      saveQueue(loadQueue().filter((other) => other.key !== item.key));
      const client = roster.find((c) => c.id === item.client_id);
      if (result.ok && client) client.session_id = result.payload.session_id;
      if (!result.ok) els.queue.textContent = T("rollcall.refused", { message: result.payload.message || result.status });
    }
  } finally {
    flushing = false;
    render();
    keepRoster();
  }
}

async function undo(client) {
  if (!navigator.onLine) {
    els.queue.textContent = T("rollcall.undo_needs_network");
    return;
  }
  try {
    const result = await api("POST", `/api/mobile-events/${EVENT}/checkins/${client.session_id}/undo`);
    if (result.ok) client.session_id = null;
    else els.queue.textContent = T("rollcall.refused", { message: result.payload.message || result.status });
  } catch {
    els.queue.textContent = T("rollcall.undo_needs_network");
  }
  render();
  keepRoster();
}

function showOffline(state) {
  els.offline.dataset.state = state;
  els.offline.textContent = T(OFFLINE_TEXT[state]);
}

function useRoster(payload, source) {
  roster = payload.clients;
  // A copy kept before the end says "not over": the phone's clock ends the day then.
  over = Boolean(payload.event.over) || (source === "phone" && Date.now() >= OFFLINE_UNTIL);
  document.body.dataset.ready = "1";
  document.body.dataset.roster = source;
}

/** The roster kept on this phone for this event, or null. */
async function keptRoster() {
  if (!CAN_KEEP || !(await caches.has(CACHE))) return null;
  try {
    const kept = await (await caches.open(CACHE)).match(ROSTER);
    return kept ? await kept.json() : null;
  } catch {
    return null;
  }
}

/** Keep the roster for an offline reload: the invited, those checked in and those
 * waiting in the queue, nothing of the office's other clients. Only into a cache
 * this page made for an event that has not ended. */
async function keepRoster() {
  try {
    if (!CAN_KEEP || over || !roster.length || !(await caches.has(CACHE))) return;
    const pending = pendingIds();
    const clients = roster.filter((c) => c.invited || c.session_id !== null || pending.has(c.id));
    const body = JSON.stringify({ event: { id: EVENT, over: false }, clients });
    await (await caches.open(CACHE)).put(ROSTER, new Response(body, { headers: { "Content-Type": "application/json" } }));
  } catch {
    // storage refused (full, private mode): the page still works while it stays open
  }
}

/** Forget this event's offline copy and its worker (the event is over). */
async function forgetOffline() {
  if (!CAN_KEEP) return;
  try {
    await caches.delete(CACHE);
    const registration = await navigator.serviceWorker.getRegistration(PAGE);
    if (registration && new URL(registration.scope).pathname === PAGE) await registration.unregister();
  } catch {
    // nothing kept, or storage refused: nothing to delete
  }
}

/** Register the worker and fill the event's cache, so that a reload with no signal opens the page. */
async function keepOffline() {
  if (!CAN_KEEP) return showOffline("unavailable");
  if (over) {
    await forgetOffline();
    return showOffline("ended");
  }
  try {
    await navigator.serviceWorker.register(data.worker, { scope: PAGE });
    await navigator.serviceWorker.ready;
    const cache = await caches.open(CACHE);
    // The end first: the worker and the sweep judge a cache by it.
    await cache.put(metaUrl(EVENT), new Response(JSON.stringify({ event_id: EVENT, until: data.offline_until })));
    if (navigator.onLine) {
      const assets = Array.from(document.querySelectorAll("script[src], link[rel=stylesheet]"), (el) => el.getAttribute("src") || el.getAttribute("href"));
      // rollcall-sweep.js is imported, not in the page: its address has no version.
      await cache.addAll([PAGE, ...assets, new URL("./rollcall-sweep.js", import.meta.url).pathname]);
    }
    await keepRoster();
    const ready = (await cache.match(PAGE)) && (await cache.match(ROSTER));
    showOffline(ready ? "ready" : "failed");
    document.body.dataset.offline = ready ? "ready" : "failed";
  } catch {
    showOffline("failed");
    document.body.dataset.offline = "failed";
  }
}

async function loadRoster() {
  // A copy kept on this phone shows at once (no signal, or a slow one); the server's answer replaces it.
  const kept = await keptRoster();
  if (kept) {
    useRoster(kept, "phone");
    render();
  }
  try {
    const result = await api("GET", ROSTER);
    if (!result.ok) {
      els.queue.textContent = T("rollcall.refused", { message: result.payload.message || result.status });
      return;
    }
    useRoster(result.payload, "server");
  } catch {
    if (kept) showOffline("kept");
    else els.queue.textContent = T("rollcall.roster_offline");
  }
  render();
  flush();
  if (document.body.dataset.roster === "server") await keepOffline();
}

// Signing out deletes what this phone keeps, the queue too: say so while check-ins wait.
document.querySelector('form[action="/logout"]')?.addEventListener("submit", (event) => {
  const waiting = waitingEverywhere();
  if (waiting && !confirm(T("rollcall.logout_waiting", { n: waiting }))) event.preventDefault();
});
els.search.addEventListener("input", render);
window.addEventListener("online", () => { showNetwork(); flush(); });
window.addEventListener("offline", showNetwork);
setInterval(flush, RETRY_MS);
loadRoster();
