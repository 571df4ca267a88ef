// @ts-check
/**
 * The officer's upload to the server's recorder (docs/signaling.md,
 * `record-offer`). No DOM here: the console gives us streams and listens for
 * events: "state" ({active: boolean}) and "failed" ({message}).
 *
 * One peer connection per recorded party, each with one audio and one video
 * track: the console's own camera and microphone ("officer") and the client's
 * tracks it already receives ("client"), re-sent from this browser so that the
 * client's weak uplink never sends twice. The server (aiortc) does not trickle
 * ICE and takes no candidates from us, so each offer goes out only when ICE
 * gathering is complete, with every candidate inside it.
 */

/** @typedef {import("./signaling.js").SignalingClient} SignalingClient */
/** @typedef {"officer" | "client"} Party */

/** Longest wait for ICE gathering before the offer goes out with what it has. */
export const GATHER_TIMEOUT_MS = 3000;

/**
 * Resolve when the connection has gathered every candidate (or after the timeout).
 * @param {RTCPeerConnection} pc @param {number} [timeoutMs]
 */
export function gatheringComplete(pc, timeoutMs = GATHER_TIMEOUT_MS) {
  if (pc.iceGatheringState === "complete") return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(done, timeoutMs);
    function done() {
      clearTimeout(timer);
      pc.removeEventListener("icegatheringstatechange", check);
      resolve(undefined);
    }
    function check() {
      if (pc.iceGatheringState === "complete") done();
    }
    pc.addEventListener("icegatheringstatechange", check);
  });
}

export class RecordingUplink extends EventTarget {
  /** @param {{signaling: SignalingClient, iceServers?: RTCIceServer[]}} options */
  constructor({ signaling, iceServers = [] }) {
    super();
    this.signaling = signaling;
    this.iceServers = iceServers;
    /** @type {Map<Party, RTCPeerConnection>} */
    this.pcs = new Map();
    this.stopped = false;
    this._onAnswer = this._onAnswer.bind(this);
    this._onState = this._onState.bind(this);
    this._onError = this._onError.bind(this);
    signaling.addEventListener("record-answer", this._onAnswer);
    signaling.addEventListener("recording", this._onState);
    signaling.addEventListener("error", this._onError);
  }

  /**
   * Start (or restart) recording: one upload per party that has tracks. The
   * parties' uploads gather ICE side by side, not one after the other: the
   * client's recording used to start a whole gathering later than the
   * officer's (1.5 s on a loaded machine), seconds of evidence lost.
   * @param {{officer?: MediaStream | null, client?: MediaStream | null}} streams
   */
  async start(streams) {
    this.stopped = false;
    const parties = /** @type {Party[]} */ (["officer", "client"]);
    await Promise.all(parties.map((party) => this._upload(party, streams[party])));
  }

  /**
   * After the console's socket was resumed (its network changed): an upload whose
   * path is gone goes again, now or as soon as its ICE notices (a few seconds);
   * the recorder seals that party's file first. One still connected stays.
   * @param {{officer?: MediaStream | null, client?: MediaStream | null}} streams
   */
  revive(streams) {
    for (const party of /** @type {Party[]} */ (["officer", "client"])) {
      const pc = this.pcs.get(party);
      if (!pc || this.stopped) continue;
      const lost = () => pc.iceConnectionState === "disconnected" || pc.iceConnectionState === "failed" || pc.iceConnectionState === "closed";
      const again = () => {
        pc.removeEventListener("iceconnectionstatechange", watch);
        if (!this.stopped && this.pcs.get(party) === pc) this._upload(party, streams[party]).catch((err) => this._emit("failed", { message: String(err) }));
      };
      const watch = () => { if (lost()) again(); };
      if (lost()) again();
      else pc.addEventListener("iceconnectionstatechange", watch);
    }
  }

  /** @param {Party} party @param {MediaStream | null | undefined} stream */
  async _upload(party, stream) {
    if (!stream || !stream.getTracks().length) return;
    this.pcs.get(party)?.close();
    // An explicit list, empty when none is configured: no public STUN sneaks in.
    const pc = new RTCPeerConnection({ iceServers: this.iceServers });
    this.pcs.set(party, pc);
    // One track of each kind: the recorder writes one video and one audio per party.
    for (const kind of ["audio", "video"]) {
      const track = stream.getTracks().find((t) => t.kind === kind);
      if (track) pc.addTransceiver(track, { direction: "sendonly", streams: [stream] });
    }
    await pc.setLocalDescription(await pc.createOffer());
    await gatheringComplete(pc);
    if (this.stopped || this.pcs.get(party) !== pc || !pc.localDescription) return;
    this.signaling.send({ type: "record-offer", party, sdp: pc.localDescription.sdp });
  }

  /** @param {Event} event */
  async _onAnswer(event) {
    const { party, sdp } = /** @type {CustomEvent} */ (event).detail;
    const pc = this.pcs.get(party);
    if (!pc || pc.signalingState !== "have-local-offer") return;
    try {
      await pc.setRemoteDescription({ type: "answer", sdp });
    } catch (err) {
      this._emit("failed", { message: String(err) });
    }
  }

  /** @param {Event} event */
  _onState(event) {
    this._emit("state", { active: !!(/** @type {CustomEvent} */ (event).detail.active) });
  }

  /** @param {Event} event */
  _onError(event) {
    const { code, message } = /** @type {CustomEvent} */ (event).detail;
    if (code === "not-recorded" || code === "record-failed") this._emit("failed", { message });
  }

  /** Stop recording: the server seals the files; our uploads close. */
  stop() {
    if (!this.pcs.size) return;
    this.stopped = true;
    this.signaling.send({ type: "record-stop" });
    for (const pc of this.pcs.values()) pc.close();
    this.pcs.clear();
  }

  close() {
    this.stop();
    this.signaling.removeEventListener("record-answer", this._onAnswer);
    this.signaling.removeEventListener("recording", this._onState);
    this.signaling.removeEventListener("error", this._onError);
  }

  /** @param {string} type @param {any} detail */
  _emit(type, detail) {
    this.dispatchEvent(new CustomEvent(type, { detail }));
  }
}
