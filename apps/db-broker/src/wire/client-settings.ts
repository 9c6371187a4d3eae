/**
 * A wire client's session settings in transaction mode. Postgres keeps `SET` per server
 * connection; a client that gets another server connection for its next transaction
 * would lose it, and the next client of the old one would inherit it. So the broker
 * keeps the client's settings (from its startup packet and its own `SET` / `RESET`),
 * replays them on every server connection it lends the client, and resets the server
 * connection (`DISCARD ALL`) before anyone else gets it.
 *
 * As in Postgres, `RESET` goes back to the value the client's startup packet asked for,
 * not to the server's default: the startup settings are kept apart for that.
 */
export class ClientSettings {
  /** Setting name (lower case) -> the statement that sets it. */
  private readonly statements = new Map<string, string>();
  /** The statements of the startup packet's settings, by name: what a RESET returns to. */
  private readonly startup = new Map<string, string>();
  /** Custom (`x.y`) settings the client touched: pg_settings does not list them, so they are read back by name. */
  private readonly custom = new Set<string>();

  get size(): number {
    return this.statements.size;
  }

  /** Applies a `SET` / `RESET` statement the server accepted. */
  record(statement: string): void {
    const reset = /^\s*reset\s+(.+?)\s*$/i.exec(statement);
    if (reset) {
      const name = (reset[1] as string).toLowerCase();
      if (name === 'all') return this.resetAll();
      const key = settingKey(name);
      const initial = this.startup.get(key);
      if (initial === undefined) this.statements.delete(key);
      else this.statements.set(key, initial);
      return;
    }
    const name = nameOfSet(statement);
    if (name === undefined) return;
    this.statements.set(name, statement);
    this.noteCustom([name]);
  }

  /** Remembers custom settings a statement may have changed (for {@link readBackQuery}). */
  noteCustom(names: readonly string[]): void {
    for (const name of names) if (name.includes('.')) this.custom.add(name.replace(/^"|"$/g, '').toLowerCase());
  }

  /** Adds a startup parameter as `SET name = 'value'`. */
  set(name: string, value: string): void {
    const key = settingKey(name.toLowerCase());
    const statement = `SET ${quoteIdent(name)} = ${quoteLiteral(value)}`;
    this.statements.set(key, statement);
    this.startup.set(key, statement);
    this.noteCustom([name]);
  }

  /** The session settings now in effect on a server connection (SET, set_config, replayed startup values), in their base units. */
  readBackQuery(): string {
    const custom = [...this.custom].map(quoteLiteral).join(', ');
    const byName = custom === '' ? '' : ` UNION ALL SELECT n, pg_catalog.current_setting(n, true) FROM unnest(ARRAY[${custom}]::text[]) AS n`;
    return (
      "SELECT name, setting FROM (SELECT name, setting FROM pg_catalog.pg_settings WHERE source = 'session' AND name NOT LIKE 'transaction\\_%'" +
      byName +
      // SET SESSION AUTHORIZATION resets the role: replayed first.
      ") AS s WHERE setting IS NOT NULL ORDER BY name = 'session_authorization' DESC, name = 'role' DESC, name"
    );
  }

  /** `RESET ALL` (and `DISCARD ALL`): back to the startup settings. */
  resetAll(): void {
    this.statements.clear();
    for (const [name, statement] of this.startup) this.statements.set(name, statement);
  }

  /**
   * Replaces everything with the session settings read back from the server
   * ({@link readBackQuery}): exact after `set_config`, a SET among several
   * statements, or a SET its transaction rolled back. A startup setting missing from it
   * was reset on the server connection: it is back at its startup value.
   */
  replaceWith(snapshot: readonly [string, string][]): void {
    this.statements.clear();
    for (const [name, value] of snapshot) {
      // set_config takes the value as SHOW prints it (a list such as search_path stays a list).
      this.statements.set(settingKey(name.toLowerCase()), `SELECT pg_catalog.set_config(${quoteLiteral(name)}, ${quoteLiteral(value)}, false)`);
    }
    // After the snapshot's, which the read-back orders (SET SESSION AUTHORIZATION first).
    for (const [name, statement] of this.startup) if (!this.statements.has(name)) this.statements.set(name, statement);
  }

  /** One simple-protocol query restoring every setting, or undefined when there is none. */
  replay(): string | undefined {
    return this.statements.size === 0 ? undefined : [...this.statements.values()].join('; ');
  }
}

/** Settings with several spellings, keyed by their canonical name. */
function settingKey(name: string): string {
  const bare = name.replace(/^"|"$/g, '');
  if (bare === 'time zone') return 'timezone';
  if (bare === 'names') return 'client_encoding';
  if (bare === 'schema') return 'search_path';
  return bare;
}

function nameOfSet(statement: string): string | undefined {
  const match = /^\s*set\s+(?:session\s+)?(session\s+authorization|time\s+zone|role|names|schema|"(?:[^"]|"")+"|[A-Za-z_][A-Za-z0-9_.$]*)/i.exec(statement);
  if (!match) return undefined;
  return settingKey((match[1] as string).toLowerCase().replace(/\s+/g, ' '));
}

function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

function quoteLiteral(value: string): string {
  return `'${value.replace(/'/g, "''")}'`;
}

/** Compares setting values the way Postgres treats them (case, spacing, UTF8 aliases). */
export function sameSettingValue(a: string, b: string): boolean {
  const norm = (v: string): string => {
    const s = v.toLowerCase().replace(/[\s_-]/g, '');
    return s === 'unicode' ? 'utf8' : s;
  };
  return norm(a) === norm(b);
}
