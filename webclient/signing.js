// @ts-check
/**
 * Signing in the call (issue 22; docs/webclient.md "Signing in the call"): the
 * PK pushed a document (`document` on the signaling socket); this panel shows
 * its text over the call, takes the client's typed name and a signature drawn
 * with a finger on a canvas, and sends them with the join pass
 * (`POST /api/join/documents/{id}/sign`). The call goes on underneath.
 *
 * Loaded by join.js only when a document arrives, never in the first load: the
 * join page stays small on a weak link. Its texts and its stylesheet come with
 * the document (`strings`, `css` of `GET /api/join/documents/{id}`), for the
 * same reason. Text is set with textContent, never as HTML.
 *
 * The signature travels as strokes of integer points in CSS pixels of the
 * canvas (`{width, height, strokes: [[[x, y], ...], ...]}`): a tenth of the
 * bytes of a PNG, drawn back as SVG on the printed document.
 */

/** Points closer than this (CSS px) to the last one are skipped: a finger resting adds nothing. */
const MIN_STEP = 2;
/** The server's bounds (server/domain/documents/signing.py), kept here so a long scribble is stopped before it is refused. */
const MAX_POINTS = 4000;
const MAX_STROKES = 100;
const CANVAS_HEIGHT = 180;

/** @type {SigningPanel | null} */
let current = null;

/**
 * Show the pushed document (or its new revision) to the client.
 * @param {{id: number, revision: number}} pushed the `document` message
 * @param {{send: (m: object) => void}} sig the page's signaling client
 */
export async function showDocument(pushed, sig) {
  const response = await fetch(`/api/join/documents/${pushed.id}`, { credentials: "same-origin" });
  if (!response.ok) return;
  const doc = await response.json();
  current?.close();
  current = new SigningPanel(doc, sig);
}

class SigningPanel {
  /** @param {any} doc @param {{send: (m: object) => void}} sig */
  constructor(doc, sig) {
    this.doc = doc;
    /** @type {Record<string, string>} */
    const strings = doc.strings || {};
    /** @param {string} key */
    this.T = (key) => strings[key] ?? key;
    if (doc.css && !document.querySelector(`link[href="${doc.css}"]`)) {
      const link = document.createElement("link");
      link.rel = "stylesheet";
      link.href = doc.css;
      document.head.append(link);
    }
    /** @type {number[][][]} */
    this.strokes = [];
    this.points = 0;
    this.build();
    if (doc.status === "pending") sig.send({ type: "document-seen", id: doc.id });
  }

  /** @param {string} tag @param {string} [className] @param {string} [text] */
  el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  build() {
    const { doc, T } = this;
    const root = /** @type {HTMLElement} */ (this.el("section", "signing"));
    root.id = "signing";
    root.setAttribute("role", "dialog");
    root.setAttribute("aria-modal", "true");
    root.dataset.document = String(doc.id);
    root.dataset.revision = String(doc.revision);
    const title = this.el("h2", "", doc.title);
    title.id = "signing-title";
    root.setAttribute("aria-labelledby", title.id);
    root.append(title, this.el("p", "muted", T("signing.read")));
    const body = this.el("div", "signing-body");
    body.id = "signing-body";
    for (const line of String(doc.body).split("\n")) body.append(this.el("p", "", line));
    root.append(body);

    const form = /** @type {HTMLFormElement} */ (this.el("form", "signing-form"));
    form.id = "signing-form";
    form.noValidate = true;
    const label = this.el("label", "", T("signing.name"));
    const name = /** @type {HTMLInputElement} */ (this.el("input"));
    name.id = "signing-name";
    name.type = "text";
    name.autocomplete = "name";
    name.maxLength = 200;
    label.append(name);
    const hint = this.el("p", "small", T("signing.draw"));
    const canvas = /** @type {HTMLCanvasElement} */ (this.el("canvas", "signing-pad"));
    canvas.id = "signing-pad";
    const clear = /** @type {HTMLButtonElement} */ (this.el("button", "secondary", T("signing.clear")));
    clear.type = "button";
    clear.id = "signing-clear";
    const submit = /** @type {HTMLButtonElement} */ (this.el("button", "primary wide", T("signing.submit")));
    submit.type = "submit";
    submit.id = "signing-submit";
    const status = this.el("p", "signing-status", "");
    status.id = "signing-status";
    status.setAttribute("role", "status");
    form.append(label, hint, canvas, clear, this.el("p", "muted small", T("signing.recorded")), submit, status);
    root.append(form);
    document.body.append(root);
    Object.assign(this, { root, form, name, canvas, status, submit });
    this.setUpPad(canvas);
    clear.addEventListener("click", () => this.clearPad());
    form.addEventListener("submit", (e) => {
      e.preventDefault();
      this.send();
    });
    if (doc.status !== "pending") this.finished();
    root.scrollTop = 0;
  }

