/**
 * The EMR role: the dialog's EmrGateway, embedded in the carevox store or backed by OpenEMR (with the out-of-band
 * worker around it); an in-memory one with injectable faults for unit tests.
 */
export * from './types.js';
export { createMemoryEmr, type MemoryEmr, type MemoryEmrOptions, type EmrFault, type EmrOperation, type SentStaffMessage } from './memory.js';
export { EmbeddedEmr, DEMO_PATIENTS, type EmbeddedEmrOptions, type StaffRequest } from './embedded.js';
export { computeFreeSlots, isSlotFree, matchesNameDob, nameKey, phoneLookupKey } from './scheduling.js';
export { recordAccess } from './audit.js';
export { createOpenEmrService, loadOpenEmrMapping, checkMapping, type OpenEmrService, type OpenEmrServiceOptions } from './service.js';
export { OpenEmrGateway, requestTag, isRetryable, type OpenEmrGatewayOptions, type OpenEmrMapping, type AuditSink, type StepState } from './openemr-gateway.js';
export { OpenEmrClient, type OpenEmrClientOptions, type OpenEmrPatient, type OpenEmrAppointment, type NewOpenEmrAppointment, type NewOpenEmrMessage, type PatientFilter } from './openemr-client.js';
export { OAuthTokenManager, OAuthGrantError, createPkcePair, type OAuthOptions, type TokenSet, type PkcePair } from './oauth.js';
export { OpenEmrConfigError, checkBaseUrl, isTransient } from './http.js';
export { CallEmrGateway, type CallEmrGatewayOptions, type EmrReadOperations } from './call-gateway.js';
export { EmrWorker, LeaseLostError, type EmrWorkerOptions, type EmrJob, type EmrWriteOperations } from './worker.js';
export { CircuitBreaker, type CircuitBreakerOptions, type BreakerState } from './breaker.js';
export { LocalJobEventBus, RedisJobEventBus, type JobEventBus, type JobResultEvent } from './events.js';
export {
  MemorySharedState, RedisSharedState, CallRegistry, SharedStateUnavailableError, redisTimeouts,
  type SharedState, type SharedStateHealth, type CallRegistration,
} from './shared-state.js';
export { phoneDigits, storedPhoneFormats, samePhone, toE164 } from './phone.js';
export { startOpenEmrDouble, DOUBLE_MAPPING, DOUBLE_FACILITY_ID, type OpenEmrDouble, type OpenEmrDoubleOptions } from './double/index.js';
export { login, runDouble, LoginError, type LoginOptions } from './cli.js';
