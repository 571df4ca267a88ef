// @ts-check
/**
 * The client's phone page: notice -> device check -> waiting room -> call,
 * with a reconnecting state and the end screens. Page code only: the protocol
 * lives in signaling.js, the peer connection in call.js. Text is set with
 * textContent, never innerHTML.
 */
import { SignalingClient, signalingUrl } from "./signaling.js";
import { classifyMediaError, linkLooksWeak, measuredLinkKbps, openMedia, reachEnabled, SoundMeter, startPtime, stopStream } from "./devicecheck.js";
import { $, show, showStep, tr, attachStream, setPressed } from "./ui.js";

const data = JSON.parse(/** @type {HTMLElement} */ ($("join-data")).textContent || "{}");
// The strings come in the page, or (a phone that keeps the code) from strings.{locale}.js, run before this.
const T = tr(data.strings || /** @type {any} */ (globalThis).bimbingJoinStrings || {});
/** The same page serves a third person by link (issue 22, /guest): no call of its own with the PK, a mesh. */
const isGuest = data.role === "guest";

/** Page state, in one place. */
const state = {
  /** @type {MediaStream | null} */ stream: null,
  audioOnly: false,
  muted: false,
  cameraOff: false,
  admitted: false,
  /** @type {SoundMeter | null} */ meter: null,
  /** @type {SignalingClient | null} */ sig: null,
  /** The socket whose events this page listens to (a pre-opened one is not yet). @type {SignalingClient | null} */ wiredSig: null,
  /** @type {Call | null} */ call: null,
  /** @type {RTCIceServer[]} */ iceServers: [],
  /** The device check found a slow link and chose sound only (not the client). */
  weakLink: false,
  /** That start's Opus packet length, from the link's measured rate (devicecheck.js: startPtime); null: the lean default. @type {number | null} */
  startPtime: null,
  /** Bumped by every start and end of a call: a call that finished loading late is dropped. */
  callToken: 0,
};

/**
 * The call code (call.js, reach.js) is not needed before the PK admits: on a
 * 32 kbit/s link every kilobyte is a quarter of a second, so it loads while the
 * client waits (issue #11).
 * @type {Promise<[typeof import("./call.js")]> | null}
 */
let callCode = null;

/** Reach (Opus fitted to the link, automatic steps, the weak-link start) unless `?reach=off`. */
function reachOn() {
  let storage = null;
  try { storage = sessionStorage; } catch { /* private mode */ }
  return reachEnabled(location, storage);
}
/**
 * The text line (chat.js) comes with the waiting room too, not before: the
 * first load stays small (issue 22).
 * @type {Promise<import("./chat.js").ChatPanel> | null}
 */
let chatPanel = null;
/** @param {SignalingClient} sig @param {any[]} [early] lines that came before it loaded */
function openChat(sig, early = []) {
  chatPanel ??= import("./chat.js").then(({ ChatPanel }) =>
    new ChatPanel({ root: /** @type {HTMLElement} */ ($("chat")), T, me: isGuest ? "guest" : "client" }));
  chatPanel.then((panel) => {
    panel.attach(sig);
    for (const line of early) panel.add(line);
  }).catch(() => { chatPanel = null; });
}
/**
 * On a weak link the text line waits (issue 25): loaded with the waiting room,
 * chat.js and chat.css (2.3 KB and two more answers) came in the middle of the
 * join, the offer and the DTLS handshake, a second at 24 kbit/s with 10% loss
 * (measured, docs/webclient.md). It comes once the client has waited
 * CHAT_WAIT_MS in the waiting room (from the server's `waiting`, not from the
 * tap: the join itself can take seconds on such a link), once the first words
 * are through, or CHAT_CALL_WAIT_MS after admission if the call does not
 * connect; the PK's lines that arrive before it are kept and shown then.
 * @type {(() => void) | null}
 */
