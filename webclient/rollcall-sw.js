// The roll call's service worker: lets one event's roll-call page open again
// with no signal (issue 23; docs/webclient.md, "Offline reload").
//
// Served as /mobile-events/rollcall-sw.js (server/web/pages/mobile_events.py) and
// registered by rollcall.js with the scope of one event's page,
// /mobile-events/{id}/rollcall: it sees that page's navigations and the requests
// the page makes, nothing else of the site.
//
// It never stores anything itself: the page fills the event's cache
// (`bimbing-rollcall-{id}`: the page, its scripts and styles, the roster of the
// invited, and a note of when the event ends). The worker answers from that
// cache only when the network fails, and only until the event ends: after that
// it deletes the cache and unregisters itself. The API always goes to the
// network (check-ins are sent by the page's own queue).

const SCOPE = new URL(self.registration.scope).pathname; // /mobile-events/{id}/rollcall
const EVENT = SCOPE.split("/")[2];
const CACHE = `bimbing-rollcall-${EVENT}`;
const META = `${SCOPE}?offline-meta`;

self.addEventListener("install", () => self.skipWaiting());
self.addEventListener("activate", (event) => event.waitUntil(self.clients.claim()));

/** The event's cache while the event runs; null (and forgotten) once it has ended. */
async function currentCache() {
  if (!(await caches.has(CACHE))) return null;
  const cache = await caches.open(CACHE);
  const meta = await cache.match(META).then((r) => (r ? r.json() : null)).catch(() => null);
  if (!meta) return null; // the page is still filling it
  if (Date.now() < Date.parse(meta.until)) return cache;
  // The event is over: the names go, and this worker with them.
  await caches.delete(CACHE);
  await self.registration.unregister();
  return null;
}

// the page: the network first (it is always fresh when there is a signal), the cache when there is none
async function page(request) {
  try {
    return await fetch(request);
  } catch (error) {
    const cache = await currentCache();
    const kept = cache && (await cache.match(SCOPE)); // the address alone: the note of the end is kept under it with a query
    if (kept) return kept;
    throw error;
  }
}

// scripts and styles: an address with its version (?v=) names one content, so a kept
// copy is the right one; an unversioned one (a module another imports) is asked first
async function asset(request) {
  const cache = await currentCache();
  if (new URL(request.url).searchParams.has("v")) {
    const kept = cache && (await cache.match(request));
    return kept || fetch(request);
  }
  try {
    return await fetch(request);
  } catch (error) {
    const kept = cache && (await cache.match(request, { ignoreSearch: true }));
    if (kept) return kept;
    throw error;
  }
}

self.addEventListener("fetch", (event) => {
  const request = event.request;
  if (request.method !== "GET") return;
  const url = new URL(request.url);
  if (url.origin !== self.location.origin) return;
  if (request.mode === "navigate") event.respondWith(page(request));
  else if (url.pathname.startsWith("/static/")) event.respondWith(asset(request));
  // anything else (the API) goes to the network as if there were no worker
});
