// @ts-check
/**
 * Reach: keeping a guidance call alive on a slow, lossy mobile link (issue #11).
 * No DOM access: call.js uses these pieces, the pages only show their results.
 *
 * Why these numbers (docs/webclient.md has the measurements):
 * - 20 ms Opus packets cost about 23 kbit/s of IP/UDP/RTP/SRTP headers alone,
 *   more than a 32 kbit/s link can spare. 60 ms packets cut that to a third.
 * - Opus at 12 kbit/s with in-band FEC stays intelligible (wideband speech);
 *   the FEC copy repairs a lost packet from the next one, at no extra header cost.
 * - The automatic steps follow the browser's own bandwidth estimate
 *   (candidate-pair availableOutgoingBitrate): full video, a small video layer,
 *   then sound only; they step back up only after the estimate has stayed high
 *   for a while (hysteresis), so the picture does not flicker on and off.
 */

/** @typedef {"full" | "low" | "audio"} Step */

// Lives in devicecheck.js, which the join page loads first (the device check needs it too).
export { reachEnabled } from "./devicecheck.js";

/** Steps from best to leanest; a higher index is further down. */
export const STEPS = /** @type {const} */ (["full", "low", "audio"]);

/** Opus target when the link is tight (audio step). */
export const TIGHT_AUDIO_BITRATE = 12000;
/** Opus packet length when tight: three 20 ms frames per packet, a third of the headers. */
export const TIGHT_PTIME = 60;
/** The small video layer: a face you can still recognise, at 24 kbit/s beside the lean audio. */
export const LOW_VIDEO = { scaleResolutionDownBy: 4, maxBitrate: 24000, maxFramerate: 8 };

/** Available outgoing bitrate (kbit/s) thresholds with a gap between down and up (hysteresis). */
export const THRESHOLDS = {
  fullDown: 150, // below this, full video steps down to the small layer
  lowDown: 56, // below this, the small layer steps down to sound only
  lowUp: 80, // from sound only back to the small layer (a 64 kbit/s link and above)
  fullUp: 400, // from the small layer back to full video
};
/** A round trip this long means the link's queue is full (a 400 ms mobile buffer): congestion. */
export const CONGESTED_RTT_MS = 600;
/** How many consecutive samples must agree before a step (samples are 2 s apart). */
export const DOWN_SAMPLES = 2;
export const UP_SAMPLES = 4;
/** In sound-only, try the small video layer again after this long (doubling after each failure). */
export const PROBE_AFTER_MS = 45000;
export const PROBE_MAX_MS = 240000;
/** Chromium's estimate starts at 300 kbit/s and climbs: the first seconds say nothing about the link. */
export const WARMUP_MS = 8000;

/** Media counts as stopped when no packet has arrived for this long. */
export const STALL_MS = 3000;
/** An ICE `disconnected` shorter than this is a hiccup, not a disconnection. */
export const HICCUP_MS = 4000;

/**
 * Ask for lean Opus in an SDP: packets of `ptime` ms, in-band FEC, a bitrate
 * ceiling. Each browser's encoder follows what the *other* side's description
 * asks for, so both the description we send and the one we receive are tuned.
 * @param {string} sdp
 * @param {{ptime?: number, maxAverageBitrate?: number, dtx?: boolean}} [options]
 */
export function tuneOpus(sdp, { ptime = TIGHT_PTIME, maxAverageBitrate = TIGHT_AUDIO_BITRATE, dtx = false } = {}) {
  const eol = sdp.includes("\r\n") ? "\r\n" : "\n";
  const lines = sdp.split(eol);
  if (lines.at(-1) === "") lines.pop();
  /** @type {string[]} */
  const out = [];
  let inAudio = false;
  /** @type {Set<string>} */
  let opus = new Set();
  const closeAudio = () => {
    if (inAudio && opus.size) out.push(`a=ptime:${ptime}`, `a=maxptime:${ptime}`);
  };
  for (const line of lines) {
    if (line.startsWith("m=")) {
      closeAudio();
      inAudio = line.startsWith("m=audio");
      opus = new Set();
    }
    if (inAudio) {
      const rtpmap = /^a=rtpmap:(\d+) opus\/48000/i.exec(line);
      if (rtpmap) opus.add(rtpmap[1]);
      if (/^a=(ptime|maxptime):/.test(line)) continue;
      const fmtp = /^a=fmtp:(\d+) (.*)$/.exec(line);
      if (fmtp && opus.has(fmtp[1])) {
        /** @type {Map<string, string>} */
        const params = new Map();
        for (const kv of fmtp[2].split(";")) {
          const [k, v = ""] = kv.trim().split("=");
          if (k) params.set(k, v);
        }
        params.set("useinbandfec", "1");
        params.set("usedtx", dtx ? "1" : "0");
        params.set("maxaveragebitrate", String(maxAverageBitrate));
        params.set("stereo", "0");
        out.push(`a=fmtp:${fmtp[1]} ${[...params].map(([k, v]) => `${k}=${v}`).join(";")}`);
        continue;
      }
    }
    out.push(line);
  }
  closeAudio();
  return out.join(eol) + eol;
}

