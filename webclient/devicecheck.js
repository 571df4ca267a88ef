// @ts-check
/**
 * Camera and microphone check: open the devices, show a preview, measure the
 * sound level, and turn browser errors into advice a client can follow.
 */

/**
 * What went wrong, in words the page can translate.
 * @param {unknown} err
 * @returns {"denied" | "not-found" | "in-use" | "insecure" | "other"}
 */
export function classifyMediaError(err) {
  const name = err && typeof err === "object" && "name" in err ? String(err.name) : "";
  if (name === "NotAllowedError" || name === "PermissionDeniedError" || name === "SecurityError") return "denied";
  if (name === "NotFoundError" || name === "DevicesNotFoundError" || name === "OverconstrainedError") return "not-found";
  if (name === "NotReadableError" || name === "TrackStartError" || name === "AbortError") return "in-use";
  if (name === "TypeError" && !(globalThis.isSecureContext ?? true)) return "insecure";
  return "other";
}

/**
 * Open camera and microphone, or the microphone only. When the camera is
 * missing but a microphone exists, fall back to audio only rather than fail.
 * @param {{audioOnly?: boolean}} options
 * @returns {Promise<{stream: MediaStream, audioOnly: boolean, fellBack: boolean}>}
 */
export async function openMedia({ audioOnly = false } = {}) {
  if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
    const err = new Error("getUserMedia unavailable");
    err.name = globalThis.isSecureContext === false ? "TypeError" : "NotFoundError";
    throw err;
  }
  const audio = { echoCancellation: true, noiseSuppression: true, autoGainControl: true };
  // A small picture: most clients are on prepaid mobile data.
  const video = { facingMode: "user", width: { ideal: 640 }, height: { ideal: 480 }, frameRate: { ideal: 20, max: 24 } };
  if (audioOnly) {
    return { stream: await navigator.mediaDevices.getUserMedia({ audio }), audioOnly: true, fellBack: false };
  }
  try {
    return { stream: await navigator.mediaDevices.getUserMedia({ audio, video }), audioOnly: false, fellBack: false };
  } catch (err) {
    if (classifyMediaError(err) !== "not-found" && classifyMediaError(err) !== "in-use") throw err;
    // No camera (or it is busy): try the microphone alone.
    return { stream: await navigator.mediaDevices.getUserMedia({ audio }), audioOnly: true, fellBack: true };
  }
}

/** Sound-level meter over an AnalyserNode; calls back with a level in 0..1. */
export class SoundMeter {
  /**
   * @param {MediaStream} stream
   * @param {(level: number) => void} onLevel
   */
  constructor(stream, onLevel) {
    const Ctx = globalThis.AudioContext || /** @type {any} */ (globalThis).webkitAudioContext;
    this.context = new Ctx();
    this.source = this.context.createMediaStreamSource(stream);
    this.analyser = this.context.createAnalyser();
    this.analyser.fftSize = 512;
    this.source.connect(this.analyser);
    this.samples = new Float32Array(this.analyser.fftSize);
    this.onLevel = onLevel;
    /** Highest level seen: lets the page say "we heard you". */
    this.peak = 0;
    // Timers, not requestAnimationFrame: rAF stops in background tabs and headless runs.
    this.timer = setInterval(() => this._tick(), 100);
    this.context.resume?.().catch(() => {});
  }

  _tick() {
    this.analyser.getFloatTimeDomainData(this.samples);
    let sum = 0;
    for (const x of this.samples) sum += x * x;
    const rms = Math.sqrt(sum / this.samples.length);
    // Speech sits around 0.02-0.2 RMS; scale so that normal talk fills most of the bar.
    const level = Math.min(1, rms * 5);
    this.peak = Math.max(this.peak, level);
    this.onLevel(level);
  }

  stop() {
    clearInterval(this.timer);
    try { this.source.disconnect(); } catch { /* ignore */ }
    this.context.close().catch(() => {});
  }
}

/** Stop every track of a stream (camera light off). @param {MediaStream | null} stream */
export function stopStream(stream) {
  for (const t of stream ? stream.getTracks() : []) t.stop();
}