let chatLater = null;
/** @type {ReturnType<typeof setTimeout> | null} */
let chatTimer = null;
const CHAT_WAIT_MS = 10000;
/** @param {SignalingClient} sig */
function openChatWhenCalm(sig) {
  if (!(state.weakLink && state.audioOnly)) return openChat(sig);
  /** @type {any[]} */
  const early = [];
  /** @param {Event} e */
  const keep = (e) => early.push(/** @type {CustomEvent} */ (e).detail);
  sig.addEventListener("chat", keep);
  chatLater = () => {
    chatLater = null;
    if (chatTimer) clearTimeout(chatTimer);
    chatTimer = null;
    openChat(sig, early);
    // the panel listens from now on; the lines kept so far are in `early`
    chatPanel?.finally(() => sig.removeEventListener("chat", keep));
  };
}
/** A wait in the waiting room that lasts: the text line comes (if it is still held back). */
function waitThenChat() {
  if (chatLater && !chatTimer) chatTimer = setTimeout(() => chatLater?.(), CHAT_WAIT_MS);
}
/** Admitted: the text line waits for the first words, or CHAT_CALL_WAIT_MS if the call does not connect. */
function holdChat() {
  if (!chatLater) return;
  if (chatTimer) clearTimeout(chatTimer);
  chatTimer = setTimeout(() => chatLater?.(), CHAT_CALL_WAIT_MS);
}
const CHAT_CALL_WAIT_MS = 20000;
/**
 * The signing panel (signing.js, its styles and texts) loads only when the PK
 * pushes a document to sign (issue 22): most calls never need it.
 * @type {Promise<typeof import("./signing.js")> | null}
 */
let signingCode = null;
/** @param {{id: number, revision: number}} pushed @param {SignalingClient} sig */
function openDocument(pushed, sig) {
  signingCode ??= import("./signing.js");
  signingCode.then(({ showDocument }) => showDocument(pushed, sig)).catch(() => { signingCode = null; });
}
function loadCallCode() {
  // On the join page call.js comes with reach.js inside it (server/web/callcode.py: one response, issue 25).
  callCode ??= Promise.all([import("./call.js")]);
  return callCode;
}

/**
 * A third person in the call (issue 22): the pairs with a guest (or, on a guest's
 * page, with the PK and the client) run in guestmesh.js, fetched with its tiles
 * on the first message about them, never before: a two-party call loads nothing more.
 * @type {any}
 */
let mesh = null;
/** Messages that came while the mesh code loads. @type {any[] | null} */
let meshEarly = null;
/** @param {any} message */
function toMesh(message) {
  if (mesh) return mesh.receive(message);
  if (meshEarly) return meshEarly.push(message);
  meshEarly = [message];
  Promise.all([import("./guestmesh.js"), import("./guesttiles.js"), loadCallCode()]).then(([{ GuestMesh }, { Tiles }, [{ Call }]]) => {
    const tiles = new Tiles(/** @type {HTMLElement} */ (document.querySelector("#step-call .stage")), T);
    mesh = new GuestMesh({ signaling: /** @type {SignalingClient} */ (state.sig), Call, me: isGuest ? "guest" : "client",
      iceServers: () => state.iceServers, localStream: () => state.stream });
    mesh.addEventListener("stream", (/** @type {any} */ e) => {
      const { address, stream, label } = e.detail;
      // A guest sees the PK large, as the client does; everyone else in a tile.
      if (isGuest && address === "officer") attachStream(/** @type {HTMLVideoElement} */ ($("remote")), stream);
      else tiles.show(address, stream, label);
    });
    mesh.addEventListener("ice-state", (/** @type {any} */ e) => {
      if (isGuest && e.detail.address === "officer" && e.detail.state === "connected") setStatus(T("call.connected"));
    });
    mesh.addEventListener("gone", (/** @type {any} */ e) => tiles.remove(e.detail.address));
    for (const early of meshEarly || []) mesh.receive(early);
    meshEarly = null;
  }).catch(() => { meshEarly = null; });
}
function closeMesh() {
  mesh?.closeAll();
  mesh = null;
  meshEarly = null;
}

