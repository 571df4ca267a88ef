// @ts-check
/**
 * The text line beside the call (issue 22; docs/signaling.md "chat"), for the
 * client's page and the officer's console alike. Page code: it draws into a
 * `#chat` card (a list, a form, a status line) and speaks through the
 * SignalingClient it is given. Lines are set with textContent, never as HTML:
 * what the other side typed is shown as it came.
 *
 * Each line goes out with a `ref` of its own; the server's `chat-ack` marks it
 * kept. A line not yet acknowledged when the socket drops is sent again after
 * the next `welcome`. Lines are placed by the server's `id`, the order the
 * server took them in.
 */

/**
 * @typedef {{id?: number, from: string, text: string, at?: string | null, staff_name?: string | null, delivered?: boolean}} Line
 */

const MAX_CHARS = 1000;
/** Refusals that belong to the line just sent (the server answers lines in order). */
const LINE_ERRORS = new Set(["chat-rate-limited", "too-large"]);

export class ChatPanel {
  /**
   * @param {{root: HTMLElement, T: (key: string, params?: Record<string, string | number>) => string,
   *          me: "officer" | "client" | "guest", device?: () => (string | null)}} options
   *   `device`: for the officer, the client device a line is for (the one waiting or in the call).
   */
  constructor({ root, T, me, device }) {
    this.root = root;
    /** @type {import("./signaling.js").SignalingClient | null} */
    this.sig = null;
    this.T = T;
    this.me = me;
    this.device = device || (() => null);
    this.list = /** @type {HTMLOListElement} */ (root.querySelector(".chat-log"));
    this.form = /** @type {HTMLFormElement} */ (root.querySelector("form"));
    this.input = /** @type {HTMLInputElement} */ (root.querySelector("input, textarea"));
    this.status = /** @type {HTMLElement} */ (root.querySelector(".chat-status"));
    this.counter = 0;
    /** Lines sent and not yet acknowledged, oldest first. @type {{ref: string, message: object, li: HTMLElement}[]} */
    this.pending = [];
    /** @type {Set<number>} */
    this.shown = new Set();
    this.input.maxLength = MAX_CHARS;
    // The panel's styles come with it (chat.css), not in the join page's first response.
    const css = root.dataset.css;
    if (css && !document.querySelector(`link[href="${css}"]`)) {
      const link = document.createElement("link");
      link.rel = "stylesheet";
      link.href = css;
      document.head.append(link);
    }
    this.form.addEventListener("submit", (event) => {
      event.preventDefault();
      this.send(this.input.value);
    });
    root.hidden = false;
  }

  /**
   * Speak through this signaling client (again after the page made a new one:
   * the client's hang-up and rejoin). Lines still unacknowledged go on it.
   * @param {import("./signaling.js").SignalingClient} sig
   */
  attach(sig) {
    if (sig === this.sig) return;
    this.sig = sig;
    sig.addEventListener("chat", (e) => this.add(/** @type {CustomEvent} */ (e).detail));
    sig.addEventListener("chat-ack", (e) => this.acked(/** @type {CustomEvent} */ (e).detail));
    sig.addEventListener("welcome", () => this.resend());
    sig.addEventListener("error", (e) => this.refused(/** @type {CustomEvent} */ (e).detail.code));
    if (sig.ready) this.resend();
  }

  /** @param {string} raw */
  send(raw) {
    const text = raw.trim();
    if (!text) return;
    if (text.length > MAX_CHARS) {
      this.say(this.T("chat.too_long"));
      return;
    }
    const ref = `${this.me[0]}${Date.now().toString(36)}${++this.counter}`;
    const device = this.me === "officer" ? this.device() : null;
    const message = { type: "chat", text, ref, ...(device ? { device } : {}) };
    const li = this.draw({ from: this.me, text });
    li.dataset.state = "sending";
    this.pending.push({ ref, message, li });
    this.input.value = "";
    this.say("");
    // Not connected now: it goes after the next welcome (resend).
    if (this.sig?.ready) this.sig.send(message);
  }

  resend() {
    for (const { message } of this.pending) this.sig?.send(message);
  }

  /** @param {{id: number, ref: string | null, at: string, delivered: boolean}} ack */
  acked(ack) {
    const index = this.pending.findIndex((p) => p.ref === ack.ref);
    if (index < 0) return;
    const [{ li }] = this.pending.splice(index, 1);
    li.dataset.state = ack.delivered ? "delivered" : "kept";
    li.title = ack.delivered ? this.T("chat.delivered") : this.T("chat.kept");
    this.setTime(li, ack.at);
    this.place(li, ack.id);
  }

  /** @param {string} code */
  refused(code) {
    if (!LINE_ERRORS.has(code) || !this.pending.length) return;
    const sent = this.pending.shift();
    if (!sent) return;
    sent.li.dataset.state = "refused";
    this.say(this.T(code === "too-large" ? "chat.too_long" : "chat.slow_down"));
  }

  /**
   * A line from the other side, or one of the record (the console's history).
   * @param {Line} line
   */
  add(line) {
    if (line.id !== undefined && this.shown.has(line.id)) return;
    const li = this.draw(line);
    if (line.at) this.setTime(li, line.at);
    if (line.from === this.me) li.dataset.state = line.delivered === false ? "kept" : "delivered";
    if (line.id !== undefined) this.place(li, line.id);
    if (line.from !== this.me) this.root.dispatchEvent(new CustomEvent("chat-line", { detail: line }));
  }

  /** @param {Line} line */
  draw(line) {
    const li = document.createElement("li");
    li.className = line.from === this.me ? "mine" : "theirs";
    li.dataset.from = line.from;
    const who = document.createElement("span");
    who.className = "chat-who";
    // A guest's line (issue 22) is shown under the name its link was issued to.
    who.textContent = line.from === this.me ? this.T("chat.me")
      : line.from === "guest" ? /** @type {any} */ (line).name || "" : this.T(line.from === "officer" ? "chat.officer" : "chat.client");
    const text = document.createElement("span");
    text.className = "chat-text";
    text.textContent = line.text;
    li.append(who, text);
    this.list.append(li);
    return li;
  }

  /** @param {HTMLElement} li @param {string} at */
  setTime(li, at) {
    const time = document.createElement("time");
    time.dateTime = at;
    time.textContent = at.slice(11, 16);
    li.querySelector("time")?.remove();
    li.append(time);
  }

  /** Keep the list in the server's order: before the first line with a higher id. @param {HTMLElement} li @param {number} id */
  place(li, id) {
    li.dataset.id = String(id);
    this.shown.add(id);
    const after = [...this.list.children].find((el) => el !== li && Number(/** @type {HTMLElement} */ (el).dataset.id) > id);
    if (after) this.list.insertBefore(li, after);
    li.scrollIntoView?.({ block: "nearest" });
  }

  /** @param {string} text */
  say(text) {
    this.status.textContent = text;
    this.status.hidden = !text;
  }
}
