/**
 * A name filter from glob patterns: `*` matches any run of characters (`_` included),
 * `?` exactly one; everything else is literal and matching is case-sensitive and whole-name.
 * A pattern starting with `!` excludes what it matches. A name passes when it matches at
 * least one including pattern (or there are only exclusions) and no excluding one.
 *
 * Used for token `tools` allow-lists and the mcp-broker's virtual-server `select`, both
 * over `<server>__<tool>` names.
 */
export type NameFilter = (name: string) => boolean;

function globToRegExp(glob: string): RegExp {
  let source = '';
  for (const char of glob) {
    if (char === '*') source += '.*';
    else if (char === '?') source += '.';
    else source += char.replace(/[.+^${}()|[\]\\/-]/g, '\\$&');
  }
  return new RegExp(`^${source}$`, 's');
}

/** Compiles `globs` once into a filter (see {@link NameFilter}); an empty list lets nothing through. */
export function compileNameFilter(globs: readonly string[]): NameFilter {
  const include: RegExp[] = [];
  const exclude: RegExp[] = [];
  for (const glob of globs) {
    if (glob.startsWith('!')) exclude.push(globToRegExp(glob.slice(1)));
    else include.push(globToRegExp(glob));
  }
  const allIncluded = include.length === 0 && exclude.length > 0;
  return (name) => (allIncluded || include.some((r) => r.test(name))) && !exclude.some((r) => r.test(name));
}
