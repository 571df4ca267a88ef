// @ts-check
/**
 * The third person's picture (issue 22): one small tile per pair of the guest
 * mesh (guestmesh.js), labelled with who it is, at the stage's top left below
 * the status badges, as small as our own picture. Page code: textContent only.
 * Loaded with guestmesh.js, only when a guest is involved: the tiles and their
 * styles (set through the CSSOM, which the page's CSP allows) add nothing to
 * the join page's first response.
 */

/** @param {HTMLElement} el @param {Record<string, string>} style */
function styled(el, style) {
  Object.assign(el.style, style);
  return el;
}

export class Tiles {
  /** @param {HTMLElement} stage the call's `.stage` @param {(key: string, params?: Record<string, string>) => string} T */
  constructor(stage, T) {
    this.T = T;
    this.root = /** @type {HTMLElement} */ (stage.querySelector("#tiles")) || styled(document.createElement("div"), {
      position: "absolute", left: ".5rem", top: "4.75rem", width: "28%", maxWidth: "9rem", display: "flex", flexDirection: "column", gap: ".4rem",
    });
    this.root.id = "tiles";
    stage.append(this.root);
    /** @type {Map<string, HTMLElement>} */
    this.tiles = new Map();
  }

  /**
   * The caption: a guest by its capacity and name, the PK or the client by their part. A page
   * without the captions' strings (the client's: its first load stays small) shows the name.
   * @param {any} label
   */
  caption(label) {
    if (label.role === "guest") {
      const role = this.T(`guest.role.${label.guest_role}`);
      return role.startsWith("guest.") ? label.name || "" : this.T("guest.tile", { role, name: label.name || "" });
    }
    return this.T(label.role === "officer" ? "guest.tile_officer" : "guest.tile_client");
  }

  /** @param {string} address @param {MediaStream} stream @param {any} label */
  show(address, stream, label) {
    let tile = this.tiles.get(address);
    if (!tile) {
      tile = styled(document.createElement("figure"), { margin: "0" });
      tile.className = "tile";
      tile.dataset.address = address;
      const video = styled(document.createElement("video"), {
        width: "100%", aspectRatio: "3 / 4", objectFit: "cover", borderRadius: ".4rem", background: "#1f2937", display: "block",
      });
      video.autoplay = true;
      video.playsInline = true;
      const caption = styled(document.createElement("figcaption"), { color: "#fff", fontSize: ".75rem", textShadow: "0 0 2px #000" });
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
