import { mkdtempSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { z } from 'zod';
import { ConfigError, loadConfig } from './config';

const KEY = Buffer.alloc(32, 1).toString('base64');
const ports = { http: 7100, grpc: 7101 };

function tempDir(): string {
  return mkdtempSync(join(tmpdir(), 'pb-config-'));
}

describe('loadConfig', () => {
  it('applies the documented defaults', () => {
    const { config } = loadConfig({ service: 'svc', ports, env: { PATCHBAY_DATA_DIR: tempDir() } });
    expect(config.service.port).toBe(7100);
    expect(config.service.grpcPort).toBe(7101);
    expect(config.registryUrl).toBe('http://127.0.0.1:7100');
    expect(config.mode).toBe('local');
    expect(config.stackDomain).toBe('svc.cluster.local');
    expect(config.redisUrl).toBeUndefined();
    expect(config.databaseUrl).toBeUndefined();
    expect(config.secretKey).toBeUndefined();
    expect(config.registryToken).toBe(config.adminToken);
  });

  it('names bad variables without echoing their values', () => {
    const secretish = 'postgres://user:hunter2@db';
    let error: unknown;
    try {
      loadConfig({
        service: 'svc',
        ports,
        env: { PORT: 'eighty', PATCHBAY_REDIS_URL: 'http://nope', PATCHBAY_DATABASE_URL: `x${secretish}`, PATCHBAY_MODE: 'cloud' },
      });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const message = (error as Error).message;
    expect(message).toContain('PORT');
    expect(message).toContain('PATCHBAY_REDIS_URL');
    expect(message).toContain('PATCHBAY_DATABASE_URL');
    expect(message).toContain('PATCHBAY_MODE');
    expect(message).not.toContain('hunter2');
    expect(message).not.toContain('eighty');
  });

  it('refuses to boot in production without an admin token or, where the service needs one, a secret key', () => {
    expect(() => loadConfig({ service: 'svc', ports, secretKey: true, env: { NODE_ENV: 'production', PATCHBAY_DATA_DIR: tempDir() } })).toThrow(
      /PATCHBAY_ADMIN_TOKEN: required when NODE_ENV=production[\s\S]*PATCHBAY_SECRET_KEY: required/,
    );
    // A broker never decrypts secrets: production needs no key there.
    const broker = loadConfig({
      service: 'broker',
      ports,
      env: { NODE_ENV: 'production', PATCHBAY_ADMIN_TOKEN: 'a'.repeat(32), PATCHBAY_DATA_DIR: tempDir() },
    });
    expect(broker.config.secretKey).toBeUndefined();
    expect(() => loadConfig({ service: 'svc', ports, env: { NODE_ENV: 'production', PATCHBAY_ADMIN_TOKEN: '   ', PATCHBAY_SECRET_KEY: KEY } })).toThrow(
      /PATCHBAY_ADMIN_TOKEN/,
    );
  });

  it('generates the admin token and key once in development and keeps them private', () => {
    const dir = tempDir();
    const first = loadConfig({ service: 'a', ports, secretKey: true, env: { PATCHBAY_DATA_DIR: dir } }).config;
    const second = loadConfig({ service: 'b', ports, secretKey: true, env: { PATCHBAY_DATA_DIR: dir } }).config;
    expect(second.adminToken).toBe(first.adminToken);
    expect(first.secretKey).toHaveLength(32);
    expect(second.secretKey?.equals(first.secretKey as Buffer)).toBe(true);
    expect(first.adminTokenFile).toBe(join(dir, 'admin-token'));
    expect(readFileSync(join(dir, 'admin-token'), 'utf8').trim()).toBe(first.adminToken);
    expect(statSync(join(dir, 'admin-token')).mode & 0o077).toBe(0);
  });

  it('rejects a secret key that is not 32 bytes', () => {
    expect(() =>
      loadConfig({ service: 'svc', ports, secretKey: true, env: { PATCHBAY_SECRET_KEY: Buffer.alloc(16).toString('base64'), PATCHBAY_DATA_DIR: tempDir() } }),
    ).toThrow(/PATCHBAY_SECRET_KEY: must be 32 bytes/);
  });

  it('treats blank variables as unset and validates service-specific ones', () => {
    const { config, extra } = loadConfig({
      service: 'svc',
      ports,
      extra: { POOL_MAX: z.coerce.number().int().min(1).default(10) },
      env: { PATCHBAY_REDIS_URL: '', PORT: '9000', POOL_MAX: '4', PATCHBAY_DATA_DIR: tempDir() },
    });
    expect(config.redisUrl).toBeUndefined();
    expect(config.service.port).toBe(9000);
    expect(extra.POOL_MAX).toBe(4);
    expect(() => loadConfig({ service: 'svc', ports, extra: { POOL_MAX: z.coerce.number().int().min(1) }, env: { POOL_MAX: '0' } })).toThrow(/POOL_MAX/);
  });
});
