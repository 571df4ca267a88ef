// @ts-check
/**
 * Bimbing signaling protocol library (docs/signaling.md is the contract).
 *
 * No DOM access: this module only uses WebSocket, timers and EventTarget, so it
 * can be reused by any page (or a test harness) and the page code stays apart.
 *
 * Usage:
 *   const sig = new SignalingClient({ url: signalingUrl(location, 7), role: "client" });
 *   sig.addEventListener("admitted", (e) => ... e.detail ...);
 *   sig.connect();
 *
 * Every server message is re-emitted as an event named after its `type`
 * ("welcome", "waiting", "admitted", "offer", ...), with the message as `detail`.
 * Connection life-cycle events: "open", "reconnecting" ({attempt, delayMs}),
 * "closed" ({code, reason, final}).
 *
 * A page with a live call sets `canResume` (a function): each (re)join then
 * asks to take the client's place back (`join` with `resume`), and the server
 * answers `admitted` with `resumed` so that the peer connection goes on by ICE
 * restart instead of the waiting room and a new call (issue #11).
 */

/**
 * @typedef {"officer" | "client"} Role
 * @typedef {{type: string, [key: string]: any}} Message
 * @typedef {{urls: string | string[], username?: string, credential?: string}} IceServer
 * @typedef {{type: "welcome", role: Role, session_id: number, ice_servers: IceServer[], heartbeat_seconds: number, peer_present: boolean}} Welcome
 * @typedef {{type: "error", code: string, message: string}} ProtocolError
 */

/** Server error codes after which reconnecting cannot help. */
export const FINAL_ERROR_CODES = new Set([
  "unauthorized", "forbidden", "link-expired", "link-revoked", "session-closed", "replaced", "room-full",
]);

/** How long `checkAlive` waits for any answer before it calls the socket dead. */
export const PROBE_TIMEOUT_MS = 3000;

/** Messages after which the server closes the socket on purpose. */
const FINAL_MESSAGES = new Set(["denied", "session-ended"]);

const MAX_MESSAGE_BYTES = 64 * 1024;

/** A pre-opened socket older than this is not joined on: the server's join timeout (10 s) is near. */
const WARM_MAX_MS = 8000;

/**
 * The WebSocket URL for a session, same origin as the page (ws: or wss:).
 * @param {{protocol: string, host: string}} loc  usually `window.location`
 * @param {number} sessionId
 */
export function signalingUrl(loc, sessionId) {
  const scheme = loc.protocol === "https:" ? "wss:" : "ws:";
  return `${scheme}//${loc.host}/ws/sessions/${sessionId}`;
}

/**
 * Backoff for reconnect attempt n (1-based): 0.5 s doubling to a 10 s ceiling,
 * with +-25 % jitter so that many phones dropped by one cell tower do not
 * come back in lockstep.
 * @param {number} attempt
 * @param {() => number} [random]
 */
export function backoffDelay(attempt, random = Math.random) {
  const base = Math.min(500 * 2 ** (attempt - 1), 10000);
  return Math.round(base * (0.75 + random() * 0.5));
}

export class SignalingClient extends EventTarget {
  /**
   * @param {{url: string, role: Role, WebSocketImpl?: typeof WebSocket, heartbeatSeconds?: number}} options
   */
  constructor({ url, role, WebSocketImpl, heartbeatSeconds = 15 }) {
    super();
    this.url = url;
    this.role = role;
    /** @type {typeof WebSocket} */
    this.WebSocketImpl = WebSocketImpl || WebSocket;
    this.heartbeatSeconds = heartbeatSeconds;
    /** @type {WebSocket | null} */
    this.ws = null;
    /** @type {Welcome | null} */
    this.welcome = null;
    this.attempt = 0;
    /** Set once we must not reconnect (hang-up, denial, session end, fatal error). */
    this.stopped = false;
    /** @type {ReturnType<typeof setTimeout> | null} */
    this.retryTimer = null;
    /** @type {ReturnType<typeof setInterval> | null} */
    this.pingTimer = null;
    this.lastPong = 0;
    /** When the last message of any kind arrived (checkAlive reads it). */
    this.lastMessageAt = 0;
    /** @type {ReturnType<typeof setTimeout> | null} */
    this.probeTimer = null;
    /** A socket given up for dead, closed once its successor is welcomed. @type {WebSocket | null} */
    this.abandoned = null;
    /** Set by a page with a live call: join with `resume` (take our place back). */
    this.canResume = () => false;
    /** More fields for `join` (the client's starting step, docs/signaling.md). @type {() => Record<string, any>} */
    this.joinExtra = () => ({});
    /** A socket opened ahead of `connect()` (preconnect), not joined yet. @type {WebSocket | null} */
    this.warm = null;
    this.warmSince = 0;
  }

