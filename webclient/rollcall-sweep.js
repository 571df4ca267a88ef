// Deletes the roll call's offline copies of events that have ended, with their
// service workers (docs/webclient.md, "Offline reload"). It runs when loaded: by
// the roll-call page (rollcall.js imports it) and by the mobile-counseling list and
// event pages, so that the invited clients' names leave the phone after the day
// even if that roll call is never opened again.
// Signing out deletes every copy at once (Clear-Site-Data on the logout answer).

export const CACHE_PREFIX = "bimbing-rollcall-";

/** Where an event's cache keeps the moment it ends (read by rollcall-sw.js too). */
export function metaUrl(eventId) {
  return `/mobile-events/${eventId}/rollcall?offline-meta`;
}

async function endOf(cache, eventId) {
  try {
    const meta = await cache.match(metaUrl(eventId));
    return meta ? Date.parse((await meta.json()).until) : NaN;
  } catch {
    return NaN;
  }
}

export async function sweepEndedRollCalls(now = Date.now()) {
  if (!("caches" in window) || !("serviceWorker" in navigator)) return;
  const registrations = await navigator.serviceWorker.getRegistrations();
  for (const name of await caches.keys()) {
    if (!name.startsWith(CACHE_PREFIX)) continue;
    const eventId = name.slice(CACHE_PREFIX.length);
    const until = await endOf(await caches.open(name), eventId);
    // A cache with no end yet is being filled by its page: left alone.
    if (Number.isNaN(until) || now < until) continue;
    await caches.delete(name);
    const scope = `/mobile-events/${eventId}/rollcall`;
    for (const registration of registrations) {
      if (new URL(registration.scope).pathname === scope) await registration.unregister();
    }
  }
}

sweepEndedRollCalls().catch(() => { /* nothing kept, or storage refused: nothing to delete */ });
