/**
 * Contract checks: every request our client sent to the OpenEMR double, judged against OpenEMR's own OpenAPI file
 * (method + path template, query parameter names, JSON request body schema, OAuth endpoints from the security
 * scheme). Test support; the spec is read from the shared folder, never copied into the project.
 */
import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Ajv, type ValidateFunction } from 'ajv';
import { parse } from 'yaml';
import type { RecordedRequest } from './double/index.js';

type Json = Record<string, any>;

export interface ContractViolation {
  request: string;
  problem: string;
}

export const REPO_ROOT = resolve(fileURLToPath(new URL('.', import.meta.url)), '../..');
export const OPENEMR_SPEC_PATH = resolve(REPO_ROOT, '../shared/openemr/openemr-api-7.0.3.yaml');

export class OpenEmrContract {
  private readonly ajv = new Ajv({ strict: false, allErrors: true });
  private readonly validators = new Map<string, ValidateFunction>();
  private readonly operations: Array<{ pattern: RegExp; template: string; item: Json }>;
  private readonly serverPrefix: string;

  constructor(private readonly spec: Json) {
    this.serverPrefix = String(spec.servers?.[0]?.url ?? '/apis/default/').replace(/\/$/, '');
    this.operations = Object.entries(spec.paths as Json).map(([template, item]) => ({
      template, item: item as Json,
      pattern: new RegExp(`^${template.replace(/[.$]/g, '\\$&').replace(/\{[^}]+\}/g, '[^/]+')}$`),
    }));
  }

  static async load(path = OPENEMR_SPEC_PATH): Promise<OpenEmrContract> {
    return new OpenEmrContract(parse(await readFile(path, 'utf8')) as Json);
  }

  check(requests: readonly RecordedRequest[]): ContractViolation[] {
    return requests.flatMap((r) => this.checkOne(r).map((problem) => ({ request: `${r.method} ${r.path}`, problem })));
  }

  private checkOne(r: RecordedRequest): string[] {
    if (r.path.startsWith('/oauth2/')) return this.checkOAuth(r);
    if (!r.path.startsWith(`${this.serverPrefix}/`)) return [`path outside the API server prefix ${this.serverPrefix}`];
    const path = r.path.slice(this.serverPrefix.length);
    const matches = this.operations.filter((o) => o.pattern.test(path));
    // Prefer a literal segment over a template variable (e.g. /api/patient over /api/{x}).
    const entry = matches.sort((a, b) => (a.template.match(/\{/g)?.length ?? 0) - (b.template.match(/\{/g)?.length ?? 0))
      .find((o) => o.item[r.method.toLowerCase()]);
    if (!entry) return [`no ${r.method} operation for ${path} in the spec`];
    const op = entry.item[r.method.toLowerCase()] as Json;
    const problems: string[] = [];
    const params = [...(entry.item.parameters ?? []), ...(op.parameters ?? [])].map((p: Json) => this.deref(p));
    const queryNames = new Set(params.filter((p) => p.in === 'query').map((p) => p.name as string));
    for (const name of Object.keys(r.query)) {
      if (!queryNames.has(name)) problems.push(`query parameter "${name}" is not documented (OpenEMR would silently drop it)`);
    }
    for (const p of params.filter((x) => x.in === 'query' && x.required)) {
      if (!(p.name in r.query)) problems.push(`required query parameter "${p.name}" missing`);
    }
    if (op.security && !r.authorized) problems.push('no Authorization header on a secured operation');
    const requestBody = op.requestBody ? this.deref(op.requestBody) : undefined;
    if (!requestBody) {
      if (r.body !== undefined) problems.push('a body was sent to an operation that takes none');
      return problems;
    }
    if (r.body === undefined) {
      if (requestBody.required) problems.push('required request body missing');
      return problems;
    }
    const media = requestBody.content?.['application/json'];
    if (!media) return [...problems, 'operation takes no JSON body'];
    if (r.contentType !== 'application/json') problems.push(`content-type ${r.contentType} instead of application/json`);
    const schema = this.resolveSchema(media.schema as Json);
    const validate = this.validator(schema);
    if (!validate(r.body)) problems.push(...(validate.errors ?? []).map((e) => `body${e.instancePath} ${e.message}`));
    if (schema.properties && r.body && typeof r.body === 'object') {
      for (const key of Object.keys(r.body as Json)) {
        if (!(key in schema.properties)) problems.push(`body field "${key}" is not in the schema`);
      }
    }
    return problems;
  }

  private checkOAuth(r: RecordedRequest): string[] {
    const flows = this.spec.components?.securitySchemes?.openemr_auth?.flows as Json | undefined;
    const code = flows?.authorizationCode as Json | undefined;
    if (!code) return ['spec has no authorizationCode flow'];
    if (r.method === 'POST' && (r.path === code.tokenUrl || r.path === code.refreshUrl)) {
      if (r.contentType !== 'application/x-www-form-urlencoded') return ['token requests must be form-encoded'];
      const body = (r.body ?? {}) as Json;
      if (!['password', 'authorization_code', 'refresh_token'].includes(body.grant_type)) return [`unexpected grant_type ${body.grant_type}`];
      if (!body.client_id) return ['token request without client_id'];
      return [];
    }
    if (r.method === 'GET' && r.path === code.authorizationUrl) {
      const missing = ['response_type', 'client_id', 'redirect_uri', 'scope', 'state', 'code_challenge', 'code_challenge_method'].filter((k) => !r.query[k]);
      return missing.length ? [`authorize request lacks ${missing.join(', ')}`] : [];
    }
    return ['not an OAuth endpoint of the spec'];
  }

  private deref(node: Json): Json {
    let current = node;
    for (let i = 0; current && typeof current.$ref === 'string' && i < 10; i++) {
      current = String(current.$ref).replace(/^#\//, '').split('/').reduce((o: Json, k) => o?.[k], this.spec);
    }
    return current;
  }

  private resolveSchema(schema: Json): Json {
    const s = this.deref(schema);
    if (!s || typeof s !== 'object') return s;
    const out: Json = Array.isArray(s) ? [] : {};
    for (const [k, v] of Object.entries(s)) out[k] = v && typeof v === 'object' ? this.resolveSchema(v as Json) : v;
    return out;
  }

  private validator(schema: Json): ValidateFunction {
    const key = JSON.stringify(schema);
    let v = this.validators.get(key);
    if (!v) {
      v = this.ajv.compile(schema);
      this.validators.set(key, v);
    }
    return v;
  }
}
