// @ts-check
/**
 * The officer console's documents card (issue 22; docs/webclient.md "Signing
 * in the call"): push a kontrak bimbingan or a surat pernyataan to the client's
 * screen, see that the client opened and signed it (`document-seen`,
 * `document-signed` on the signaling socket), countersign, and print.
 * Page code; text is set with textContent.
 */

export class DocumentsPanel {
  /**
   * @param {{root: HTMLElement, T: (key: string, params?: Record<string, string | number>) => string,
   *          api: (method: string, url: string, body?: any) => Promise<any>, base: string}} options
   *   `base`: the session's API address (`/api/sessions/{id}`).
   */
  constructor({ root, T, api, base }) {
    this.root = root;
    this.T = T;
    this.api = api;
    this.base = base;
    this.list = /** @type {HTMLOListElement} */ (root.querySelector("#documents-list"));
    this.status = /** @type {HTMLElement} */ (root.querySelector("#documents-status"));
    for (const button of root.querySelectorAll("[data-document-kind]")) {
      button.addEventListener("click", () => this.push(/** @type {HTMLElement} */ (button).dataset.documentKind || ""));
    }
    this.refresh();
  }

  /** @param {import("./signaling.js").SignalingClient} sig */
  attach(sig) {
    sig.addEventListener("document-seen", (e) => {
      const id = /** @type {CustomEvent} */ (e).detail.id;
      // The client may open a document before this console has the answer to its
      // push (a loaded phone is quick, a loaded server slow): push() looks here too.
      this.seen.add(id);
      const doc = this.byId(id);
      if (doc) this.status.textContent = this.T("console.document_seen", { title: doc.title });
    });
    sig.addEventListener("document-signed", () => {
      this.status.textContent = this.T("console.document_signed");
      this.refresh();
    });
  }

  /** @type {any[]} */
  documents = [];

  /** Ids of the documents the client said it opened. @type {Set<number>} */
  seen = new Set();

  /** @param {number} id */
  byId(id) {
    return this.documents.find((d) => d.id === id);
  }

  async refresh() {
    try {
      this.documents = (await this.api("GET", `${this.base}/documents`)).documents;
    } catch {
      return;
    }
    this.render();
  }

  /** @param {string} kind */
  async push(kind) {
    try {
      const doc = await this.api("POST", `${this.base}/documents`, { kind });
      if (!this.byId(doc.id)) this.documents.push(doc);
      const said = this.seen.has(doc.id) ? "console.document_seen" : doc.delivered ? "console.document_pushed" : "console.document_not_delivered";
      this.status.textContent = this.T(said, { title: doc.title, version: doc.version });
    } catch (err) {
      this.status.textContent = this.T("console.document_failed", { message: /** @type {Error} */ (err).message });
    }
    this.refresh();
  }

  /** @param {number} id */
  async countersign(id) {
    try {
      await this.api("POST", `${this.base}/documents/${id}/countersign`);
      this.status.textContent = this.T("console.document_countersigned");
    } catch (err) {
      this.status.textContent = /** @type {Error} */ (err).message;
    }
    this.refresh();
  }

  render() {
    this.list.replaceChildren();
    for (const doc of this.documents) {
      const li = document.createElement("li");
      li.dataset.document = String(doc.id);
      li.dataset.status = doc.status;
      const label = document.createElement("span");
      label.textContent = `${doc.title} · v${doc.version} · `;
      const state = document.createElement("strong");
      state.textContent = this.T(`console.document_state_${doc.status}`);
      li.append(label, state, " ");
      if (doc.status === "signed") {
        const button = document.createElement("button");
        button.type = "button";
        button.className = "primary";
        button.dataset.countersign = String(doc.id);
        button.textContent = this.T("console.document_countersign");
        button.addEventListener("click", () => this.countersign(doc.id));
        li.append(button, " ");
      }
      const print = document.createElement("a");
      print.href = doc.print_url;
      print.target = "_blank";
      print.rel = "noopener";
      print.textContent = this.T("console.document_print");
      li.append(print);
      this.list.append(li);
    }
  }
}
