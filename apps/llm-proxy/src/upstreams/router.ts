/** What routing needs to know about a connector. */
export interface Routable {
  configId: string;
  models: readonly string[] | undefined;
  priority: number;
  weight: number;
}

export interface Route<T> {
  /** In the order to try them. */
  candidates: T[];
  /** The model name to send upstream (without a `<configId>/` pin). */
  upstreamModel: string;
  pinned: boolean;
}

/**
 * Orders connectors by priority (lowest first) and, within a priority, by a weighted
 * random draw (Efraimidis-Spirakis: key = Exp(1) / weight), so traffic splits by weight
 * and every connector still appears once as a fallback. Weight 0 goes last.
 */
export function orderCandidates<T extends Routable>(upstreams: readonly T[], random: () => number = Math.random): T[] {
  if (upstreams.length === 1) return [...upstreams];
  return upstreams
    .map((upstream) => ({ upstream, key: upstream.weight > 0 ? -Math.log(1 - random()) / upstream.weight : Infinity }))
    .sort((a, b) => a.upstream.priority - b.upstream.priority || a.key - b.key)
    .map((entry) => entry.upstream);
}

/**
 * Routes a requested model: `<configId>/<name>` pins a connector when that configId
 * exists (model names may contain `/` themselves); a bare name goes to the connectors
 * listing it, or else to catch-all connectors (no `models` option). With `allowed` (a
 * token's connector allow-list) only those connectors count, for the pin, the listing
 * and the catch-all alike, so every fallback obeys it too. Undefined when nothing
 * (allowed) serves it.
 */
export function route<T extends Routable>(
  model: string,
  upstreams: ReadonlyMap<string, T>,
  allowed?: readonly string[],
  random: () => number = Math.random,
): Route<T> | undefined {
  const slash = model.indexOf('/');
  if (slash > 0) {
    const pinned = upstreams.get(model.slice(0, slash));
    if (pinned) {
      // A forbidden pin is not reinterpreted as a bare name for some catch-all connector.
      if (allowed && !allowed.includes(pinned.configId)) return undefined;
      const name = model.slice(slash + 1);
      if (name.length === 0 || (pinned.models && !pinned.models.includes(name))) return undefined;
      return { candidates: [pinned], upstreamModel: name, pinned: true };
    }
  }
  const listing: T[] = [];
  const catchAll: T[] = [];
  for (const upstream of upstreams.values()) {
    if (allowed && !allowed.includes(upstream.configId)) continue;
    if (upstream.models === undefined) catchAll.push(upstream);
    else if (upstream.models.includes(model)) listing.push(upstream);
  }
  const chosen = listing.length > 0 ? listing : catchAll;
  if (chosen.length === 0) return undefined;
  return { candidates: orderCandidates(chosen, random), upstreamModel: model, pinned: false };
}
