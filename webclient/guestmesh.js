// @ts-check
/**
 * A third person in the call (issue 22, docs/signaling.md §9): the guest's own
 * peer connections, one per pair, beside the officer-client call.
 *
 * Each pair (officer-guest, guest-client) is a `Call` (call.js, perfect
 * negotiation and all) over a `PairChannel`: the channel wraps what the Call
 * sends as `guest-signal` to the one other party, and hands it only the signals
 * from that party. The officer-client Call never sees any of it, so the
 * two-party call stays exactly what it was. Which side offers is the server's
 * `polite` in `peer-joined` (the impolite side offers).
 *
 * No DOM here: the page listens for "stream" ({address, stream, label}) and
 * "gone" ({address}). Loaded only when a guest is involved: a client's page
 * fetches it on the first `peer-joined` of a guest, never before.
 */

/** @typedef {import("./signaling.js").SignalingClient} SignalingClient */

/** What a pair's Call sends that goes to the other party; the rest (media-state) is the two-party call's. */
const WRAPPED = new Set(["offer", "answer", "candidate", "reach"]);

export class PairChannel extends EventTarget {
  /**
   * @param {SignalingClient} signaling @param {string} address the other party ("officer", "client", "guest:<id>")
   * @param {boolean} pings whether this pair's heartbeats (with its inbound counters) go to the server: a
   *   guest's evidence is its link to the officer; the officer's and the client's are their own call's
   */
  constructor(signaling, address, pings) {
    super();
    this.signaling = signaling;
    this.address = address;
    this.pings = pings;
  }

  /** @param {any} message */
  send(message) {
    if (WRAPPED.has(message.type)) return this.signaling.send({ type: "guest-signal", to: this.address, signal: message });
    if (message.type === "ping" && this.pings) return this.signaling.send(message);
    return false;
  }

  checkAlive() {
    this.signaling.checkAlive?.();
  }

  /** @param {any} signal */
  deliver(signal) {
    this.dispatchEvent(new CustomEvent(signal.type, { detail: signal }));
  }
}

export class GuestMesh extends EventTarget {
  /**
   * @param {{signaling: SignalingClient, Call: any, me: "officer" | "client" | "guest",
   *          iceServers: () => RTCIceServer[], localStream: () => MediaStream | null}} options
   */
  constructor({ signaling, Call, me, iceServers, localStream }) {
    super();
    this.signaling = signaling;
    this.Call = Call;
    this.me = me;
    this.iceServers = iceServers;
    this.localStream = localStream;
    /** @type {Map<string, {call: any, channel: PairChannel}>} */
    this.pairs = new Map();
  }

  /** A signaling message about guests (`peer-joined`, `peer-left`, `guest-signal`). @param {any} message */
  receive(message) {
    if (message.type === "guest-signal") {
      this.pairs.get(message.from)?.channel.deliver(message.signal);
      return;
    }
    const address = message.role === "guest" ? `guest:${message.guest}` : message.role;
    // The officer and the client meet guests here; a guest meets both.
    if (this.me !== "guest" && message.role !== "guest") return;
    if (message.type === "peer-left") {
      this.drop(address);
      return;
    }
    if (message.type === "peer-joined") this.open(address, !!message.polite, message);
  }

  /** @param {string} address @param {boolean} polite @param {any} joined */
  open(address, polite, joined) {
    this.drop(address);
    const channel = new PairChannel(this.signaling, address, this.me === "guest" && address === "officer");
    // reach off: the automatic steps follow the client's link on the two-party call; a pair stays plain.
    const call = new this.Call({ signaling: channel, polite, iceServers: this.iceServers(), localStream: this.localStream(), reach: false });
    this.pairs.set(address, { call, channel });
    const label = { role: joined.role, guest_role: joined.guest_role || null, name: joined.name || null };
    call.addEventListener("remote-stream", (/** @type {any} */ e) => this._emit("stream", { address, stream: e.detail.stream, label }));
    call.addEventListener("ice-state", (/** @type {any} */ e) => this._emit("ice-state", { address, state: e.detail.state }));
  }

  /** @param {string} address */
  drop(address) {
    const pair = this.pairs.get(address);
    if (!pair) return;
    this.pairs.delete(address);
    pair.call.close();
    this._emit("gone", { address });
  }

  closeAll() {
    for (const address of [...this.pairs.keys()]) this.drop(address);
  }

  /** @param {boolean} muted */
  setMuted(muted) {
    for (const { call } of this.pairs.values()) call.setMuted(muted);
  }

  /** @param {string} type @param {any} detail */
  _emit(type, detail) {
    this.dispatchEvent(new CustomEvent(type, { detail }));
  }
}