/** Below this, the device check starts the call with sound only (issue #11). */
export const WEAK_LINK_KBPS = 72;

/**
 * A weak link measured at least this fast starts its sound-only call with
 * Chromium's 20 ms Opus packets (ROOMY_PTIME) instead of reach.js's TIGHT_PTIME
 * (issue 25). Fifty packets, the first words, then take one second of sound
 * instead of three. 12 kbit/s Opus in 20 ms packets is about 32 kbit/s on the
 * wire with its headers (docs/webclient.md, "Reach"); the page's measure runs
 * at 0.65-0.9 of the link's rate (42-56 measured at 64 kbit/s, 26-31 at 32), so
 * this is a link of about 50 kbit/s or more. It can overshoot on a loaded
 * phone: 38 read at 32 kbit/s, where 20 ms packets fill the link. So the bar
 * stands above that, and the call leaves its roomy start once the first words
 * are heard (call.js, FIRST_WORDS_PACKETS).
 */
export const ROOMY_LINK_KBPS = 40;
export const ROOMY_PTIME = 20;

/** About one full TCP segment: what had already arrived when a response's first byte was stamped. */
const FIRST_PACKET_BYTES = 1460;

/**
 * The link's rate as this page's own downloads saw it (Resource and Navigation
 * Timing): for each response of a few kilobytes, its bytes over the time from
 * its first to its last byte (no request latency in it: a response that fits
 * the first TCP window arrives as fast as the link lets it). The fastest one
 * counts, since parallel downloads share the link. Null when nothing tells
 * (everything cached).
 * @param {PerformanceEntryList} entries  navigation and resource entries
 * @returns {number | null} kbit/s
 */
export function measuredLinkKbps(entries) {
  let best = null;
  for (const e of /** @type {PerformanceResourceTiming[]} */ (entries)) {
    if (!e.transferSize || e.transferSize < 3000 || !e.responseEnd || !e.responseStart) continue;
    const ms = Math.max(1, e.responseEnd - e.responseStart);
    // The first packet had already arrived at responseStart: only the rest took `ms`.
    const kbps = (Math.max(0, e.transferSize - FIRST_PACKET_BYTES) * 8) / ms; // bits per millisecond = kbit/s
    if (best == null || kbps > best) best = kbps;
  }
  return best == null ? null : Math.round(best);
}

/**
 * Does the link look too slow for video? From measuredLinkKbps, or the browser's
 * own hint (Network Information API, Chromium).
 * @param {number | null} kbps  measuredLinkKbps(...)
 * @param {{effectiveType?: string} | undefined} connection  navigator.connection
 */
export function linkLooksWeak(kbps, connection) {
  if (connection && (connection.effectiveType === "slow-2g" || connection.effectiveType === "2g")) return true;
  return kbps != null && kbps < WEAK_LINK_KBPS;
}

/**
 * The Opus packet length (ms) a weak link's sound-only start asks for when the
 * measured rate leaves room for the headers of short packets; null for the call's
 * lean default (also when nothing was measured: a browser hint of "2g" says the
 * link is thin).
 * @param {number | null} kbps  measuredLinkKbps(...), or the one remembered
 * @returns {number | null}
 */
export function startPtime(kbps) {
  return kbps != null && kbps >= ROOMY_LINK_KBPS ? ROOMY_PTIME : null;
}

/**
 * Is the tuning on for this page? `?reach=off` (kept for the tab in
 * sessionStorage, since the join link redirects) switches it off: the bench's
 * baseline, and a way out if a browser misbehaves with it.
 * @param {{search: string}} loc @param {Storage | null} storage
 */
export function reachEnabled(loc, storage) {
  const flag = new URLSearchParams(loc.search).get("reach");
  try {
    if (flag === "off" || flag === "on") storage?.setItem("bimbing.reach", flag);
    return (storage?.getItem("bimbing.reach") ?? "on") !== "off";
  } catch {
    return flag !== "off";
  }
}
