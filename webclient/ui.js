// @ts-check
/** Small DOM helpers shared by the client page and the officer console. */

/** @param {string} id */
export function $(id) {
  return document.getElementById(id);
}

/** @param {Element | null} el @param {boolean} visible */
export function show(el, visible) {
  if (el) /** @type {HTMLElement} */ (el).hidden = !visible;
}

/**
 * Show exactly one `section[data-step]`; the body's `data-view` names it for CSS
 * (a different attribute, so that the body is never one of the steps).
 * @param {string} name
 */
export function showStep(name) {
  for (const el of document.querySelectorAll("section[data-step]")) {
    /** @type {HTMLElement} */ (el).hidden = /** @type {HTMLElement} */ (el).dataset.step !== name;
  }
  document.body.dataset.view = name;
}

/**
 * A translator over the strings the server put in the page's JSON block.
 * `{name}` placeholders are filled from params, as on the server.
 * @param {Record<string, string>} strings
 */
export function tr(strings) {
  /** @param {string} key @param {Record<string, string | number>} [params] */
  return (key, params) => {
    const text = strings[key] ?? key;
    return params ? text.replace(/\{(\w+)\}/g, (m, k) => (k in params ? String(params[k]) : m)) : text;
  };
}

/** @param {HTMLVideoElement | null} video @param {MediaStream | null} stream */
export function attachStream(video, stream) {
  if (!video) return;
  if (video.srcObject !== stream) video.srcObject = stream;
  if (stream) video.play().catch(() => { /* autoplay refused: the next user tap starts it */ });
}

/** @param {Element | null} button @param {boolean} pressed @param {string} label */
export function setPressed(button, pressed, label) {
  if (!button) return;
  button.setAttribute("aria-pressed", String(pressed));
  button.textContent = label;
}