/** @param {Step} a @param {Step} b @returns {Step} the leaner of two steps */
export function leaner(a, b) {
  return STEPS.indexOf(a) >= STEPS.indexOf(b) ? a : b;
}

/**
 * Grade a connection from RTT, loss, jitter and the available bitrate.
 * @param {{rttMs: number | null, lossPct: number | null, jitterMs?: number | null, availableKbps?: number | null}} m
 * @returns {"good" | "fair" | "poor" | "unknown"}
 */
export function gradeQuality({ rttMs, lossPct, jitterMs = null, availableKbps = null }) {
  if (rttMs == null && lossPct == null && availableKbps == null) return "unknown";
  const rtt = rttMs ?? 0;
  const loss = lossPct ?? 0;
  const jitter = jitterMs ?? 0;
  const kbps = availableKbps ?? Infinity;
  if (rtt >= 700 || loss >= 8 || jitter >= 100 || kbps < THRESHOLDS.lowDown) return "poor";
  if (rtt >= 300 || loss >= 2 || jitter >= 40 || kbps < THRESHOLDS.fullDown) return "fair";
  return "good";
}

/**
 * Which step this side wants, from successive bandwidth samples, with
 * hysteresis: down after DOWN_SAMPLES low samples, up after UP_SAMPLES high
 * ones; in sound only the estimate cannot rise (audio alone never tests the
 * link), so the small layer is tried again now and then, backing off each time
 * the link proves too thin.
 */
export class StepPolicy {
  /** @param {{step?: Step, now?: () => number}} [options] */
  constructor({ step = "full", now = () => Date.now() } = {}) {
    /** @type {Step} */
    this.step = step;
    this.now = now;
    this.below = 0;
    this.above = 0;
    this.probeWaitMs = PROBE_AFTER_MS;
    this.since = now();
    /** Set while a probe of the small layer is running. */
    this.probing = false;
  }

  /** @param {Step} step */
  _go(step) {
    this.step = step;
    this.below = 0;
    this.above = 0;
    this.since = this.now();
    return step;
  }

  /**
   * @param {{availableKbps: number | null, lossPct: number | null, rttMs?: number | null}} m
   * @returns {Step}
   */
  sample({ availableKbps, lossPct, rttMs = null }) {
    if (availableKbps == null) return this.step;
    // The bandwidth estimate lags behind a full queue; loss and a long round trip do not.
    const congested = (lossPct ?? 0) >= 20 || (rttMs ?? 0) >= CONGESTED_RTT_MS;
    const { fullDown, lowDown, lowUp, fullUp } = THRESHOLDS;
    const warming = this.now() - this.since < WARMUP_MS;
    const down = this.step === "full" ? (availableKbps < fullDown && !warming) || congested
      : this.step === "low" ? availableKbps < lowDown || congested : false;
    const up = this.step === "audio" ? availableKbps >= lowUp && !congested : this.step === "low" ? availableKbps >= fullUp && !congested : false;
    this.below = down ? this.below + 1 : 0;
    this.above = up ? this.above + 1 : 0;
    if (this.below >= DOWN_SAMPLES) {
      if (this.step === "low" && this.probing) this.probeWaitMs = Math.min(PROBE_MAX_MS, this.probeWaitMs * 2);
      this.probing = false;
      return this._go(this.step === "full" ? "low" : "audio");
    }
    if (this.above >= UP_SAMPLES) {
      this.probing = false;
      if (this.step === "low") this.probeWaitMs = PROBE_AFTER_MS;
      return this._go(this.step === "audio" ? "low" : "full");
    }
    if (this.step === "low" && this.probing && this.now() - this.since > 12000) this.probing = false; // the probe held
    if (this.step === "audio" && this.now() - this.since >= this.probeWaitMs) {
      this.probing = true;
      return this._go("low");
    }
    return this.step;
  }
}
