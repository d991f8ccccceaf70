// metav1.Status error bodies, built the way k8s.io/apimachinery/pkg/api/errors builds them,
// so clients that parse `reason`, `details` and `message` see exactly what a cluster sends.
import { qualifiedResource, type ResourceType } from './resources.js';

export interface StatusCause {
  reason?: string;
  message?: string;
  field?: string;
}

export interface StatusDetails {
  name?: string;
  group?: string;
  kind?: string;
  uid?: string;
  causes?: StatusCause[];
  retryAfterSeconds?: number;
}

export interface Status {
  kind: 'Status';
  apiVersion: 'v1';
  metadata: Record<string, never>;
  status: 'Failure' | 'Success';
  message?: string;
  reason?: string;
  details?: StatusDetails;
  code: number;
}

export class ApiError extends Error {
  readonly status: Status;
  /** Extra response headers (Retry-After). */
  readonly headers: Record<string, string>;

  constructor(code: number, reason: string, message: string, details?: StatusDetails, headers: Record<string, string> = {}) {
    super(message);
    this.name = 'ApiError';
    // Key order as the apiserver serialises it: kubectl prints raw bodies in -v output.
    this.status = { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, ...(details ? { details } : {}), code };
    this.headers = headers;
  }
}

/** {group, kind: resource, name}: the apiserver puts the plural resource in `kind` for these. */
const resourceDetails = (t: ResourceType, name?: string): StatusDetails => ({
  ...(name ? { name } : {}),
  ...(t.group ? { group: t.group } : {}),
  kind: t.resource,
});

export const notFound = (t: ResourceType, name: string): ApiError =>
  new ApiError(404, 'NotFound', `${qualifiedResource(t)} "${name}" not found`, resourceDetails(t, name));

export const alreadyExists = (t: ResourceType, name: string): ApiError =>
  new ApiError(409, 'AlreadyExists', `${qualifiedResource(t)} "${name}" already exists`, resourceDetails(t, name));

export const conflict = (t: ResourceType, name: string, why = OBJECT_MODIFIED): ApiError =>
  new ApiError(409, 'Conflict', `Operation cannot be fulfilled on ${qualifiedResource(t)} "${name}": ${why}`, resourceDetails(t, name));

export const OBJECT_MODIFIED = 'the object has been modified; please apply your changes to the latest version and try again';

export const badRequest = (message: string): ApiError => new ApiError(400, 'BadRequest', message);

export const methodNotSupported = (t: ResourceType, action: string): ApiError =>
  new ApiError(405, 'MethodNotAllowed', `${action} is not supported on resources of kind "${t.resource}"`, resourceDetails(t));

/** The generic 404 for paths no handler serves (unknown group/version or resource). */
export const pathNotFound = (): ApiError => new ApiError(404, 'NotFound', 'the server could not find the requested resource', {});

export const unsupportedMediaType = (contentType: string): ApiError =>
  new ApiError(
    415,
    'UnsupportedMediaType',
    `the body of the request was in an unknown format - accepted media types include: application/json, application/yaml${
      contentType.includes('patch') ? ', application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml' : ''
    }`,
  );

export const notAcceptable = (): ApiError =>
  // A real server also lists protobuf and yaml; we only produce JSON, so we say so.
  new ApiError(406, 'NotAcceptable', 'only the following media types are accepted: application/json');

export const expired = (message: string): ApiError => new ApiError(410, 'Expired', message);

export interface ForbiddenAttributes {
  user: string;
  verb: string;
  type: ResourceType;
  subresource?: string;
  namespace?: string;
  name?: string;
}

/** Same text as the RBAC authorizer's forbiddenMessage + apierrors.NewForbidden. */
export function forbidden(a: ForbiddenAttributes): ApiError {
  const resource = a.subresource ? `${a.type.resource}/${a.subresource}` : a.type.resource;
  const scope = a.namespace ? `in the namespace "${a.namespace}"` : 'at the cluster scope';
  const why = `User "${a.user}" cannot ${a.verb} resource "${resource}" in API group "${a.type.group}" ${scope}`;
  const subject = a.name ? `${qualifiedResource(a.type)} "${a.name}"` : qualifiedResource(a.type);
  return new ApiError(403, 'Forbidden', `${subject} is forbidden: ${why}`, resourceDetails(a.type, a.name));
}