  /** True while the socket is open and the server has welcomed us. */
  get ready() {
    return !!this.ws && this.ws.readyState === 1 && !!this.welcome;
  }

  /**
   * Open the socket ahead of `connect()`, without joining: the client's page does
   * it while the client checks camera and microphone, so that `join` goes out the
   * moment they enter, without a TCP and WebSocket handshake on a slow link
   * (issue 25). The server closes a socket that has not joined within its join
   * timeout (10 s): `connect()` then opens a fresh one.
   */
  preconnect() {
    if (this.ws || this.warm || this.stopped) return;
    const ws = new this.WebSocketImpl(this.url);
    this.warm = ws;
    this.warmSince = Date.now();
    ws.onclose = () => { if (this.warm === ws) this.warm = null; };
    ws.onerror = () => {};
  }

  /** The pre-opened socket if it is still worth joining on (open or opening, well within the join timeout). */
  _takeWarm() {
    const ws = this.warm;
    this.warm = null;
    if (!ws) return null;
    if (ws.readyState <= 1 && Date.now() - this.warmSince < WARM_MAX_MS) return ws;
    try { ws.close(1000, "stale"); } catch { /* already closing */ }
    return null;
  }

  /** Open the connection (again). Safe to call repeatedly. */
  connect() {
    this.stopped = false;
    if (this.retryTimer) {
      clearTimeout(this.retryTimer);
      this.retryTimer = null;
    }
    if (this.ws && (this.ws.readyState === 0 || this.ws.readyState === 1)) return;
    const ws = this._takeWarm() || new this.WebSocketImpl(this.url);
    this.ws = ws;
    this.welcome = null;
    const join = () => {
      this._sendRaw({ type: "join", role: this.role, ...(this.canResume() ? { resume: true } : {}), ...this.joinExtra() });
      this._emit("open", {});
    };
    ws.onopen = () => {
      if (ws !== this.ws) return;
      join();
    };
    ws.onmessage = (event) => {
      if (ws !== this.ws) return;
      this._onMessage(event.data);
    };
    ws.onclose = (event) => {
      if (ws !== this.ws) return;
      this._onClose(event.code, event.reason);
    };
    // "error" is always followed by "close"; the close handler decides.
    ws.onerror = () => {};
    if (ws.readyState === 1) join();
  }

  /**
   * Drop the current socket and connect at once: used after a network change
   * (`online` event), when the old socket may be silently dead. The old socket
   * is not closed until the new one is welcomed: should it still be alive, its
   * close must not reach the server before our `join` with `resume`, or the
   * server would log us as gone and the call would start over.
   */
  reconnectNow() {
    if (this.stopped) return;
    const old = this.ws;
    this.ws = null;
    this._stopHeartbeat();
    if (old) {
      this._closeAbandoned();
      this.abandoned = old;
    }
    this.attempt = 0;
    this.connect();
  }

  /**
   * Is the socket still alive? Sends a `ping` and, when nothing at all comes
   * back within `timeoutMs`, reconnects at once. For a hint that the network
   * changed (ICE lost its path, `navigator.connection` changed): a socket whose
   * address went away dies silently, and the heartbeat would take 2.5 periods.
   */
  checkAlive(timeoutMs = PROBE_TIMEOUT_MS) {
    if (this.stopped || this.probeTimer || !this.ready) return;
    const sent = Date.now();
    const ws = this.ws;
    this.send({ type: "ping" });
    this.probeTimer = setTimeout(() => {
      this.probeTimer = null;
      // (A socket that closed meanwhile is being reconnected already.)
      if (this.lastMessageAt < sent && this.ws === ws && !this.stopped) this.reconnectNow();
    }, timeoutMs);
  }