  /** @param {HTMLCanvasElement} canvas */
  setUpPad(canvas) {
    // The canvas is as wide as the page lets it be (358 px on a 390-px phone);
    // its backing store follows the screen's density so the ink is sharp.
    const width = Math.max(50, Math.round(canvas.getBoundingClientRect().width || 300));
    const ratio = window.devicePixelRatio || 1;
    canvas.width = Math.round(width * ratio);
    canvas.height = Math.round(CANVAS_HEIGHT * ratio);
    this.size = { width, height: CANVAS_HEIGHT };
    const ctx = /** @type {CanvasRenderingContext2D} */ (canvas.getContext("2d"));
    ctx.scale(ratio, ratio);
    ctx.lineWidth = 2.5;
    ctx.lineCap = "round";
    ctx.lineJoin = "round";
    ctx.strokeStyle = "#111";
    this.ctx = ctx;
    /** @type {number[][] | null} */
    let stroke = null;
    /** @param {PointerEvent} e */
    const at = (e) => {
      const box = canvas.getBoundingClientRect();
      const x = Math.round(Math.min(Math.max(0, (e.clientX - box.left) * (width / box.width)), width));
      const y = Math.round(Math.min(Math.max(0, (e.clientY - box.top) * (CANVAS_HEIGHT / box.height)), CANVAS_HEIGHT));
      return [x, y];
    };
    canvas.addEventListener("pointerdown", (e) => {
      if (this.strokes.length >= MAX_STROKES || this.points >= MAX_POINTS) return;
      e.preventDefault();
      canvas.setPointerCapture(e.pointerId);
      stroke = [at(e)];
      this.strokes.push(stroke);
      this.points += 1;
      ctx.beginPath();
      ctx.moveTo(stroke[0][0], stroke[0][1]);
      ctx.lineTo(stroke[0][0] + 0.1, stroke[0][1]);
      ctx.stroke();
    });
    canvas.addEventListener("pointermove", (e) => {
      if (!stroke || this.points >= MAX_POINTS) return;
      const point = at(e);
      const last = stroke[stroke.length - 1];
      if (Math.abs(point[0] - last[0]) + Math.abs(point[1] - last[1]) < MIN_STEP) return;
      stroke.push(point);
      this.points += 1;
      ctx.beginPath();
      ctx.moveTo(last[0], last[1]);
      ctx.lineTo(point[0], point[1]);
      ctx.stroke();
    });
    const end = () => { stroke = null; };
    canvas.addEventListener("pointerup", end);
    canvas.addEventListener("pointercancel", end);
  }

  clearPad() {
    this.strokes = [];
    this.points = 0;
    const { width, height } = /** @type {{width: number, height: number}} */ (this.size);
    this.ctx?.clearRect(0, 0, width, height);
  }

  /** @param {string} text */
  say(text) {
    /** @type {HTMLElement} */ (this.status).textContent = text;
  }

  async send() {
    const { T } = this;
    const name = /** @type {HTMLInputElement} */ (this.name).value.trim();
    if (!name) return this.say(T("signing.need_name"));
    if (this.points < 2) return this.say(T("signing.need_drawing"));
    const submit = /** @type {HTMLButtonElement} */ (this.submit);
    submit.disabled = true;
    this.say(T("signing.sending"));
    try {
      const response = await fetch(`/api/join/documents/${this.doc.id}/sign`, {
        method: "POST",
        credentials: "same-origin",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ name, revision: this.doc.revision, signature: { ...this.size, strokes: this.strokes } }),
      });
      const answer = await response.json().catch(() => ({}));
      if (response.ok) {
        this.finished();
        return;
      }
      // The server's sentence (Indonesian by default) says what to do: read again, draw again.
      this.say(answer.message || T("signing.failed"));
    } catch {
      this.say(T("signing.failed"));
    }
    submit.disabled = false;
  }

  finished() {
    const root = /** @type {HTMLElement} */ (this.root);
    root.dataset.signed = "true";
    /** @type {HTMLElement} */ (this.form).hidden = true;
    const done = this.el("p", "signing-done", this.T("signing.done"));
    done.id = "signing-done";
    const close = /** @type {HTMLButtonElement} */ (this.el("button", "primary wide", this.T("signing.close")));
    close.type = "button";
    close.id = "signing-close";
    close.addEventListener("click", () => this.close());
    root.append(done, close);
    done.scrollIntoView({ block: "center" });
  }

  close() {
    this.root?.remove();
    if (current === this) current = null;
  }
}