export interface FieldError {
  type:
    | 'FieldValueRequired'
    | 'FieldValueInvalid'
    | 'FieldValueNotSupported'
    | 'FieldValueForbidden'
    | 'FieldValueDuplicate'
    | 'FieldValueTypeInvalid'
    | 'FieldValueTooLong'
    | 'FieldValueTooMany';
  field: string;
  value?: unknown;
  /** The value as Go's %#v prints it, when JSON would differ (`0x0`, `map[string]interface {}{…}`). */
  valueText?: string;
  detail?: string;
}

const FIELD_ERROR_TEXT: Record<FieldError['type'], string> = {
  FieldValueRequired: 'Required value',
  FieldValueInvalid: 'Invalid value',
  FieldValueNotSupported: 'Unsupported value',
  FieldValueForbidden: 'Forbidden',
  FieldValueDuplicate: 'Duplicate value',
  FieldValueTypeInvalid: 'Invalid value',
  FieldValueTooLong: 'Too long',
  FieldValueTooMany: 'Too many',
};

/** field.Error.ErrorBody(): `Invalid value: "x": detail`, `Required value`. */
function errorBody(e: FieldError): string {
  let body = FIELD_ERROR_TEXT[e.type];
  if (e.valueText !== undefined) body += `: ${e.valueText}`;
  else if (e.type !== 'FieldValueRequired' && e.type !== 'FieldValueForbidden' && e.type !== 'FieldValueTooLong') body += `: ${JSON.stringify(e.value)}`;
  return e.detail ? `${body}: ${e.detail}` : body;
}

/** apierrors.NewInvalid: `Secret "x" is invalid: data[tls.key]: Required value`. */
export function invalid(t: ResourceType, name: string, errors: FieldError[]): ApiError {
  const texts = errors.map((e) => `${e.field}: ${errorBody(e)}`);
  const aggregate = texts.length === 1 ? (texts[0] ?? '') : `[${texts.join(', ')}]`;
  const qualifiedKind = t.group ? `${t.kind}.${t.group}` : t.kind;
  return new ApiError(422, 'Invalid', `${qualifiedKind} "${name}" is invalid: ${aggregate}`, {
    name,
    ...(t.group ? { group: t.group } : {}),
    kind: t.kind,
    causes: errors.map((e) => ({ reason: e.type, message: errorBody(e), field: e.field })),
  });
}

const DEFAULT_REASON: Record<number, [string, string]> = {
  400: ['BadRequest', 'the server rejected our request for an unknown reason'],
  401: ['Unauthorized', 'Unauthorized'],
  403: ['Forbidden', 'forbidden'],
  404: ['NotFound', 'the server could not find the requested resource'],
  409: ['Conflict', 'the server reported a conflict'],
  410: ['Expired', 'the resource has expired'],
  422: ['Invalid', 'the server rejected our request due to an error in our request'],
  429: ['TooManyRequests', 'Too many requests, please try again later.'],
  500: ['InternalError', 'Internal error occurred: injected failure'],
  503: ['ServiceUnavailable', 'the server is currently unable to handle the request'],
  504: ['Timeout', 'the server was unable to return a response in the time allotted, but may still be processing the request'],
};

/** A Status for an arbitrary injected code, with the reason a real server would give it. */
export function genericError(code: number, reason?: string, message?: string, retryAfterSeconds?: number): ApiError {
  const [defReason, defMessage] = DEFAULT_REASON[code] ?? ['Unknown', `an error on the server ("injected") has prevented the request from succeeding`];
  const details: StatusDetails | undefined =
    retryAfterSeconds !== undefined ? { retryAfterSeconds } : code === 500 ? { causes: [{ message: 'injected failure' }] } : undefined;
  const headers: Record<string, string> = retryAfterSeconds !== undefined ? { 'Retry-After': String(retryAfterSeconds) } : {};
  return new ApiError(code, reason ?? defReason, message ?? defMessage, details, headers);
}
