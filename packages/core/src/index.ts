export { ErrorCode, PatchbayError, httpStatusFor, isPatchbayError } from './errors';
export type { PatchbayErrorOptions } from './errors';
export { BreakerState, CONNECTION_TRANSITIONS, ConnectionState, ConnectionStateMachine, IllegalTransitionError, canTransition } from './state';
export type { StateChange } from './state';
export { CONFIG_ID_PATTERN, CONNECTOR_TYPES, CREDENTIAL_FIELDS, MEMBER_ID_PATTERN } from './connectors';
export {
  AGENT_LIFECYCLES,
  AGENT_TOOL_OPTIONS,
  AGENT_TRANSPORTS,
  VIRTUAL_TRANSPORT,
  API_OPTIONS,
  DATABASE_OPTIONS,
  GENERIC_OPTIONS,
  LLM_OPTIONS,
  MAX_TIMER_MS,
  dnsLabelSchema,
  optionsSchemaFor,
  readConnectorOptions,
} from './connector-options';
export type { AgentToolOptions, AgentTransport, ApiOptions, DatabaseOptions, GenericOptions, LlmOptions, OptionIssue } from './connector-options';
export type {
  ChangeAction,
  ChangesPage,
  Connector,
  ConnectorChange,
  ConnectorMember,
  ConnectorType,
  CredentialField,
  Credentials,
  ResolutionMode,
  ResolutionSource,
  ResolvedConnector,
  ResolvedMember,
} from './connectors';
export { Channel, EventType, createEnvelope, parseEnvelope } from './bus/envelope';
export type {
  BreakerChangedData,
  ChannelName,
  ConnectionStateData,
  ConnectorChangedData,
  ConnectorDeletedData,
  CreateEnvelopeOptions,
  Envelope,
  EnvelopeSource,
  EventTypeName,
  InstanceReportData,
  ReportedConnection,
} from './bus/envelope';
export type { Bus, EnvelopeHandler, Subscription } from './bus/bus';
export { InMemoryBus } from './bus/in-memory-bus';
export { systemClock } from './clock';
export type { Clock, TimerHandle } from './clock';
export { DEFAULT_BACKOFF, computeBackoff } from './backoff';
export type { BackoffOptions, Jitter } from './backoff';
export { Deadline } from './deadline';
export type { DeadlineOptions } from './deadline';
export { RequestController, controllerAborted, controllerReason, type EmitterSignal } from './request-controller';
export { isRetryableError, parseRetryAfter, retry } from './retry';
export type { HeaderGetter, HeaderSource, RetryContext, RetryEvent, RetryOptions } from './retry';
export { CircuitBreaker, breakerChangedData } from './breaker';
export type { BreakerStateChange, BreakerStats, CircuitBreakerOptions, FailureRateOptions } from './breaker';
