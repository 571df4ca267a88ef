// @ts-check
/**
 * Keep the call code on the phone (issue 25): register the service worker
 * (/sw.js, made by server/web/callcode.py), which stores this version's call
 * code (webclient's scripts only, nothing personal) so that the next call loads
 * almost nothing but its signaling. Loaded by the client's own page (/klien) and
 * by the join page once the first words are through; <html data-code-worker>
 * says how far it got. Once stored, the cookie `bimbing_code` names the version
 * kept, so that the join page links its styles from that cache instead of
 * carrying them inline.
 */
const root = document.documentElement;
if ("serviceWorker" in navigator && !root.dataset.codeWorker) {
  root.dataset.codeWorker = "installing";
  navigator.serviceWorker.register("/sw.js", { scope: "/" })
    .then(() => navigator.serviceWorker.ready)
    // activated: the older versions' caches are gone (the worker drops them then)
    .then((reg) => new Promise((done) => {
      const worker = reg.active;
      if (!worker || worker.state === "activated") return done(null);
      worker.addEventListener("statechange", () => { if (worker.state !== "activating") done(null); });
    }))
    .then(() => caches.keys())
    .then((keys) => {
      // Tell the join page which version this phone keeps (a version, nothing personal):
      // it then links its styles from here instead of carrying them (server/web/callcode.py).
      const kept = keys.filter((k) => k.startsWith("bimbing-code-")).map((k) => k.slice("bimbing-code-".length));
      if (kept.length === 1) document.cookie = `bimbing_code=${kept[0]}; path=/; max-age=2592000; SameSite=Lax`;
      root.dataset.codeWorker = "ready";
    })
    .catch(() => { root.dataset.codeWorker = "failed"; });
}
