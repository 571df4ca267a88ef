// @ts-check
/**
 * The client's phone page: notice -> device check -> waiting room -> call,
 * with a reconnecting state and the end screens. Page code only: the protocol
 * lives in signaling.js, the peer connection in call.js. Text is set with
 * textContent, never innerHTML.
 */
import { SignalingClient, signalingUrl } from "./signaling.js";
import { Call } from "./call.js";
import { classifyMediaError, openMedia, SoundMeter, stopStream } from "./devicecheck.js";
import { $, show, showStep, tr, attachStream, setPressed } from "./ui.js";

const data = JSON.parse(/** @type {HTMLElement} */ ($("join-data")).textContent || "{}");
const T = tr(data.strings);

/** Page state, in one place. */
const state = {
  /** @type {MediaStream | null} */ stream: null,
  audioOnly: false,
  muted: false,
  cameraOff: false,
  admitted: false,
  /** @type {SoundMeter | null} */ meter: null,
  /** @type {SignalingClient | null} */ sig: null,
  /** @type {Call | null} */ call: null,
  /** @type {RTCIceServer[]} */ iceServers: [],
};

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
  const wantAudioOnly = /** @type {HTMLInputElement} */ ($("audio-only")).checked;
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

/** @param {string} titleKey @param {string} textKey */
function showHelp(titleKey, textKey) {
  /** @type {HTMLElement} */ ($("check-help-title")).textContent = T(titleKey);
  /** @type {HTMLElement} */ ($("check-help-text")).textContent = T(textKey);
  show($("check-help"), true);
}

$("retry-check")?.addEventListener("click", () => startCheck());
$("audio-only")?.addEventListener("change", () => startCheck());
$("enter")?.addEventListener("click", () => enterWaitingRoom());

// --- step 3: waiting room ---------------------------------------------------
function enterWaitingRoom() {
  state.meter?.stop();
  state.meter = null;
  showStep("waiting");
  setWaiting("join.connecting", "");
  if (state.sig) {
    state.sig.connect();
    return;
  }
  const sig = new SignalingClient({ url: signalingUrl(location, data.session_id), role: "client" });
  state.sig = sig;
  sig.addEventListener("welcome", (e) => {
    state.iceServers = /** @type {CustomEvent} */ (e).detail.ice_servers || [];
    setBanner("");
  });
  sig.addEventListener("waiting", () => {
    state.admitted = false;
    showStep("waiting");
    setWaiting("join.waiting_title", "join.waiting_text");
  });
  sig.addEventListener("admitted", () => {
    state.admitted = true;
    showCallScreen();
    // The peer connection starts on "peer-joined", which follows at once when
    // the PK is connected (or when they come back after a drop).
    if (!state.call) setStatus(T("call.officer_away"));
  });
  sig.addEventListener("peer-joined", (e) => {
    // Both of us are in the call: a fresh peer connection each time, on both sides.
    if (/** @type {CustomEvent} */ (e).detail.role === "officer") startCall();
  });
  sig.addEventListener("peer-left", (e) => {
    if (/** @type {CustomEvent} */ (e).detail.role !== "officer") return;
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
    const key = `join.code.${code}`;
    const text = T(key) !== key ? T(key) : message;
    if (sig.stopped) finish("join.error_title", null, text);
    else setBanner(text);
  });
  sig.addEventListener("reconnecting", () => {
    // Our socket dropped: the server treats us as gone, so the call restarts on return.
    endCall();
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

function startCall() {
  endCall();
  const sig = /** @type {SignalingClient} */ (state.sig);
  showCallScreen();
  setStatus(T("call.connecting"));
  const call = new Call({ signaling: sig, polite: true, iceServers: state.iceServers, localStream: state.stream, audioOnly: state.audioOnly });
  state.call = call;
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
  applySaverView();
}

function endCall() {
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
  state.meter?.stop();
  stopStream(state.stream);
  state.stream = null;
  setBanner("");
  /** @type {HTMLElement} */ ($("final-title")).textContent = T(titleKey);
  /** @type {HTMLElement} */ ($("final-text")).textContent = textKey ? T(textKey) : text || "";
  showStep("final");
}