  _closeAbandoned() {
    const ws = this.abandoned;
    this.abandoned = null;
    if (ws) {
      try { ws.close(4000, "network change"); } catch { /* already closing */ }
    }
  }

  /**
   * Send a protocol message. Returns false if it could not be sent (not connected
   * or too large); callers that must not lose a message resend after "welcome".
   * @param {Message} message
   */
  send(message) {
    if (!this.ws || this.ws.readyState !== 1) return false;
    return this._sendRaw(message);
  }

  /** Leave for good: no reconnect. Sends `hangup` first when asked. */
  close(sendHangup = true) {
    this.stopped = true;
    if (sendHangup) this.send({ type: "hangup" });
    this._teardown(1000, "bye");
  }

  /** @param {Message} message */
  _sendRaw(message) {
    const text = JSON.stringify(message);
    if (text.length > MAX_MESSAGE_BYTES) return false;
    try {
      /** @type {WebSocket} */ (this.ws).send(text);
      return true;
    } catch {
      return false;
    }
  }

  /** @param {unknown} data */
  _onMessage(data) {
    if (typeof data !== "string") return;
    /** @type {Message} */
    let message;
    try {
      message = JSON.parse(data);
    } catch {
      return; // the server never sends bad JSON; ignore rather than crash the page
    }
    if (!message || typeof message.type !== "string") return;
    this.lastMessageAt = Date.now();
    switch (message.type) {
      case "welcome":
        this.welcome = /** @type {Welcome} */ (message);
        this.attempt = 0;
        this._closeAbandoned();
        this._startHeartbeat(message.heartbeat_seconds || this.heartbeatSeconds);
        break;
      case "pong":
        this.lastPong = Date.now();
        break;
      case "error":
        if (FINAL_ERROR_CODES.has(message.code)) this.stopped = true;
        break;
      default:
        if (FINAL_MESSAGES.has(message.type)) this.stopped = true;
    }
    this._emit(message.type, message);
  }

  /** @param {number} code @param {string} reason */
  _onClose(code, reason) {
    this._stopHeartbeat();
    this.ws = null;
    this.welcome = null;
    const final = this.stopped;
    this._emit("closed", { code, reason, final });
    if (final) return;
    this.attempt += 1;
    const delayMs = backoffDelay(this.attempt);
    this._emit("reconnecting", { attempt: this.attempt, delayMs });
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      if (!this.stopped) this.connect();
    }, delayMs);
  }

  /** @param {number} seconds */
  _startHeartbeat(seconds) {
    this._stopHeartbeat();
    this.lastPong = Date.now();
    const periodMs = Math.max(1, seconds) * 1000;
    this.pingTimer = setInterval(() => {
      // Two missed pongs: the socket is dead even if the browser has not noticed
      // (typical when a phone moves from Wi-Fi to mobile data).
      if (Date.now() - this.lastPong > 2.5 * periodMs) {
        this.reconnectNow();
        return;
      }
      this.send({ type: "ping" });
    }, periodMs);
  }

  _stopHeartbeat() {
    if (this.pingTimer) clearInterval(this.pingTimer);
    this.pingTimer = null;
  }

  /** @param {number} code @param {string} reason */
  _teardown(code, reason) {
    this._stopHeartbeat();
    const warm = this.warm;
    this.warm = null;
    if (warm) {
      try { warm.close(1000, reason); } catch { /* ignore */ }
    }
    this._closeAbandoned();
    if (this.probeTimer) clearTimeout(this.probeTimer);
    this.probeTimer = null;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = null;
    const ws = this.ws;
    if (ws) {
      try { ws.close(code, reason); } catch { /* ignore */ }
    }
  }

  /** @param {string} type @param {any} detail */
  _emit(type, detail) {
    this.dispatchEvent(new CustomEvent(type, { detail }));
  }
}
