/** The one place OpenEMR HTTP requests are made: https enforcement, per-request timeout, typed failures. */
import { EmrError } from './types.js';

export class OpenEmrConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'OpenEmrConfigError';
  }
}

export interface HttpOptions {
  timeoutMs: number;
  signal?: AbortSignal;
  fetch?: typeof fetch;
}

export interface HttpResponse {
  status: number;
  /** Raw body text (may be empty). */
  text: string;
}

/** OpenEMR must be reached over https; http only for the local double / development when explicitly allowed. */
export function checkBaseUrl(baseUrl: string, allowInsecureHttp: boolean): URL {
  let url: URL;
  try {
    url = new URL(baseUrl);
  } catch {
    throw new OpenEmrConfigError('OPENEMR_BASE_URL is not a valid URL');
  }
  if (url.protocol !== 'https:' && !(url.protocol === 'http:' && allowInsecureHttp)) {
    throw new OpenEmrConfigError('OPENEMR_BASE_URL must use https (set OPENEMR_ALLOW_INSECURE_HTTP=true only for a local test double)');
  }
  return url;
}

export async function httpRequest(url: string, init: RequestInit, options: HttpOptions): Promise<HttpResponse> {
  const timeout = AbortSignal.timeout(options.timeoutMs);
  const signal = options.signal ? AbortSignal.any([timeout, options.signal]) : timeout;
  try {
    const res = await (options.fetch ?? fetch)(url, { ...init, signal, redirect: 'manual' });
    return { status: res.status, text: await res.text() };
  } catch (err) {
    if (timeout.aborted) throw new EmrError('timeout', `OpenEMR did not answer within ${options.timeoutMs} ms`, { cause: err });
    if (options.signal?.aborted) throw new EmrError('timeout', 'OpenEMR request cancelled', { cause: err });
    throw new EmrError('unavailable', 'OpenEMR could not be reached', { cause: err });
  }
}

/** Parses a JSON body; OpenEMR sometimes answers with an empty body or an HTML error page. */
export function parseJson(text: string, what: string): unknown {
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new EmrError('invalid-response', `OpenEMR sent malformed JSON for ${what}`, { cause: err });
  }
}

/** Only these are worth retrying: the request may succeed later. */
export function isTransient(err: unknown): boolean {
  return err instanceof EmrError && (err.code === 'unavailable' || err.code === 'timeout' || err.code === 'invalid-response');
}
