// @ts-check
/**
 * The officer's call console: share the link, hear and see when the client
 * waits, admit or deny, run the call, write notes that save as they type, end
 * the session. Page code only; protocol in signaling.js, call in call.js.
 */
import { SignalingClient, signalingUrl } from "./signaling.js";
import { Call } from "./call.js";
import { reachEnabled } from "./reach.js";
import { RecordingUplink } from "./recording.js";
import { ChatPanel } from "./chat.js";
import { DocumentsPanel } from "./documents.js";
import { classifyMediaError, openMedia } from "./devicecheck.js";
import { $, show, tr, attachStream, setPressed } from "./ui.js";

const data = JSON.parse(/** @type {HTMLElement} */ ($("console-data")).textContent || "{}");
const T = tr(data.strings);
const API = `/api/sessions/${data.session_id}`;
const NOTES_DEBOUNCE_MS = 700;

const state = {
  /** @type {MediaStream | null} */ stream: null,
  /** @type {Call | null} */ call: null,
  /** Uploads the call to the server's recorder when the session is recorded. @type {RecordingUplink | null} */
  recorder: null,
  /** @type {RTCIceServer[]} */ iceServers: [],
  /** Devices in the waiting room, in arrival order: device id -> label. @type {Map<string, string>} */
  waiting: new Map(),
  /** The device in the call, when known (to tell it apart from a waiting one that leaves). @type {string | null} */
  callDevice: null,
  muted: false,
  cameraOff: false,
  ended: false,
  joinUrl: data.join_url,
};

const banner = /** @type {HTMLElement} */ ($("banner"));
/** @param {string} text */
function setBanner(text) {
  banner.textContent = text || "";
  show(banner, !!text);
}
/** @param {string} text */
function setStatus(text) {
  /** @type {HTMLElement} */ ($("call-status")).textContent = text;
}

