import { HttpInstrumentation } from '@opentelemetry/instrumentation-http';
import { NodeSDK } from '@opentelemetry/sdk-node';

let sdk: NodeSDK | undefined;

/** True when the standard OTEL_* variables ask for trace export. */
export function tracingRequested(env: Readonly<Record<string, string | undefined>> = process.env): boolean {
  if (env.OTEL_SDK_DISABLED === 'true' || env.OTEL_TRACES_EXPORTER === 'none') return false;
  return Boolean(env.OTEL_EXPORTER_OTLP_ENDPOINT || env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT || env.OTEL_TRACES_EXPORTER);
}

/**
 * Starts OpenTelemetry tracing (OTLP export, W3C propagation, HTTP spans) when the
 * standard `OTEL_*` variables ask for it; otherwise does nothing, so an untraced
 * deployment pays nothing. Call before the app is created.
 */
export function startTracing(serviceName: string): boolean {
  if (sdk || !tracingRequested()) return sdk !== undefined;
  process.env.OTEL_SERVICE_NAME ??= serviceName;
  sdk = new NodeSDK({
    serviceName: process.env.OTEL_SERVICE_NAME,
    instrumentations: [new HttpInstrumentation()],
  });
  sdk.start();
  return true;
}

/** Flushes and stops tracing, if started. */
export async function stopTracing(): Promise<void> {
  await sdk?.shutdown().catch(() => undefined);
  sdk = undefined;
}
