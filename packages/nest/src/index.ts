export { ConfigError, loadConfig } from './config/config';
export type { LoadConfigOptions, PatchbayConfig } from './config/config';
export { ALL_SCOPES, Scope, hasScope, mayUseConnector, mayUseTool } from './auth/scopes';
export { compileNameFilter } from './auth/globs';
export type { NameFilter } from './auth/globs';
export type { Principal } from './auth/scopes';
export { TokenStore } from './auth/token-store';
export { scramKeys } from './auth/scram-keys';
export type { ScramVerifiers } from './auth/scram-keys';
export { AuthGuard, Public, RequireScopes, assertScopes, authenticateBearer, bearerToken } from './auth/auth.guard';
export { toPatchbayError, toProblem } from './errors/problem';
export type { ErrorMapper, ProblemDocument } from './errors/problem';
export { ProblemFilter, createErrorResponder } from './errors/problem.filter';
export type { ErrorRenderer, ErrorResponder, RenderedError } from './errors/problem.filter';
export { ZodValidationPipe, describeIssues, parseWith } from './http/zod-validation.pipe';
export {
  currentTraceparent,
  formatTraceparent,
  parseTraceparent,
  runInTraceContext,
  setAmbientTraceContext,
  traceContextFor,
  traceStorage,
} from './http/trace-context';
export type { TraceContext } from './http/trace-context';
export { PinoNestLogger, REDACT_PATHS, accessLineWriter, createLogger, redactUrl, type AccessLine } from './logging/logger';
export { HealthController } from './health/health.controller';
export { ReadinessService } from './health/readiness.service';
export type { ReadinessCheck, ReadinessCheckOptions, ReadinessEntry } from './health/readiness.service';
export { LATENCY_BUCKETS_SECONDS, MetricsService } from './metrics/metrics.service';
export { HistogramSeries, LabeledHistogram, type HistogramOptions } from './metrics/histogram';
export { startTracing, stopTracing, tracingRequested } from './telemetry/tracing';
export { createBus } from './bus/create-bus';
export { RegistryClient } from '@patchbay/client';
export type { ConnectorList, RegistryClientOptions, RegistryReader } from '@patchbay/client';
export { ConnectorWatcher } from './registry/connector-watcher';
export type { ConnectorWatcherEvents, ConnectorWatcherOptions } from './registry/connector-watcher';
export { getApiParameters } from '@patchbay/client';
export type { ApiParameters, ApiParametersOptions } from '@patchbay/client';
export { PatchbayKitModule } from './kit.module';
export type { KitModuleOptions } from './kit.module';
export { createApp, listen, runService } from './bootstrap';
export type { CreateAppOptions } from './bootstrap';
export { PATCHBAY_BUS, PATCHBAY_CONFIG, PATCHBAY_LOGGER } from './tokens';
export { GrpcServer, grpcStatusFor } from './grpc/grpc-server';
export type { GrpcErrorObject, GrpcHandlerContext } from './grpc/grpc-server';
export { createConnectorWatcher } from './registry/create-watcher';
export type { FastRouteRequest } from './http/fast-request';
export { installHotPath, parseJsonBody, pathOf, readJsonBody, sendJson } from './http/hot-path';
export { createRequestRecorder } from './http/request-log';
export type { RequestRecord } from './http/request-log';
export type { HotPathHandler } from './http/hot-path';
export { ConfigIdPipe, assertConfigId } from './http/config-id.pipe';
export { Reply, defineOperation } from './operations/operation';
export type { ConnectorBinding, CredentialReader, HttpMethod, Operation, OperationContext, OperationSpec, Schema } from './operations/operation';
export { ANONYMOUS, OperationPipeline } from './operations/pipeline';
export type { OperationInput } from './operations/pipeline';
export { serveOperations } from './operations/serve';
export { startService, runServiceDefinition } from './service/start-service';
export type { ServiceDefinition, ServiceKit, ServiceParts, StartedService } from './service/start-service';
export { GrpcBinder } from './service/grpc-binder';
export type { GrpcMapping } from './service/grpc-binder';
export type { BrokerDriver, CloseReason, ConnectionSettings, ErrorClass, OpenContext, PlannedConnection } from './broker/driver';
export { ManagedConnection } from './broker/managed-connection';
export type { ConnectionStatus, ErrorRecord } from './broker/connection-status';
export type { ConnectionLease, ConnectionObserver, ManagedConnectionOptions, UseOptions } from './broker/managed-connection';
export { Broker, assertMayUse } from './broker/broker';
export type { BrokerEvents, BrokerOptions, ConnectorSource } from './broker/broker';
export type { BrokerMetricNames } from './broker/broker-metrics';
export { breakerActionSchema, connectionStatusSchema, statusOperations } from './broker/status-operations';
export type { StatusOperationsOptions } from './broker/status-operations';
