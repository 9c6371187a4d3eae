import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { compileNameFilter } from './globs';
import { SCRAM_ITERATIONS, saslprepInvariant, scramKeys, type ScramVerifier, type ScramVerifiers } from './scram-keys';
import { ALL_SCOPES, Scope, type Principal } from './scopes';

const tokenEntrySchema = z
  .object({
    name: z.string().min(1).max(100),
    token: z.string().min(16, 'must be at least 16 characters').optional(),
    sha256: z
      .string()
      .regex(/^[0-9a-f]{64}$/, 'must be a hex sha256 of the token')
      .optional(),
    scopes: z.array(z.nativeEnum(Scope)).min(1),
    connectors: z.array(z.string().min(1)).optional(),
    models: z.array(z.string().min(1)).optional(),
    /** Globs over MCP tool names `<server>__<tool>`; `!` excludes. */
    tools: z.array(z.string().min(1).max(300)).max(1000).optional(),
  })
  .refine((t) => (t.token === undefined) !== (t.sha256 === undefined), 'give exactly one of `token` or `sha256`');

const tokenListSchema = z.array(tokenEntrySchema);
const tokensDocumentSchema = z.object({ tokens: tokenListSchema });

interface StoredToken {
  hash: Buffer;
  principal: Principal;
}

function sha256(value: string): Buffer {
  return createHash('sha256').update(value).digest();
}

/**
 * Bearer tokens known to this service: the admin token plus scoped tokens from
 * `PATCHBAY_TOKENS` (JSON) and/or `PATCHBAY_TOKENS_FILE` (YAML or JSON). The configured
 * tokens are kept as hashes and an unknown token is compared in constant time against
 * all of them; a token that matched is remembered, so its next request skips hashing.
 */
export class TokenStore {
  private readonly tokens: StoredToken[] = [];
  /**
   * Tokens already seen to be valid. Only known tokens are added, so it holds at most
   * one entry per configured token; unknown tokens always take the constant-time scan.
   */
  private readonly known = new Map<string, Principal>();
  /** SCRAM-SHA-256 verifiers of the tokens configured by value (the db-broker's wire front logs in with them). */
  readonly scram: ScramVerifiers;
  /** Some token is known only by its sha256 (or is not printable ASCII): it has no SCRAM verifier. */
  readonly hasTokensWithoutScram: boolean;

  constructor(adminToken: string, entries: readonly z.infer<typeof tokenEntrySchema>[] = []) {
    const salt = randomBytes(16);
    const verifiers: ScramVerifier[] = [];
    let withoutScram = false;
    const addScram = (token: string | undefined, principal: Principal): void => {
      if (token !== undefined && saslprepInvariant(token)) verifiers.push({ ...scramKeys(token, salt, SCRAM_ITERATIONS), principal });
      else withoutScram = true;
    };
    const admin: Principal = { name: 'admin', scopes: new Set(ALL_SCOPES) };
    this.tokens.push({ hash: sha256(adminToken), principal: admin });
    addScram(adminToken, admin);
    for (const entry of entries) {
      const principal: Principal = { name: entry.name, scopes: new Set(entry.scopes) };
      if (entry.connectors) principal.connectors = entry.connectors;
      if (entry.models) principal.models = entry.models;
      if (entry.tools) {
        principal.tools = entry.tools;
        principal.toolFilter = compileNameFilter(entry.tools);
      }
      const hash = entry.token !== undefined ? sha256(entry.token) : Buffer.from(entry.sha256 ?? '', 'hex');
      this.tokens.push({ hash, principal });
      addScram(entry.token, principal);
    }
    this.scram = { salt, iterations: SCRAM_ITERATIONS, verifiers };
    this.hasTokensWithoutScram = withoutScram;
  }

  /**
   * Builds the store from the config's token sources.
   * @throws Error naming the source and the bad entry's field (never the token value).
   */
  static fromSources(adminToken: string, sources: { inline: string | undefined; file: string | undefined }): TokenStore {
    const entries: z.infer<typeof tokenEntrySchema>[] = [];
    const load = (text: string, origin: string, yaml: boolean): void => {
      let doc: unknown;
      try {
        doc = yaml ? parseYaml(text) : JSON.parse(text);
      } catch (error) {
        throw new Error(`${origin}: not valid ${yaml ? 'YAML' : 'JSON'} (${(error as Error).message.split('\n')[0]})`);
      }
      // A bare list or `{tokens: [...]}`; checked separately so errors name the field.
      const parsed = Array.isArray(doc) ? tokenListSchema.safeParse(doc) : tokensDocumentSchema.safeParse(doc);
      if (!parsed.success) {
        const issue = parsed.error.issues[0];
        throw new Error(`${origin}: ${issue?.path.join('.') ?? ''} ${issue?.message ?? 'invalid'}`);
      }
      entries.push(...(Array.isArray(parsed.data) ? parsed.data : parsed.data.tokens));
    };
    if (sources.inline) load(sources.inline, 'PATCHBAY_TOKENS', false);
    if (sources.file) load(readFileSync(sources.file, 'utf8'), `PATCHBAY_TOKENS_FILE (${sources.file})`, true);
    return new TokenStore(adminToken, entries);
  }

  /** The principal for a bearer token, or undefined when the token is unknown. */
  authenticate(token: string): Principal | undefined {
    const cached = this.known.get(token);
    if (cached) return cached;
    const hash = sha256(token);
    let found: Principal | undefined;
    // Compare against every entry so timing does not reveal which one matched.
    for (const stored of this.tokens) {
      if (timingSafeEqual(stored.hash, hash) && found === undefined) found = stored.principal;
    }
    if (found) this.known.set(token, found);
    return found;
  }
}