// --- JSON calls (same-origin cookie; the server's CSRF check is Origin/Sec-Fetch-Site) ---
/** @param {string} method @param {string} url @param {any} [body] */
async function api(method, url, body) {
  const response = await fetch(url, {
    method,
    credentials: "same-origin",
    headers: body === undefined ? {} : { "Content-Type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const payload = await response.json().catch(() => ({}));
  if (!response.ok) throw Object.assign(new Error(payload.message || response.statusText), { status: response.status, code: payload.error });
  return payload;
}

// --- sharing the link -------------------------------------------------------
const shareStatus = /** @type {HTMLElement} */ ($("share-status"));
$("copy-link")?.addEventListener("click", async () => {
  const input = /** @type {HTMLInputElement} */ ($("join-link"));
  try {
    await navigator.clipboard.writeText(input.value);
    shareStatus.textContent = T("console.copied");
  } catch {
    // Clipboard API refused (older browser, no permission): select it for Ctrl+C.
    input.select();
    shareStatus.textContent = T("console.copy_failed");
  }
});

/** @param {string} url */
function showLink(url) {
  state.joinUrl = url;
  /** @type {HTMLInputElement} */ ($("join-link")).value = url;
  const text = data.wa_template.replace("{link}", url);
  /** @type {HTMLAnchorElement} */ ($("wa-share")).href = `https://wa.me/?text=${encodeURIComponent(text)}`;
  const direct = /** @type {HTMLAnchorElement | null} */ ($("wa-direct"));
  if (direct && data.wa_phone) direct.href = `https://wa.me/${data.wa_phone}?text=${encodeURIComponent(text)}`;
  /** @type {HTMLImageElement} */ ($("qr")).src = `/sessions/${data.session_id}/qr.svg?t=${Date.now()}`;
}

$("reissue")?.addEventListener("click", async () => {
  if (!window.confirm(T("console.reissue_confirm"))) return;
  try {
    const links = await api("POST", `${API}/link`);
    showLink(links.client_join_url);
    shareStatus.textContent = T("console.reissued");
  } catch (err) {
    shareStatus.textContent = /** @type {Error} */ (err).message;
  }
});

// --- notes, topics, outcome: autosave ------------------------------------------
const saveStatus = /** @type {HTMLElement} */ ($("save-status"));
const notesBox = /** @type {HTMLTextAreaElement} */ ($("notes"));
/** Pending changes, merged until the next save goes out. @type {Record<string, any>} */
let pending = {};
/** @type {ReturnType<typeof setTimeout> | null} */
let saveTimer = null;
/** @type {Promise<void>} */
let saving = Promise.resolve();

/** @param {Record<string, any>} change @param {number} delay */
function queueSave(change, delay) {
  Object.assign(pending, change);
  if (saveTimer) clearTimeout(saveTimer);
  saveTimer = setTimeout(() => { saveTimer = null; flush(); }, delay);
}

/** Send what is pending, one request at a time (later edits wait for earlier ones). */
function flush() {
  if (saveTimer) { clearTimeout(saveTimer); saveTimer = null; }
  saving = saving.then(async () => {
    if (!Object.keys(pending).length) return;
    const body = pending;
    pending = {};
    saveStatus.textContent = T("console.saving");
    try {
      const saved = await api("PATCH", API, body);
      data.outcome = saved.outcome;
      saveStatus.textContent = T("console.saved", { time: new Date().toLocaleTimeString(data.locale === "en" ? "en-GB" : "id-ID", { hour: "2-digit", minute: "2-digit", second: "2-digit" }) });
      saveStatus.dataset.state = "saved";
    } catch (err) {
      const code = /** @type {any} */ (err).code;
      if (code === "not-yet" || code === "not-observed") {
        // The record's rules refused the outcome: say why, put the choice back, keep the rest.
        const { outcome: _refused, ...rest } = body;
        pending = { ...rest, ...pending };
        const select = /** @type {HTMLSelectElement | null} */ ($("outcome"));
        if (select) select.value = data.outcome || "";
        saveStatus.textContent = T(`console.outcome_${code.replace("-", "_")}`);
        saveStatus.dataset.state = "refused";
        if (Object.keys(pending).length) queueSave({}, 0);
        return;
      }
      // Keep the text: merge it back (newer edits win) and try again shortly.
      pending = { ...body, ...pending };
      saveStatus.textContent = T("console.save_failed");
      saveStatus.dataset.state = "failed";
      const status = /** @type {any} */ (err).status;
      if (!status || status >= 500 || status === 429) queueSave({}, 3000);
    }
  });
  return saving;
}

notesBox.addEventListener("input", () => {
  saveStatus.dataset.state = "dirty";
  queueSave({ notes: notesBox.value }, NOTES_DEBOUNCE_MS);
});
notesBox.addEventListener("blur", () => { if (Object.keys(pending).length) flush(); });
$("topics")?.addEventListener("change", () => {
  const topics = [...document.querySelectorAll('#topics input[name="topics"]:checked')].map((el) => /** @type {HTMLInputElement} */ (el).value);
  queueSave({ topics }, 0);
});
$("outcome")?.addEventListener("change", () => {
  queueSave({ outcome: /** @type {HTMLSelectElement} */ ($("outcome")).value || null }, 0);
});
/** The ratings given so far at this session, one per open goal rated (PATCH replaces each goal's rating). */
function goalProgress() {
  return [...document.querySelectorAll("#goals .goal")].flatMap((el) => {
    const rating = /** @type {HTMLSelectElement} */ (el.querySelector(".goal-rating")).value;
    const note = /** @type {HTMLInputElement} */ (el.querySelector(".goal-note")).value;
    return rating ? [{ goal_id: Number(/** @type {HTMLElement} */ (el).dataset.goalId), rating, note }] : [];
  });
}
$("goals")?.addEventListener("change", () => {
  const progress = goalProgress();
  if (progress.length) queueSave({ progress }, 0);
});
$("goals")?.addEventListener("input", (event) => {
  if (!(/** @type {HTMLElement} */ (event.target)).classList.contains("goal-note")) return;
  saveStatus.dataset.state = "dirty";
  const progress = goalProgress();
  if (progress.length) queueSave({ progress }, NOTES_DEBOUNCE_MS);
});
// Do not lose the last keystrokes when the tab closes.
window.addEventListener("beforeunload", (event) => {
  if (Object.keys(pending).length || saveStatus.dataset.state === "dirty") {
    flush();
    event.preventDefault();
  }
});

// --- ending the session ------------------------------------------------------
$("end")?.addEventListener("click", async () => {
  if (!window.confirm(T("console.end_confirm"))) return;
  await flush();
  try {
    const session = await api("POST", `${API}/end`);
    showEnded(session);
  } catch (err) {
    setBanner(/** @type {Error} */ (err).message);
  }
});

/**
 * The session is over, whoever ended it (this console, the API, the server for
 * a call everyone left): nothing on the page may still say that the client
 * waits or that the call goes on.
 * @param {{duration_seconds?: number, status?: string, events?: {kind: string, detail?: any}[]}} session
 */
function showEnded(session) {
  state.ended = true;
  endCall();
  sig.close(false);
  for (const t of state.stream ? state.stream.getTracks() : []) t.stop();
  state.waiting.clear();
  renderWaiting();
  /** @type {HTMLButtonElement} */ ($("end")).disabled = true;
  const seconds = session.duration_seconds || 0;
  /** @type {HTMLElement} */ ($("ended-duration")).textContent = T("console.ended_duration", { minutes: Math.floor(seconds / 60), seconds: seconds % 60 });
  const abandoned = (session.events || []).find((e) => e.kind === "ended" && e.detail && e.detail.reason === "abandoned");
  const reason = /** @type {HTMLElement} */ ($("ended-reason"));
  reason.textContent = abandoned ? T("console.ended_abandoned", { minutes: abandoned.detail.abandoned_minutes }) : "";
  show(reason, !!abandoned);
  show($("ended"), true);
  setBanner("");
  setStatus(T("console.ended"));
  setPlaceholder(T("console.ended"));
  /** @type {HTMLElement} */ ($("session-status")).textContent = T(`status.${session.status || "ended"}`);
}

/** Ask the server how the session ended, then say so (with what we know if it does not answer). */
function sessionOver() {
  if (!state.ended) api("GET", API).then(showEnded).catch(() => showEnded({}));
}

// --- waiting room notice ---------------------------------------------------------
const baseTitle = document.title;
/** @type {ReturnType<typeof setInterval> | null} */
let titleTimer = null;

function notifyWaiting() {
  // A short chime (generated WAV, same origin) and a blinking tab title.
  const audio = new Audio(data.sound_url);
  audio.play().catch(() => { /* autoplay refused before any click: the visible notice remains */ });
  if (!titleTimer) {
    let on = false;
    titleTimer = setInterval(() => {
      on = !on;
      document.title = on ? T("console.notify_title") : baseTitle;
    }, 1000);
  }
}

/** Show the latest waiting device (admit/deny act on it), or hide the notice. */
function renderWaiting() {
  const latest = [...state.waiting.entries()].at(-1);
  show($("waiting-notice"), !!latest);
  if (latest) {
    /** @type {HTMLElement} */ ($("waiting-device")).textContent = latest[1] ? T("console.client_waiting_device", { label: latest[1] }) : "";
    return;
  }
  if (titleTimer) clearInterval(titleTimer);
  titleTimer = null;
  document.title = baseTitle;
}

/** @param {"admit" | "deny"} type */
function decide(type) {
  const latest = [...state.waiting.keys()].at(-1);
  if (!sig.send({ type, ...(latest ? { device: latest } : {}) })) return;
  if (latest) state.waiting.delete(latest);
  if (type === "admit") state.callDevice = latest || null;
  renderWaiting();
}
$("admit")?.addEventListener("click", () => decide("admit"));
$("deny")?.addEventListener("click", () => decide("deny"));

// --- the call ------------------------------------------------------------------
/**
 * @param {string} [peerStep] the step the client starts on (`peer-joined`), when it said one
 * @param {number} [peerPtime] the Opus packet length that start asked for (20 or 60 ms)
 */
function startCall(peerStep, peerPtime) {
  endCall();
  let storage = null;
  try { storage = sessionStorage; } catch { /* private mode */ }
  const reach = reachEnabled(location, storage);
  // A client on a weak link starts in sound only and says so with its join: the first
  // offer already asks for lean Opus, with no second offer before the first words (issue 25).
  const call = new Call({ signaling: sig, polite: false, iceServers: state.iceServers, localStream: state.stream, reach,
    peerStep: reach && peerStep === "audio" ? "audio" : "full", ...(reach && peerStep === "audio" && peerPtime ? { startPtime: peerPtime } : {}) });
  state.call = call;
  if (call.step !== "full") showStepNote(call.step);
  call.setMuted(state.muted);
  call.setCameraOff(state.cameraOff);
  setStatus(T("call.connecting"));
  show($("remote-placeholder"), false);
  show($("quality"), true);
  call.addEventListener("remote-stream", (e) => attachStream(/** @type {HTMLVideoElement} */ ($("remote")), /** @type {CustomEvent} */ (e).detail.stream));
  // The running recording is not restarted when the client's video comes back:
  // an upload that started audio-only stays audio-only until the call is rebuilt
  // (reconnect, rejoin). Splitting a fresh upload off mid-call would cut the
  // client's voice into two files for the sake of their picture. (The EINVAL at
  // stop that once made such splits fail came from uneven frame times; the
  // recorder's own writer, server/media/writer.py, now keeps them rising.)
  call.addEventListener("remote-video", (e) => showRemoteVideo(/** @type {CustomEvent} */ (e).detail.sending));
  call.addEventListener("ice-state", (e) => {
    const s = /** @type {CustomEvent} */ (e).detail.state;
    if (s === "connected" || s === "completed") {
      // Both parties connected: the server observes the call, so "Hadir" may be offered
      // (if the server has not counted any time yet it still answers not-observed).
      for (const opt of document.querySelectorAll('#outcome option[data-refused="not-observed"]')) {
        /** @type {HTMLOptionElement} */ (opt).disabled = false;
        delete /** @type {HTMLOptionElement} */ (opt).dataset.refused;
      }
      $("outcome-note")?.setAttribute("hidden", "");
      setStatus(T("console.in_call"));
      setBanner("");
      startRecording(call);
    } else if (s === "disconnected" || s === "failed") {
      setBanner(T("call.reconnecting"));
    }
  });
  call.addEventListener("quality", (e) => {
    const { level, rttMs, kbps } = /** @type {CustomEvent} */ (e).detail;
    const q = /** @type {HTMLElement} */ ($("quality"));
    q.dataset.level = level;
    q.textContent = T(`call.quality_${level}`);
    q.title = rttMs != null ? `RTT ${rttMs} ms · ${kbps ?? "?"} kbit/s` : "";
  });
  call.addEventListener("step", (e) => {
    const { step } = /** @type {CustomEvent} */ (e).detail;
    showStepNote(step);
    // In sound only nobody sends video: no frozen last frame.
    showRemoteVideo(step !== "audio" && call.remoteVideo !== false);
  });
}

/** The automatic step on the client's link, in plain words. @param {string} step */
function showStepNote(step) {
  const note = /** @type {HTMLElement} */ ($("reach-step"));
  note.textContent = step === "full" ? "" : T(`reach.step_${step}`);
  note.dataset.step = step;
  show(note, step !== "full");
}

/** Once a recorded call is connected: our own tracks and the client's, to the server. @param {Call} call */
function startRecording(call) {
  if (!data.record || state.recorder?.pcs.size) return;
  if (!state.recorder) {
    const recorder = new RecordingUplink({ signaling: sig, iceServers: state.iceServers });
    recorder.addEventListener("state", (e) => show($("recording-badge"), /** @type {CustomEvent} */ (e).detail.active));
    recorder.addEventListener("failed", (e) => setBanner(T("console.recording_failed", { reason: /** @type {CustomEvent} */ (e).detail.message })));
    state.recorder = recorder;
  }
  state.recorder.start({ officer: state.stream, client: clientStream(call) }).catch((err) => setBanner(T("console.recording_failed", { reason: String(err) })));
}

/**
 * The client's tracks to record: audio only while the client sends no video, so
 * that the recorder makes a valid audio-only file instead of waiting for video
 * that will never come (a video track in the upload means "video expected").
 * @param {Call} call
 */
function clientStream(call) {
  return call.remoteVideo === false ? new MediaStream(call.remoteStream.getAudioTracks()) : call.remoteStream;
}

/**
 * The client's picture, or a clear notice while they send no video ("hemat
 * kuota"): a frozen last frame would look like a stuck call. The hidden video
 * element keeps playing the client's voice.
 * @param {boolean} sending
 */
function showRemoteVideo(sending) {
  show($("remote"), sending);
  show($("remote-audio-only"), !sending);
}

function endCall() {
  state.recorder?.stop();
  show($("recording-badge"), false);
  showStepNote("full");
  if (!state.call) return;
  state.call.close();
  state.call = null;
  /** @type {HTMLVideoElement} */ ($("remote")).srcObject = null;
  showRemoteVideo(true);
  show($("remote-placeholder"), true);
  show($("quality"), false);
}

/** @param {string} text */
function setPlaceholder(text) {
  /** @type {HTMLElement} */ ($("remote-placeholder")).textContent = text;
}

$("mute")?.addEventListener("click", () => {
  state.muted = !state.muted;
  state.call?.setMuted(state.muted);
  for (const t of state.stream ? state.stream.getAudioTracks() : []) t.enabled = !state.muted;
  setPressed($("mute"), state.muted, T(state.muted ? "call.unmute" : "call.mute"));
});
$("camera")?.addEventListener("click", () => {
  state.cameraOff = !state.cameraOff;
  state.call?.setCameraOff(state.cameraOff);
  for (const t of state.stream ? state.stream.getVideoTracks() : []) t.enabled = !state.cameraOff;
  setPressed($("camera"), state.cameraOff, T(state.cameraOff ? "call.camera_on" : "call.camera_off"));
});

// --- signaling -------------------------------------------------------------------
const sig = new SignalingClient({ url: signalingUrl(location, data.session_id), role: "officer" });
// With a call going, a new socket takes our place back (the console changed
// network): the call goes on by ICE restart and the client never leaves it (issue 22).
sig.canResume = () => !!state.call && !state.ended;
sig.addEventListener("welcome", (e) => {
  const w = /** @type {CustomEvent} */ (e).detail;
  state.iceServers = w.ice_servers || [];
  setBanner("");
  if (state.call && w.resumed) {
    // Our place was kept: the same call goes on; we restart ICE (our address changed).
    state.call.resync();
    // The uploads to the recorder are bound to our old address too, and it has no ICE restart.
    if (data.record) state.recorder?.revive({ officer: state.stream, client: clientStream(state.call) });
  } else if (state.call) {
    // The server had already seen us go: the client was told, a new call follows `peer-joined`.
    endCall();
  }
  // (Re)joined: the server now sends a client-waiting for each device that
  // waits, so whoever waited while we were away and left is no longer shown.
  state.waiting.clear();
  renderWaiting();
  if (!state.call) {
    setStatus(T("console.status_waiting_client"));
    setPlaceholder(T("console.status_waiting_client"));
  }
});
sig.addEventListener("client-waiting", (e) => {
  const { device, label } = /** @type {CustomEvent} */ (e).detail;
  state.waiting.delete(device);
  state.waiting.set(device, label || "");
  renderWaiting();
  if (!state.call) {
    setStatus(T("console.client_waiting"));
    setPlaceholder(T("console.client_waiting"));
  }
  notifyWaiting();
});
sig.addEventListener("peer-joined", (e) => {
  if (/** @type {CustomEvent} */ (e).detail.role === "client") {
    const { step, ptime } = /** @type {CustomEvent} */ (e).detail;
    startCall(step, ptime);
    /** @type {HTMLElement} */ ($("session-status")).textContent = T("status.active");
  }
});
sig.addEventListener("peer-left", (e) => {
  const { role, reason, device } = /** @type {CustomEvent} */ (e).detail;
  if (role !== "client") return;
  if (device && state.waiting.has(device)) {
    // Someone in the waiting room gave up; the call (if any) goes on.
    state.waiting.delete(device);
    renderWaiting();
    return;
  }
  if (state.call && device && state.callDevice && device !== state.callDevice) return;
  endCall();
  setStatus(T(reason === "hangup" ? "console.client_left" : "console.client_dropped"));
  setPlaceholder(T(reason === "hangup" ? "console.client_left" : "console.client_dropped"));
});
sig.addEventListener("session-ended", sessionOver);
sig.addEventListener("error", (e) => {
  const { code, message } = /** @type {CustomEvent} */ (e).detail;
  // Rejoining a session that ended while this console was away (e.g. the server
  // ended a call everyone had left): the same as being told it ended.
  if (code === "session-closed") sessionOver();
  else if (code !== "chat-rate-limited" && code !== "too-large") setBanner(message); // the chat card says those
});
sig.addEventListener("reconnecting", () => {
  // Our own socket dropped. The call is kept for a resume; if the server no longer
  // holds our place it says so in `welcome` (not resumed) and the call starts anew.
  if (!sig.canResume()) endCall();
  setBanner(T("call.reconnecting"));
});
window.addEventListener("online", () => { if (!sig.stopped) sig.reconnectNow(); });
// A new network type (Wi-Fi <-> cellular, a laptop's tethering): is our socket still alive?
/** @type {any} */ (navigator).connection?.addEventListener?.("change", () => { if (navigator.onLine) sig.checkAlive(); });

// --- a third person by link (issue 22): issue links, admit the waiting, a tile each ---
/** Guests in the waiting room: guest id -> its link's role and name. @type {Map<number, {role: string, name: string}>} */
const guestsWaiting = new Map();
function renderGuestsWaiting() {
  const list = /** @type {HTMLElement} */ ($("guest-waiting-list"));
  list.replaceChildren();
  for (const [id, g] of guestsWaiting) {
    const li = document.createElement("li");
    li.className = "row";
    li.dataset.guest = String(id);
    const who = document.createElement("strong");
    who.textContent = T("console.guest_waiting", { role: T(`guest.role.${g.role}`), name: g.name });
    const admit = document.createElement("button");
    admit.type = "button";
    admit.className = "primary admit-guest";
    admit.textContent = T("console.admit_guest");
    admit.addEventListener("click", () => { if (sig.send({ type: "admit", guest: id })) { guestsWaiting.delete(id); renderGuestsWaiting(); } });
    const deny = document.createElement("button");
    deny.type = "button";
    deny.className = "danger";
    deny.textContent = T("console.deny_guest");
    deny.addEventListener("click", () => { if (sig.send({ type: "deny", guest: id })) { guestsWaiting.delete(id); renderGuestsWaiting(); } });
    li.append(who, admit, deny);
    list.append(li);
  }
  show($("guest-notice"), guestsWaiting.size > 0);
}

/** The guest mesh (guestmesh.js) and its tiles, loaded on the first message about a guest. @type {any} */
let mesh = null;
/** @type {any[] | null} */
let meshEarly = null;
/** @param {any} message */
function toMesh(message) {
  if (mesh) return mesh.receive(message);
  if (meshEarly) return meshEarly.push(message);
  meshEarly = [message];
  Promise.all([import("./guestmesh.js"), import("./guesttiles.js")]).then(([{ GuestMesh }, { Tiles }]) => {
    const tiles = new Tiles(/** @type {HTMLElement} */ (document.querySelector("#call .stage")), T);
    mesh = new GuestMesh({ signaling: sig, Call, me: "officer", iceServers: () => state.iceServers, localStream: () => state.stream });
    mesh.addEventListener("stream", (/** @type {any} */ e) => tiles.show(e.detail.address, e.detail.stream, e.detail.label));
    mesh.addEventListener("gone", (/** @type {any} */ e) => tiles.remove(e.detail.address));
    for (const early of meshEarly || []) mesh.receive(early);
    meshEarly = null;
  }).catch(() => { meshEarly = null; });
}
sig.addEventListener("welcome", () => {
  // (Re)joined: the server sends a guest-waiting for each guest that still waits.
  guestsWaiting.clear();
  renderGuestsWaiting();
});
sig.addEventListener("guest-waiting", (e) => {
  const { guest, role, name } = /** @type {CustomEvent} */ (e).detail;
  guestsWaiting.set(guest, { role, name });
  renderGuestsWaiting();
  notifyWaiting();
});
sig.addEventListener("peer-joined", (e) => { if (/** @type {CustomEvent} */ (e).detail.role === "guest") toMesh(/** @type {CustomEvent} */ (e).detail); });
sig.addEventListener("guest-signal", (e) => toMesh(/** @type {CustomEvent} */ (e).detail));
sig.addEventListener("peer-left", (e) => {
  const left = /** @type {CustomEvent} */ (e).detail;
  if (left.role !== "guest") return;
  if (guestsWaiting.delete(left.guest)) renderGuestsWaiting();
  if (mesh || meshEarly) toMesh(left);
});
sig.addEventListener("reconnecting", () => {
  // The server shows our guests out of our pairs; on return they meet us again.
  mesh?.closeAll();
});

const guestStatus = /** @type {HTMLElement} */ ($("guest-status"));
/** @param {{id: number, role: string, name: string, revoked_at: string | null}} g @param {string} [url] */
function showGuestLink(g, url) {
  const li = document.createElement("li");
  li.dataset.guest = String(g.id);
  const who = document.createElement("span");
  who.textContent = `${T(`guest.role.${g.role}`)}: ${g.name}`;
  li.append(who);
  if (url) {
    // Shown once: the server keeps only the link's hash.
    const input = document.createElement("input");
    input.readOnly = true;
    input.value = url;
    input.className = "guest-url";
    li.append(input);
  }
  if (!g.revoked_at) {
    const revoke = document.createElement("button");
    revoke.type = "button";
    revoke.className = "danger";
    revoke.textContent = T("console.guest_revoke");
    revoke.addEventListener("click", async () => {
      try {
        await api("DELETE", `${API}/guests/${g.id}`);
        revoke.remove();
        li.querySelector("input")?.remove();
      } catch (err) {
        guestStatus.textContent = /** @type {Error} */ (err).message;
      }
    });
    li.append(revoke);
  }
  /** @type {HTMLElement} */ ($("guest-links")).append(li);
}
$("guest-form")?.addEventListener("submit", async (event) => {
  event.preventDefault();
  const role = /** @type {HTMLSelectElement} */ ($("guest-role")).value;
  const name = /** @type {HTMLInputElement} */ ($("guest-name")).value.trim();
  try {
    const g = await api("POST", `${API}/guests`, { role, name });
    showGuestLink(g, g.join_url);
    guestStatus.textContent = "";
  } catch (err) {
    guestStatus.textContent = /** @type {Error} */ (err).message;
  }
});
api("GET", `${API}/guests`).then((list) => list.guests.forEach((/** @type {any} */ g) => showGuestLink(g))).catch(() => { /* issued ones show as they are made */ });

// --- the text line (issue 22): to the device in the call, else the one waiting longest shown ---
const chat = new ChatPanel({
  root: /** @type {HTMLElement} */ ($("chat")), T, me: "officer",
  device: () => (state.call ? state.callDevice : [...state.waiting.keys()].at(-1) || state.callDevice),
});
chat.attach(sig);
new DocumentsPanel({ root: /** @type {HTMLElement} */ ($("documents")), T, api, base: API }).attach(sig);
// What was written before this console opened (a client who wrote from the waiting room).
api("GET", `${API}/chat`).then((record) => record.messages.forEach((line) => chat.add(line))).catch(() => { /* the live lines still come */ });

// --- start: camera first (so the first offer carries our tracks), then signaling ---
(async () => {
  try {
    const opened = await openMedia({});
    state.stream = opened.stream;
    attachStream(/** @type {HTMLVideoElement} */ ($("local")), opened.audioOnly ? null : opened.stream);
  } catch (err) {
    setBanner(T("console.camera_failed", { reason: T(`join.err_${classifyMediaError(err).replace("-", "")}_title`) }));
  }
  sig.connect();
})();