/** The signaling socket, made once; opened ahead while the client checks camera and microphone (issue 25). */
function signaling() {
  if (state.sig) return state.sig;
  const sig = new SignalingClient({ url: signalingUrl(location, data.session_id), role: isGuest ? "guest" : "client" });
  // The step the call starts on goes with `join`, so that the PK's first offer
  // already fits a weak link: no second offer/answer before the first words.
  sig.joinExtra = () => (state.weakLink && state.audioOnly && reachOn() ? { step: "audio", ...(state.startPtime ? { ptime: state.startPtime } : {}) } : {});
  state.sig = sig;
  return sig;
}

/**
 * Nothing the first words do not need comes before them (issue 25): the
 * kendala form's code loads once the call is through, or as soon as the client
 * opens the form. A form sent before it is there waits for it.
 * @type {Promise<unknown> | null}
 */
let kendalaCode = null;
let kendalaReady = false;
function loadKendala() {
  kendalaCode ??= import("./kendala.js").then(() => { kendalaReady = true; });
  return kendalaCode;
}
const kendalaForm = /** @type {HTMLFormElement | null} */ ($("kendala-form"));
kendalaForm?.addEventListener("submit", (e) => {
  if (kendalaReady) return;
  e.preventDefault();
  loadKendala().then(() => kendalaForm.requestSubmit());
});
$("kendala-details")?.addEventListener("toggle", () => loadKendala());
kendalaForm?.addEventListener("focusin", () => loadKendala(), { once: true });

/**
 * What the call does not need (the kendala code, the call code kept on the phone
 * for the next call) loads after the first words, and never while a call below
 * full video lasts: at 32 kbit/s its 8 KB (with the service worker's own fetches)
 * filled the link for 5 s and 23-49% of the PK's voice was concealed on the
 * phone meanwhile (measured, docs/webclient.md). On a weak link it loads when the
 * call ends, or once the call has stepped up to full video.
 */
let afterFirstWords = false;
let laterLoaded = false;
function loadLater() {
  if (laterLoaded) return;
  laterLoaded = true;
  loadKendala().catch(() => { /* loaded again when the form is opened */ });
  import("./keepcode.js").catch(() => { /* the next call loads the code again */ });
}
/** Load it now if the call can carry it: connected for a while, at full video, or over. */
function maybeLoadLater() {
  if (!state.call || (afterFirstWords && state.call.step === "full")) loadLater();
}
function firstWordsThrough() {
  if (afterFirstWords || graceTimer) return;
  graceTimer = setTimeout(() => {
    afterFirstWords = true;
    chatLater?.();
    maybeLoadLater();
  }, FIRST_WORDS_GRACE_MS);
}
/** @type {ReturnType<typeof setTimeout> | null} */
let graceTimer = null;
/** How long after the call is connected the page waits before loading what the call does not need. */
const FIRST_WORDS_GRACE_MS = 8000;

const banner = /** @type {HTMLElement} */ ($("banner"));
/** @param {string} text */
function setBanner(text) {
  banner.textContent = text || "";
  show(banner, !!text);
}

// --- step 1: notice ---------------------------------------------------------
$("start-check")?.addEventListener("click", () => startCheck());

