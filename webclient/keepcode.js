// @ts-check
/**
 * Keep the call code on the phone (issue 25): register the service worker
 * (/sw.js, made by server/web/callcode.py), which stores this version's call
 * code (webclient's scripts only, nothing personal) so that the next call loads
 * almost nothing but its signaling. Loaded by the client's own page (/klien) and
 * by the join page once the first words are through; <html data-code-worker>
 * says how far it got.
 */
const root = document.documentElement;
if ("serviceWorker" in navigator && !root.dataset.codeWorker) {
  root.dataset.codeWorker = "installing";
  navigator.serviceWorker.register("/sw.js", { scope: "/" })
    .then(() => navigator.serviceWorker.ready)
    .then(() => { root.dataset.codeWorker = "ready"; })
    .catch(() => { root.dataset.codeWorker = "failed"; });
}
