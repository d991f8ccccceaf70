// In-process Kubernetes API server for tests. See server.ts for the public surface.
export { startKubeApi } from './server.js';
export type { DenyRule, FailRule, KubeApi, KubeApiOptions, ListOptions, RequestRecord, Verb } from './server.js';
export { ApiError } from './errors.js';
export type { Status } from './errors.js';
export { DEFAULT_RESOURCES, ResourceTable } from './resources.js';
export type { KubeObject, ObjectMeta, ResourceRef, ResourceType } from './resources.js';
export { GATEWAY_API_BUNDLE_VERSION, GATEWAY_API_RESOURCES, GATEWAY_GROUP } from './gateway-api.js';
export type { Fault, FaultInjector, FaultMatch, FaultRule, FaultSpec, FaultVerb, Injection, Outage, OutageSpec } from './faults.js';
