// @ts-check
/**
 * The third person's picture (issue 22): one small tile per pair of the guest
 * mesh (guestmesh.js), labelled with who it is. Page code: textContent only.
 * Loaded with guestmesh.js, only when a guest is involved.
 */

export class Tiles {
  /** @param {HTMLElement} root @param {(key: string, params?: Record<string, string>) => string} T */
  constructor(root, T) {
    this.root = root;
    this.T = T;
    /** @type {Map<string, HTMLElement>} */
    this.tiles = new Map();
  }

  /** The tile's caption: a guest by its capacity and name; the officer or the client by their part. @param {any} label */
  caption(label) {
    if (label.role === "guest") return this.T("guest.tile", { role: this.T(`guest.role.${label.guest_role}`), name: label.name || "" });
    return this.T(label.role === "officer" ? "guest.tile_officer" : "guest.tile_client");
  }

  /** @param {string} address @param {MediaStream} stream @param {any} label */
  show(address, stream, label) {
    let tile = this.tiles.get(address);
    if (!tile) {
      tile = document.createElement("figure");
      tile.className = "tile";
      tile.dataset.address = address;
      const video = document.createElement("video");
      video.autoplay = true;
      video.playsInline = true;
      const caption = document.createElement("figcaption");
      tile.append(video, caption);
      this.root.append(tile);
      this.tiles.set(address, tile);
    }
    /** @type {HTMLElement} */ (tile.querySelector("figcaption")).textContent = this.caption(label);
    const video = /** @type {HTMLVideoElement} */ (tile.querySelector("video"));
    if (video.srcObject !== stream) video.srcObject = stream;
    video.play().catch(() => { /* autoplay refused: the next tap starts it */ });
  }

  /** @param {string} address */
  remove(address) {
    this.tiles.get(address)?.remove();
    this.tiles.delete(address);
  }
}