// --- step 2: device check ---------------------------------------------------
async function startCheck() {
  showStep("check");
  const help = /** @type {HTMLElement} */ ($("check-help"));
  const enter = /** @type {HTMLButtonElement} */ ($("enter"));
  const retry = /** @type {HTMLElement} */ ($("retry-check"));
  show(help, false);
  show(retry, false);
  enter.disabled = true;
  state.meter?.stop();
  stopStream(state.stream);
  state.stream = null;
  // A slow link (measured from this page's own download): start with sound only,
  // and say so; the call brings video in by itself if the link allows.
  const box = /** @type {HTMLInputElement} */ ($("audio-only"));
  const weakNote = /** @type {HTMLElement} */ ($("weak-link"));
  if (!state.weakLink && !box.dataset.touched && reachOn()) {
    const kbps = linkKbps();
    weakNote.dataset.kbps = String(kbps ?? "");
    if (linkLooksWeak(kbps, /** @type {any} */ (navigator).connection)) {
      state.weakLink = true;
      state.startPtime = startPtime(kbps);
      box.checked = true;
    }
  }
  show(weakNote, state.weakLink && box.checked);
  const wantAudioOnly = box.checked;
  // The call code loads while the client looks at the preview (it is not needed before),
  // and the signaling socket opens meanwhile: `join` goes out the moment they enter.
  loadCallCode().catch(() => { /* retried when the call starts */ });
  signaling().preconnect();
  try {
    const opened = await openMedia({ audioOnly: wantAudioOnly });
    state.stream = opened.stream;
    state.audioOnly = opened.audioOnly;
    if (opened.fellBack) {
      /** @type {HTMLInputElement} */ ($("audio-only")).checked = true;
      showHelp("join.fell_back_title", "join.fell_back");
    }
  } catch (err) {
    const kind = classifyMediaError(err);
    showHelp(`join.err_${kind.replace("-", "")}_title`, `join.err_${kind.replace("-", "")}_help`);
    // Nothing to preview: put the advice and "Coba lagi" where the eye is.
    show($("check-media"), false);
    show(retry, true);
    return;
  }
  show($("check-media"), true);
  attachStream(/** @type {HTMLVideoElement} */ ($("preview")), state.audioOnly ? null : state.stream);
  show($("preview"), !state.audioOnly);
  show($("preview-audio-only"), state.audioOnly);
  const level = /** @type {HTMLMeterElement} */ ($("level"));
  const heard = /** @type {HTMLElement} */ ($("heard"));
  try {
    state.meter = new SoundMeter(state.stream, (value) => {
      level.value = value;
      if (value > 0.05) heard.textContent = T("join.heard");
    });
  } catch {
    // No WebAudio (very old browser): the check still passes, without a meter.
  }
  enter.disabled = false;
}

/** Responses smaller than this say little of the link's rate: most of one arrives within the link's burst allowance. */
const MEASURE_MIN_BYTES = 6000;
const LINK_KEY = "bimbing-link-kbps";
/** How long a phone's last measured rate stands in for one it could not measure. */
const LINK_MEMORY_MS = 12 * 3600 * 1000;
/**
 * The link's rate from this page's own downloads of MEASURE_MIN_BYTES or more
 * (issue 25: a phone that keeps the code loads only the 4.5 KB join page, which
 * measured a 64 kbit/s link as fast enough for video); without one, the rate
 * this phone measured last (a number, nothing personal), if recent. Null when
 * nothing tells.
 * @returns {number | null} kbit/s
 */
function linkKbps() {
  const entries = [...performance.getEntriesByType("navigation"), ...performance.getEntriesByType("resource")]
    .filter((e) => (/** @type {PerformanceResourceTiming} */ (e).transferSize || 0) >= MEASURE_MIN_BYTES);
  const kbps = measuredLinkKbps(entries);
  try {
    if (kbps != null) {
      localStorage.setItem(LINK_KEY, JSON.stringify({ kbps, at: Date.now() }));
    } else {
      const kept = JSON.parse(localStorage.getItem(LINK_KEY) || "null");
      if (kept && typeof kept.kbps === "number" && Date.now() - kept.at < LINK_MEMORY_MS) return kept.kbps;
    }
  } catch { /* no storage (private mode): no memory */ }
  return kbps;
}

/** @param {string} titleKey @param {string} textKey */
function showHelp(titleKey, textKey) {
  /** @type {HTMLElement} */ ($("check-help-title")).textContent = T(titleKey);
  /** @type {HTMLElement} */ ($("check-help-text")).textContent = T(textKey);
  show($("check-help"), true);
}

