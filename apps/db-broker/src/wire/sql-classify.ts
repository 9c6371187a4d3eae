import { mayHoldSeveralStatements } from '../query/statements';

/** What a statement text means for a server connection shared between clients. */
export interface SqlClass {
  /** Set when it cannot be made safe in transaction mode: the reason, for the client. */
  refused?: string;
  /** One `SET` / `RESET` statement (not LOCAL): replayed on every later server connection of the client. */
  setting?: string;
  /** `DEALLOCATE name`: SQL-level close of a protocol-level statement (PHP PDO does this). */
  deallocate?: string;
  /** `DISCARD ALL` / `DEALLOCATE ALL`: the client's statements and settings are forgotten. */
  discardsAll?: boolean;
  /** Leaves state on the server connection (temp tables, a setting, a role): it is reset before reuse. */
  dirties: boolean;
  /**
   * May change session settings in a way the text alone does not tell (`set_config`, a SET
   * among several statements): the broker reads the settings back before the reset.
   */
  changesSettings?: true;
  /** Custom (`x.y`) settings named in it: read back by name, since pg_settings does not list them. */
  customSettings?: string[];
}

/**
 * Quoted strings, identifiers and comments blanked out, so keywords inside them do not
 * count. A quoted identifier that names what the same word unquoted names (lower case,
 * plain characters: `"pg_advisory_lock"`) stays, unquoted, so a call cannot hide in quotes.
 */
function codeOnly(sql: string): string {
  return sql
    .replace(/\$([A-Za-z_][A-Za-z0-9_]*)?\$[\s\S]*?\$\1\$/g, ' ')
    .replace(/'(?:[^']|'')*'?/g, "''")
    .replace(/"(?:[^"]|"")*"?/g, (quoted) => (/^"[a-z_][a-z0-9_$]*"$/.test(quoted) ? ` ${quoted.slice(1, -1)} ` : '""'))
    .replace(/--[^\n]*/g, ' ')
    .replace(/\/\*[\s\S]*?(\*\/|$)/g, ' ');
}

const SESSION_LOCK = /\bpg_(try_)?advisory_lock(_shared)?\s*\(/i;
const LISTEN = /(^|;)\s*listen\b/i;
const SQL_PREPARE = /(^|;)\s*prepare\b(?!\s+transaction\b)/i;
const WITH_HOLD = /(^|;)\s*declare\b[^;]*\bwith\s+hold\b/i;
const LEAVES_STATE = /\bcreate\s+(global\s+|local\s+)?(temp|temporary)\b|\bset_config\s*\(|(^|;)\s*(set|reset)\b(?!\s+(local|transaction|constraints)\b)/i;
const CHANGES_SETTINGS = /\bset_config\s*\(|(^|;)\s*(set|reset|discard)\b(?!\s+(local|transaction|constraints)\b)/i;
/** The literal name of set_config, or a SET / RESET of a dotted name (approximate: read on the raw text). */
const CUSTOM_SETTING = /\bset_config\s*\(\s*'([^']+)'|(?:^|;)\s*(?:set|reset)\s+(?:session\s+)?"?([A-Za-z_][\w$]*\.[\w$.]+)/gi;
const SETTING = /^\s*(set|reset)\b(?!\s+(local|transaction|constraints|session\s+characteristics)\b)/i;
const DEALLOCATE = /^\s*deallocate\s+(?:prepare\s+)?(?:([A-Za-z_][A-Za-z0-9_$]*)|"((?:[^"]|"")+)")\s*;?\s*$/i;
const DISCARD_ALL = /^\s*(discard|deallocate(\s+prepare)?)\s+all\s*;?\s*$/i;

const TRANSACTION_HINT =
  'the connector pools in transaction mode (a server connection per transaction): set options.poolMode "session" on it for session features';

/**
 * Every pattern below needs one of these words in the text; a statement without any
 * (most queries) is plain and skips the scans of the whole text.
 */
const MAY_MATTER = /advisory_lock|listen|prepare|declare|create|set|discard|deallocate/i;
const PLAIN: SqlClass = Object.freeze({ dirties: false });

/** Classifies a query text sent in transaction mode. */
export function classifySql(sql: string): SqlClass {
  if (!MAY_MATTER.test(sql)) return PLAIN;
  const code = codeOnly(sql);
  if (SESSION_LOCK.test(code)) {
    return { refused: `session-level advisory locks outlive the transaction; use pg_advisory_xact_lock (${TRANSACTION_HINT})`, dirties: false };
  }
  if (LISTEN.test(code)) return { refused: `LISTEN needs a session of its own (${TRANSACTION_HINT})`, dirties: false };
  if (SQL_PREPARE.test(code)) {
    return {
      refused: `SQL PREPARE is not kept across transactions; use protocol-level prepared statements, which the broker tracks (${TRANSACTION_HINT})`,
      dirties: false,
    };
  }
  if (WITH_HOLD.test(code)) return { refused: `cursors WITH HOLD outlive the transaction (${TRANSACTION_HINT})`, dirties: false };
  const single = !mayHoldSeveralStatements(sql);
  if (single && DISCARD_ALL.test(code)) return { discardsAll: true, dirties: true };
  const deallocate = single ? DEALLOCATE.exec(sql) : null;
  if (deallocate && !DISCARD_ALL.test(code)) return { deallocate: (deallocate[2] ?? (deallocate[1] as string).toLowerCase()).trim(), dirties: false };
  if (single && SETTING.test(code)) return { setting: sql.trim().replace(/;\s*$/, ''), dirties: true };
  if (CHANGES_SETTINGS.test(code)) {
    const custom = [...sql.matchAll(CUSTOM_SETTING)].map((m) => (m[1] ?? m[2] ?? '').toLowerCase()).filter((name) => name.includes('.'));
    return custom.length > 0 ? { dirties: true, changesSettings: true, customSettings: custom } : { dirties: true, changesSettings: true };
  }
  return { dirties: LEAVES_STATE.test(code) };
}
