import { z } from 'zod';
import { resolveSecretSetting } from './secrets';

/** Variables every Patchbay service reads (ARCHITECTURE.md section 3). */
const commonEnvSchema = z.object({
  NODE_ENV: z.enum(['development', 'production', 'test']).default('development'),
  PORT: z.coerce.number().int().min(0).max(65535).optional(),
  GRPC_PORT: z.coerce.number().int().min(0).max(65535).optional(),
  HOST: z.string().min(1).default('0.0.0.0'),
  PATCHBAY_REGISTRY_URL: z.string().url().default('http://127.0.0.1:7100'),
  PATCHBAY_REGISTRY_TOKEN: z.string().min(16, 'must be at least 16 characters').optional(),
  PATCHBAY_REDIS_URL: z
    .string()
    .regex(/^rediss?:\/\//, 'must be a redis:// or rediss:// URL')
    .optional(),
  PATCHBAY_DATABASE_URL: z
    .string()
    .regex(/^postgres(ql)?:\/\//, 'must be a postgres:// URL')
    .optional(),
  PATCHBAY_DATA_DIR: z.string().min(1).default('.patchbay'),
  PATCHBAY_ADMIN_TOKEN: z.string().optional(),
  PATCHBAY_SECRET_KEY: z.string().optional(),
  PATCHBAY_TOKENS: z.string().optional(),
  PATCHBAY_TOKENS_FILE: z.string().optional(),
  PATCHBAY_MODE: z.enum(['local', 'stack']).default('local'),
  PATCHBAY_STACK_DOMAIN: z.string().min(1).default('svc.cluster.local'),
  PATCHBAY_CONFIG_FILE: z.string().optional(),
  PATCHBAY_BUS_PREFIX: z.string().min(1).default('patchbay:'),
  PATCHBAY_BODY_LIMIT_BYTES: z.coerce.number().int().min(1024).default(1_048_576),
  PATCHBAY_SHUTDOWN_TIMEOUT_MS: z.coerce.number().int().min(0).default(10_000),
  PATCHBAY_BODY_TIMEOUT_MS: z.coerce.number().int().min(100).max(2_147_483_647).default(30_000),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
});

/** The typed, validated configuration shared by every service. */
export interface PatchbayConfig {
  service: { name: string; instance: string; host: string; port: number; grpcPort: number };
  production: boolean;
  registryUrl: string;
  /** Token brokers use against the registry (`read` + `resolve`); defaults to the admin token. */
  registryToken: string;
  redisUrl: string | undefined;
  databaseUrl: string | undefined;
  dataDir: string;
  /** The admin token (every scope). Never logged. */
  adminToken: string;
  /** Where a generated admin token was stored, when it was generated. */
  adminTokenFile: string | undefined;
  /**
   * 32-byte key that encrypts connector secrets at rest, for the service that asked for it
   * (the registry); undefined elsewhere, so brokers never need it. Never logged.
   */
  secretKey: Buffer | undefined;
  tokens: { inline: string | undefined; file: string | undefined };
  mode: 'local' | 'stack';
  stackDomain: string;
  configFile: string | undefined;
  busPrefix: string;
  bodyLimitBytes: number;
  /** How long a request (headers and body) may take to arrive, in ms; then 408. */
  bodyTimeoutMs: number;
  shutdownTimeoutMs: number;
  logLevel: string;
  /** The raw environment, for local-mode `{CONFIG_ID}_URL` lookups. */
  env: Readonly<Record<string, string | undefined>>;
}

/** Thrown when the environment is invalid; names the variables, never their values. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  constructor(readonly problems: string[]) {
    super(`invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
  }
}

export interface LoadConfigOptions<E extends z.ZodRawShape> {
  /** Service name, e.g. `config-registry`. */
  service: string;
  /** Default HTTP and gRPC ports of the service. */
  ports: { http: number; grpc: number };
  /** Service-specific variables, validated with the common ones. */
  extra?: E;
  env?: Record<string, string | undefined>;
  /** Whether the service needs `PATCHBAY_SECRET_KEY` (generated in development, required in production). */
  secretKey?: boolean;
}

/**
 * Validates the environment once and returns the typed configuration plus the parsed
 * service-specific variables. Generates the admin token and secret key in development
 * (stored under the data dir) and refuses blank ones in production.
 *
 * @throws ConfigError naming every invalid variable and why (values are never shown).
 */
export function loadConfig<E extends z.ZodRawShape = Record<never, never>>(
  options: LoadConfigOptions<E>,
): { config: PatchbayConfig; extra: z.infer<z.ZodObject<E>> } {
  const env = options.env ?? process.env;
  const schema = commonEnvSchema.merge(z.object(options.extra ?? ({} as E)));
  // Blank strings count as unset: `FOO=` in a .env file must not fail a `.url()` check.
  const cleaned = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v !== ''));
  const parsed = schema.safeParse(cleaned);
  if (!parsed.success) {
    throw new ConfigError(parsed.error.issues.map((issue) => `${issue.path.join('.') || '(env)'}: ${issue.message}`));
  }
  const raw = parsed.data as z.infer<typeof commonEnvSchema>;
  const production = raw.NODE_ENV === 'production';
  const problems: string[] = [];

  const admin = resolveSecretSetting({
    variable: 'PATCHBAY_ADMIN_TOKEN',
    value: raw.PATCHBAY_ADMIN_TOKEN,
    production,
    dataDir: raw.PATCHBAY_DATA_DIR,
    file: 'admin-token',
    generate: 'token',
    problems,
  });
  const key = options.secretKey
    ? resolveSecretSetting({
        variable: 'PATCHBAY_SECRET_KEY',
        value: raw.PATCHBAY_SECRET_KEY,
        production,
        dataDir: raw.PATCHBAY_DATA_DIR,
        file: 'secret-key',
        generate: 'key',
        problems,
      })
    : { value: undefined };
  let secretKey: Buffer | undefined;
  if (key.value !== undefined) {
    secretKey = Buffer.from(key.value, 'base64');
    if (secretKey.length !== 32) problems.push('PATCHBAY_SECRET_KEY: must be 32 bytes, base64-encoded');
  }
  if (admin.value !== undefined && admin.value.length < 16) {
    problems.push('PATCHBAY_ADMIN_TOKEN: must be at least 16 characters');
  }
  if (problems.length > 0 || admin.value === undefined) throw new ConfigError(problems);

  const config: PatchbayConfig = {
    service: {
      name: options.service,
      instance: `${options.service}-${process.pid}-${Math.random().toString(36).slice(2, 8)}`,
      host: raw.HOST,
      port: raw.PORT ?? options.ports.http,
      grpcPort: raw.GRPC_PORT ?? options.ports.grpc,
    },
    production,
    registryUrl: raw.PATCHBAY_REGISTRY_URL.replace(/\/+$/, ''),
    registryToken: raw.PATCHBAY_REGISTRY_TOKEN ?? admin.value,
    redisUrl: raw.PATCHBAY_REDIS_URL,
    databaseUrl: raw.PATCHBAY_DATABASE_URL,
    dataDir: raw.PATCHBAY_DATA_DIR,
    adminToken: admin.value,
    adminTokenFile: admin.file,
    secretKey,
    tokens: { inline: raw.PATCHBAY_TOKENS, file: raw.PATCHBAY_TOKENS_FILE },
    mode: raw.PATCHBAY_MODE,
    stackDomain: raw.PATCHBAY_STACK_DOMAIN,
    configFile: raw.PATCHBAY_CONFIG_FILE,
    busPrefix: raw.PATCHBAY_BUS_PREFIX,
    bodyLimitBytes: raw.PATCHBAY_BODY_LIMIT_BYTES,
    bodyTimeoutMs: raw.PATCHBAY_BODY_TIMEOUT_MS,
    shutdownTimeoutMs: raw.PATCHBAY_SHUTDOWN_TIMEOUT_MS,
    logLevel: raw.LOG_LEVEL,
    env,
  };
  return { config, extra: parsed.data };
}