$("retry-check")?.addEventListener("click", () => startCheck());
$("audio-only")?.addEventListener("change", (e) => {
  // The client's own choice from now on.
  /** @type {HTMLInputElement} */ (e.target).dataset.touched = "1";
  state.weakLink = false;
  startCheck();
});
$("enter")?.addEventListener("click", () => enterWaitingRoom());

// --- step 3: waiting room ---------------------------------------------------
function enterWaitingRoom() {
  state.meter?.stop();
  state.meter = null;
  showStep("waiting");
  setWaiting("join.connecting", "");
  loadCallCode().catch(() => { /* retried when the call starts */ });
  const sig = signaling();
  if (state.wiredSig === sig) {
    sig.connect();
    return;
  }
  state.wiredSig = sig;
  // With a call going, a new socket takes our place back (a change of network):
  // the call goes on by ICE restart, with no waiting room (issue #11).
  sig.canResume = () => state.admitted && !!state.call;
  openChatWhenCalm(sig);
  sig.addEventListener("document", (e) => openDocument(/** @type {CustomEvent} */ (e).detail, sig));
  sig.addEventListener("welcome", (e) => {
    state.iceServers = /** @type {CustomEvent} */ (e).detail.ice_servers || [];
    setBanner("");
  });
  sig.addEventListener("waiting", () => {
    endCall();
    state.admitted = false;
    showStep("waiting");
    setWaiting("join.waiting_title", "join.waiting_text");
    waitThenChat();
  });
  sig.addEventListener("admitted", (e) => {
    if (/** @type {CustomEvent} */ (e).detail.resumed && state.call) {
      // Our place was kept: the same call goes on (the PK restarts ICE).
      state.call.resync();
      return;
    }
    // A fresh admission: a call still held from before the drop is over.
    endCall();
    state.admitted = true;
    holdChat();
    showCallScreen();
    // The peer connection starts on "peer-joined", which follows at once when
    // the PK is connected (or when they come back after a drop).
    if (!state.call) setStatus(T("call.officer_away"));
  });
  sig.addEventListener("peer-joined", (e) => {
    const joined = /** @type {CustomEvent} */ (e).detail;
    if (isGuest || joined.role === "guest") return toMesh(joined);
    // Both of us are in the call: a fresh peer connection each time, on both sides.
    if (joined.role === "officer") startCall();
  });
  sig.addEventListener("guest-signal", (e) => toMesh(/** @type {CustomEvent} */ (e).detail));
  sig.addEventListener("peer-left", (e) => {
    const left = /** @type {CustomEvent} */ (e).detail;
    if ((isGuest || left.role === "guest") && (mesh || meshEarly)) toMesh(left);
    if (left.role !== "officer") return;
    endCall();
    setStatus(T("call.officer_left"));
  });
  sig.addEventListener("recording", (e) => {
    // The PK's console is sending this call to the server's recorder (or stopped).
    show($("recorded"), !!(/** @type {CustomEvent} */ (e).detail.active));
  });
  sig.addEventListener("denied", () => finish("join.denied_title", "join.denied_text"));
  sig.addEventListener("session-ended", () => finish("join.ended_title", "join.ended_text"));
  sig.addEventListener("error", (e) => {
    const { code, message } = /** @type {CustomEvent} */ (e).detail;
    // Back after the session ended without us (the PK ended it, or the server
    // ended a call everyone had left): the same as being told it ended.
    if (code === "session-closed") {
      finish("join.ended_title", "join.ended_while_away");
      return;
    }
    if (code === "chat-rate-limited" || code === "too-large") return; // the chat card says it
    const key = `join.code.${code}`;
    const text = T(key) !== key ? T(key) : message;
    if (sig.stopped) finish("join.error_title", null, text);
    else setBanner(text);
  });
  sig.addEventListener("reconnecting", () => {
    // Our socket dropped. The call is kept for a resume; if the server no longer
    // holds our place it says `admitted` (not resumed) and the call starts anew.
    if (!sig.canResume()) endCall();
    setBanner(navigator.onLine ? T("call.reconnecting") : T("call.offline"));
    setStatus(T("call.reconnecting"));
  });
  sig.connect();
}

/** @param {string} titleKey @param {string} textKey */
function setWaiting(titleKey, textKey) {
  /** @type {HTMLElement} */ ($("waiting-title")).textContent = T(titleKey);
  /** @type {HTMLElement} */ ($("waiting-text")).textContent = textKey ? T(textKey) : "";
}

// --- step 4: the call -------------------------------------------------------
function showCallScreen() {
  showStep("call");
  attachStream(/** @type {HTMLVideoElement} */ ($("local")), state.audioOnly ? null : state.stream);
  applySaverView();
}

async function startCall() {
  endCall();
  const token = state.callToken;
  const sig = /** @type {SignalingClient} */ (state.sig);
  showCallScreen();
  setStatus(T("call.connecting"));
  // The PK's offer may arrive before the call code has loaded: keep it for the call.
  /** @type {any[]} */
  const early = [];
  /** @param {Event} e */
  const keep = (e) => early.push(/** @type {CustomEvent} */ (e).detail);
  const kinds = ["offer", "answer", "candidate", "reach"];
  for (const kind of kinds) sig.addEventListener(kind, keep);
  let code;
  try {
    code = await loadCallCode();
  } catch {
    callCode = null;
    setBanner(T("call.reconnecting"));
    return;
  } finally {
    for (const kind of kinds) sig.removeEventListener(kind, keep);
  }
  if (token !== state.callToken || !state.sig) return; // ended (or restarted) meanwhile
  const [{ Call }] = code;
  const call = new Call({ signaling: sig, polite: true, iceServers: state.iceServers, localStream: state.stream, audioOnly: state.audioOnly,
    reach: reachOn(), weakLink: state.weakLink && state.audioOnly, startPtime: (state.weakLink && state.startPtime) || undefined });
  state.call = call;
  for (const message of early) call.receive(message);
  showStepNote(call.step);
  call.setMuted(state.muted);
  call.setCameraOff(state.cameraOff);
  attachStream(/** @type {HTMLVideoElement} */ ($("local")), state.audioOnly ? null : state.stream);
  show($("local"), !state.audioOnly);
  call.addEventListener("remote-stream", (e) => {
    attachStream(/** @type {HTMLVideoElement} */ ($("remote")), /** @type {CustomEvent} */ (e).detail.stream);
  });
  call.addEventListener("local-stream", (e) => {
    state.stream = /** @type {CustomEvent} */ (e).detail.stream;
    attachStream(/** @type {HTMLVideoElement} */ ($("local")), state.stream);
  });
  call.addEventListener("ice-state", (e) => {
    const s = /** @type {CustomEvent} */ (e).detail.state;
    if (s === "connected" || s === "completed") {
      setStatus(T("call.connected"));
      setBanner("");
      firstWordsThrough();
    } else if (s === "disconnected" || s === "failed") {
      setBanner(T("call.reconnecting"));
    } else if (s === "checking") {
      setStatus(T("call.connecting"));
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
    // A weak-link start that stepped up has its camera back.
    if (state.audioOnly && !call.audioOnly) {
      state.audioOnly = false;
      state.stream = call.localStream;
      applySaverView();
    }
    showStepNote(step);
    maybeLoadLater();
  });
  applySaverView();
}

/** The automatic step, in plain words; nothing shown at full quality. @param {string} step */
function showStepNote(step) {
  const note = /** @type {HTMLElement} */ ($("reach-step"));
  note.textContent = step === "full" ? "" : T(`reach.step_${step}`);
  note.dataset.step = step;
  show(note, step !== "full");
}

function endCall() {
  state.callToken += 1;
  showStepNote("full");
  if (!state.call) return;
  state.call.close();
  state.call = null;
  const q = /** @type {HTMLElement} */ ($("quality"));
  q.dataset.level = "unknown";
  q.textContent = T("call.quality_unknown");
  /** @type {HTMLVideoElement} */ ($("remote")).srcObject = null;
}

/** @param {string} text */
function setStatus(text) {
  /** @type {HTMLElement} */ ($("call-status")).textContent = text;
}

function applySaverView() {
  show($("remote-audio-only"), state.audioOnly);
  show($("remote"), !state.audioOnly);
  show($("local"), !state.audioOnly);
  setPressed($("saver"), state.audioOnly, T(state.audioOnly ? "call.saver_off" : "call.saver_on"));
  /** @type {HTMLButtonElement} */ ($("switch")).disabled = state.audioOnly;
  /** @type {HTMLButtonElement} */ ($("camera")).disabled = state.audioOnly;
}

$("mute")?.addEventListener("click", () => {
  state.muted = !state.muted;
  state.call?.setMuted(state.muted);
  mesh?.setMuted(state.muted);
  setPressed($("mute"), state.muted, T(state.muted ? "call.unmute" : "call.mute"));
});
$("camera")?.addEventListener("click", () => {
  state.cameraOff = !state.cameraOff;
  state.call?.setCameraOff(state.cameraOff);
  setPressed($("camera"), state.cameraOff, T(state.cameraOff ? "call.camera_on" : "call.camera_off"));
});
$("switch")?.addEventListener("click", () => {
  state.call?.switchCamera().catch(() => setBanner(T("call.switch_failed")));
});
$("saver")?.addEventListener("click", async () => {
  state.audioOnly = !state.audioOnly;
  if (state.call) {
    await state.call.setAudioOnly(state.audioOnly);
    state.stream = state.call.localStream;
    attachStream(/** @type {HTMLVideoElement} */ ($("local")), state.audioOnly ? null : state.stream);
  }
  applySaverView();
});
$("hangup")?.addEventListener("click", () => {
  endCall();
  closeMesh();
  state.admitted = false;
  state.sig?.close(true);
  state.sig = null;
  // Camera light off while they are out of the call.
  stopStream(state.stream);
  state.stream = null;
  showStep("left");
});
$("rejoin")?.addEventListener("click", async () => {
  try {
    const opened = await openMedia({ audioOnly: state.audioOnly });
    state.stream = opened.stream;
    state.audioOnly = opened.audioOnly;
  } catch {
    startCheck(); // the devices went away meanwhile: back to the check, with its help
    return;
  }
  enterWaitingRoom();
});

// --- network changes ----------------------------------------------------------
window.addEventListener("offline", () => {
  if (state.sig) setBanner(T("call.offline"));
});
// A new network type or estimate (Chromium on Android: Wi-Fi <-> cellular): is our socket still alive?
// (Offline, nothing could answer: "online" below reconnects.)
/** @type {any} */ (navigator).connection?.addEventListener?.("change", () => { if (navigator.onLine) state.sig?.checkAlive(); });
window.addEventListener("online", () => {
  // A new network (Wi-Fi -> mobile data): the old socket and ICE paths are likely dead.
  if (state.sig && !state.sig.stopped) {
    setBanner(T("call.reconnecting"));
    state.sig.reconnectNow();
  }
});

/**
 * @param {string} titleKey @param {string | null} textKey @param {string} [text]
 */
function finish(titleKey, textKey, text) {
  endCall();
  closeMesh();
  state.meter?.stop();
  stopStream(state.stream);
  state.stream = null;
  setBanner("");
  /** @type {HTMLElement} */ ($("final-title")).textContent = T(titleKey);
  /** @type {HTMLElement} */ ($("final-text")).textContent = textKey ? T(textKey) : text || "";
  showStep("final");
  chatLater?.(); // the lines of the call, for the client to read back
  show($("chat-form"), false); // the record keeps the lines; nobody reads new ones
  // The call is over: what it did not need may come now (the call code kept for the next call).
  if (afterFirstWords || graceTimer) loadLater();
}

// Here and usable: the page's first tap works from now on.
performance.mark?.("bimbing-join-ready");
