/**
 * A local stand-in for OpenEMR 7.0.3, speaking its documented HTTP API with its quirks, for tests and demos:
 * OAuth2 token endpoint (password, authorization code + PKCE S256, refresh with rotation that revokes the old
 * refresh token), 401 with an empty body for permission problems, 404 with a `null` body for "no appointments",
 * `pc_startTime` that must be exactly HH:MM, no appointment update endpoint, silently dropped unknown search filters,
 * 400 with an empty body for a wrong site. Faults can be injected (down, latency, 500s, lost tokens, garbage JSON).
 * Every request is recorded so contract tests can check it against OpenEMR's OpenAPI file.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { createHash, randomBytes } from 'node:crypto';
import {
  SEED_API_USER, SEED_CLIENT, seedPatients, seedUsers,
  type DoubleAppointment, type DoubleClient, type DoubleMessage, type DoublePatient, type DoubleUser,
} from './seed.js';

export interface RecordedRequest {
  method: string;
  /** Path without the query string. */
  path: string;
  query: Record<string, string>;
  contentType: string | undefined;
  /** Parsed JSON or form body; undefined when there was none. */
  body: unknown;
  authorized: boolean;
}

export interface DoubleFaults {
  /** Every connection is reset as soon as a request arrives. */
  down: boolean;
  /** Delay before answering each request (ms). */
  latencyMs: number;
  /** The next N API requests answer 500. */
  serverErrors: number;
  /** The next N API requests answer 200 with malformed JSON. */
  garbage: number;
  /** The next N appointment creations are carried out but the connection is reset before the answer. */
  lostWriteResponses: number;
  /** The next N token requests answer 500. */
  tokenErrors: number;
  /** The next N appointment creations are carried out, then the answer never comes (the client times out). */
  hangWriteResponses: number;
  /** The next N appointment deletions answer 500 (and delete nothing). */
  failedDeletes: number;
}

export interface OpenEmrDoubleOptions {
  site?: string;
  accessTokenTtlSec?: number;
  patients?: DoublePatient[];
  users?: DoubleUser[];
  client?: DoubleClient;
  /** Whether the password grant is enabled (it is off by default in a real OpenEMR). */
  passwordGrant?: boolean;
  /** Listening port on 127.0.0.1; 0 (default) picks a free one. */
  port?: number;
}

export interface OpenEmrDouble {
  /** Origin, e.g. http://127.0.0.1:43123 (paths /oauth2/SITE and /apis/SITE hang off it). */
  readonly url: string;
  readonly site: string;
  readonly client: DoubleClient;
  readonly apiUser: { username: string; password: string };
  readonly faults: DoubleFaults;
  readonly requests: RecordedRequest[];
  patients(): DoublePatient[];
  appointments(): DoubleAppointment[];
  messages(): DoubleMessage[];
  users(): DoubleUser[];
  /** Adds an appointment directly (someone at the front desk booked it). */
  addAppointment(appointment: Omit<DoubleAppointment, 'pc_eid'>): DoubleAppointment;
  /** Every current access token stops working (the "401 mid-call" case). */
  expireAccessTokens(): void;
  /** Every refresh token is revoked (an admin revoked the client, or it expired). */
  revokeRefreshTokens(): void;
  /** Count of token grants of one type issued so far. */
  grants(type: string): number;
  close(): Promise<void>;
}

interface TokenGrant { username: string; scopes: Set<string>; clientId: string; expiresAt: number }
interface AuthCode { clientId: string; redirectUri: string; challenge: string; scopes: string; username: string; used: boolean }

/** Filters `GET /api/patient` understands; anything else is silently ignored, as OpenEMR does. */
const PATIENT_FILTERS = new Set(['fname', 'lname', 'ss', 'street', 'postal_code', 'city', 'state', 'phone_home', 'phone_biz',
  'phone_cell', 'postal_contact', 'sex', 'country_code', 'email', 'DOB', 'date']);
const EXACT_FILTERS = new Set(['DOB', 'phone_home', 'phone_biz', 'phone_cell', 'ss', 'postal_code', 'sex', 'date']);
const APPOINTMENT_REQUIRED = ['pc_catid', 'pc_title', 'pc_duration', 'pc_hometext', 'pc_apptstatus', 'pc_eventDate',
  'pc_startTime', 'pc_facility', 'pc_billing_location'];
const MESSAGE_REQUIRED = ['body', 'groupname', 'from', 'to', 'title', 'message_status'];

export async function startOpenEmrDouble(options: OpenEmrDoubleOptions = {}): Promise<OpenEmrDouble> {
  const site = options.site ?? 'default';
  const accessTtl = options.accessTokenTtlSec ?? 3600;
  const client = options.client ?? SEED_CLIENT;
  const passwordGrant = options.passwordGrant ?? true;
  const patients = (options.patients ?? seedPatients()).map((p) => ({ ...p }));
  const users = (options.users ?? seedUsers()).map((u) => ({ ...u }));
  const appointments: DoubleAppointment[] = [];
  const messages: DoubleMessage[] = [];
  const requests: RecordedRequest[] = [];
  const accessTokens = new Map<string, TokenGrant>();
  const refreshTokens = new Map<string, TokenGrant & { revoked: boolean }>();
  const codes = new Map<string, AuthCode>();
  const grantCounts = new Map<string, number>();
  const faults: DoubleFaults = { down: false, latencyMs: 0, serverErrors: 0, garbage: 0, lostWriteResponses: 0, tokenErrors: 0, failedDeletes: 0, hangWriteResponses: 0 };
  const sockets = new Set<Socket>();
  const timers = new Set<NodeJS.Timeout>();
  let nextEid = 1;
  let nextMid = 1;

  const wait = (ms: number) => new Promise<void>((resolve) => {
    const timer = setTimeout(() => { timers.delete(timer); resolve(); }, ms);
    timers.add(timer);
  });

  function issueTokens(username: string, scopes: string, withRefresh: boolean): Record<string, unknown> {
    const access = randomBytes(24).toString('base64url');
    const grant: TokenGrant = { username, scopes: new Set(scopes.split(/\s+/).filter(Boolean)), clientId: client.clientId, expiresAt: Date.now() + accessTtl * 1000 };
    accessTokens.set(access, grant);
    const body: Record<string, unknown> = { token_type: 'Bearer', expires_in: accessTtl, access_token: access, scope: scopes };
    if (withRefresh && grant.scopes.has('offline_access')) {
      const refresh = randomBytes(32).toString('base64url');
      refreshTokens.set(refresh, { ...grant, revoked: false, expiresAt: Date.now() + 90 * 86_400_000 });
      body.refresh_token = refresh;
    }
    return body;
  }

  function count(type: string): void {
    grantCounts.set(type, (grantCounts.get(type) ?? 0) + 1);
  }

  function clientAuthenticated(req: IncomingMessage, form: Record<string, string>): boolean {
    let id = form.client_id;
    let secret = form.client_secret;
    const basic = /^Basic (.+)$/i.exec(req.headers.authorization ?? '');
    if (basic) [id, secret] = Buffer.from(basic[1]!, 'base64').toString().split(':') as [string, string];
    if (id !== client.clientId) return false;
    return client.clientSecret === undefined || secret === client.clientSecret;
  }

  function token(req: IncomingMessage, form: Record<string, string>, res: ServerResponse): void {
    if (faults.tokenErrors > 0) {
      faults.tokenErrors--;
      return send(res, 500, { error: 'server_error' });
    }
    if (!clientAuthenticated(req, form)) return send(res, 401, { error: 'invalid_client', error_description: 'Client authentication failed', message: 'Client authentication failed' });
    switch (form.grant_type) {
      case 'password': {
        if (!passwordGrant) return send(res, 400, { error: 'unsupported_grant_type' });
        const user = users.find((u) => u.username === form.username && u.password === form.password);
        if (!user || form.user_role !== 'users') return send(res, 400, { error: 'invalid_grant', error_description: 'Failed Authentication' });
        count('password');
        return send(res, 200, issueTokens(user.username, form.scope ?? '', true));
      }
      case 'authorization_code': {
        const code = codes.get(form.code ?? '');
        if (!code || code.used || code.clientId !== client.clientId || code.redirectUri !== form.redirect_uri) {
          return send(res, 400, { error: 'invalid_grant', error_description: 'Authorization code is invalid' });
        }
        const challenge = createHash('sha256').update(form.code_verifier ?? '').digest('base64url');
        if (challenge !== code.challenge) return send(res, 400, { error: 'invalid_grant', error_description: 'Failed to verify code_verifier' });
        code.used = true;
        count('authorization_code');
        return send(res, 200, issueTokens(code.username, code.scopes, true));
      }
      case 'refresh_token': {
        const grant = refreshTokens.get(form.refresh_token ?? '');
        if (!grant || grant.revoked || grant.expiresAt < Date.now()) {
          return send(res, 400, { error: 'invalid_grant', error_description: 'The refresh token is invalid.' });
        }
        grant.revoked = true; // rotation: each refresh revokes the previous refresh token
        count('refresh_token');
        return send(res, 200, issueTokens(grant.username, [...grant.scopes].join(' '), true));
      }
      default:
        return send(res, 400, { error: 'unsupported_grant_type' });
    }
  }

  function authorize(query: Record<string, string>, res: ServerResponse): void {
    const redirect = query.redirect_uri ?? '';
    let target: URL;
    try {
      target = new URL(redirect);
    } catch {
      return send(res, 400, { error: 'invalid_request', error_description: 'redirect_uri' });
    }
    const loopback = ['127.0.0.1', 'localhost', '[::1]'].includes(target.hostname);
    if (query.client_id !== client.clientId || (!loopback && !client.redirectUris.includes(redirect))) {
      return send(res, 400, { error: 'invalid_client' });
    }
    if (query.response_type !== 'code' || query.code_challenge_method !== 'S256' || !query.code_challenge) {
      return send(res, 400, { error: 'invalid_request', error_description: 'PKCE with S256 is required' });
    }
    // The real server shows a login and consent page here; the double logs in the API user and consents.
    const code = randomBytes(16).toString('base64url');
    codes.set(code, { clientId: client.clientId, redirectUri: redirect, challenge: query.code_challenge, scopes: query.scope ?? '', username: SEED_API_USER.username, used: false });
    target.searchParams.set('code', code);
    if (query.state) target.searchParams.set('state', query.state);
    res.writeHead(302, { location: target.toString() }).end();
  }

  /** Returns the grant, or answers 401 itself. */
  function authenticate(req: IncomingMessage, res: ServerResponse, scope: string): TokenGrant | undefined {
    const bearer = /^Bearer (.+)$/i.exec(req.headers.authorization ?? '')?.[1];
    const grant = bearer ? accessTokens.get(bearer) : undefined;
    if (!grant || grant.expiresAt < Date.now()) {
      send(res, 401, { error: 'access_denied', error_description: 'The resource owner or authorization server denied the request.', hint: 'Access token could not be verified', message: 'The resource owner or authorization server denied the request.' });
      return undefined;
    }
    if (!grant.scopes.has('api:oemr') || !grant.scopes.has(scope)) {
      res.writeHead(401).end(); // permission problems: 401 with an empty body, never 403
      return undefined;
    }
    return grant;
  }

  function searchPatients(query: Record<string, string>): DoublePatient[] {
    const filters = Object.entries(query).filter(([name]) => PATIENT_FILTERS.has(name));
    return patients.filter((p) => filters.every(([name, value]) => {
      const stored = String((p as unknown as Record<string, string>)[name] ?? '');
      return EXACT_FILTERS.has(name) ? stored === value : stored.toLowerCase().includes(value.toLowerCase());
    }));
  }

  function validateAppointment(body: Record<string, unknown>): Record<string, string> | undefined {
    const errors: Record<string, string> = {};
    for (const field of APPOINTMENT_REQUIRED) {
      if (body[field] === undefined || body[field] === null || body[field] === '') errors[field] = `${field} is required`;
    }
    if (typeof body.pc_startTime === 'string' && !/^\d{2}:\d{2}$/.test(body.pc_startTime)) errors.pc_startTime = 'pc_startTime must be exactly 5 characters long';
    if (typeof body.pc_eventDate === 'string' && !/^\d{4}-\d{2}-\d{2}$/.test(body.pc_eventDate)) errors.pc_eventDate = 'pc_eventDate must be a date';
    if (body.pc_duration !== undefined && !/^\d+$/.test(String(body.pc_duration))) errors.pc_duration = 'pc_duration must be numeric';
    return Object.keys(errors).length ? errors : undefined;
  }

  async function api(req: IncomingMessage, res: ServerResponse, path: string, query: Record<string, string>, body: unknown): Promise<void> {
    const method = req.method ?? 'GET';
    let m: RegExpExecArray | null;
    const respondAfterFaults = (): boolean => {
      if (faults.serverErrors > 0) {
        faults.serverErrors--;
        send(res, 500, { error: 'internal_error' });
        return false;
      }
      if (faults.garbage > 0) {
        faults.garbage--;
        res.writeHead(200, { 'content-type': 'application/json' }).end('{"validationErrors":[],"data":[{"pid":"1",');
        return false;
      }
      return true;
    };

    if (method === 'GET' && path === '/api/patient') {
      if (!authenticate(req, res, 'user/patient.read') || !respondAfterFaults()) return;
      return send(res, 200, { validationErrors: [], internalErrors: [], data: searchPatients(query).map(patientJson) });
    }
    if ((m = /^\/api\/patient\/([^/]+)\/appointment$/.exec(path))) {
      const pid = decodeURIComponent(m[1]!);
      if (method === 'GET') {
        if (!authenticate(req, res, 'user/appointment.read') || !respondAfterFaults()) return;
        const list = appointments.filter((a) => a.pc_pid === pid);
        return list.length ? send(res, 200, list.map(appointmentJson)) : send(res, 404, null);
      }
      if (method === 'POST') {
        if (!authenticate(req, res, 'user/appointment.write') || !respondAfterFaults()) return;
        if (!isObject(body)) return send(res, 400, { validationErrors: { body: 'JSON object required' } });
        const errors = validateAppointment(body);
        if (errors) return send(res, 400, { validationErrors: errors, internalErrors: [], data: [] });
        if (!patients.some((p) => p.pid === pid)) return send(res, 400, { validationErrors: { pid: 'unknown patient' } });
        const startTime = `${String(body.pc_startTime)}:00`;
        const durationSec = Number(body.pc_duration);
        const [h, mi] = String(body.pc_startTime).split(':').map(Number) as [number, number];
        const endMin = h * 60 + mi + Math.round(durationSec / 60);
        const appointment: DoubleAppointment = {
          pc_eid: String(nextEid++), pc_pid: pid, pc_aid: String(body.pc_aid ?? ''), pc_catid: String(body.pc_catid),
          pc_title: String(body.pc_title), pc_hometext: String(body.pc_hometext), pc_eventDate: String(body.pc_eventDate),
          pc_startTime: startTime, pc_endTime: `${pad2(Math.floor(endMin / 60) % 24)}:${pad2(endMin % 60)}:00`,
          pc_duration: String(durationSec), pc_apptstatus: String(body.pc_apptstatus), pc_facility: String(body.pc_facility),
          pc_billing_location: String(body.pc_billing_location), facility_name: 'Maple Street Family Clinic',
        };
        appointments.push(appointment); // no overlap check and no idempotency, like OpenEMR
        if (faults.lostWriteResponses > 0) {
          faults.lostWriteResponses--;
          req.socket.destroy();
          return;
        }
        if (faults.hangWriteResponses > 0) {
          faults.hangWriteResponses--;
          return; // never answered; close() destroys the socket
        }
        return send(res, 200, { id: Number(appointment.pc_eid) });
      }
    }
    if ((m = /^\/api\/patient\/([^/]+)\/appointment\/([^/]+)$/.exec(path))) {
      const eid = decodeURIComponent(m[2]!);
      if (method === 'DELETE') {
        if (!authenticate(req, res, 'user/appointment.write') || !respondAfterFaults()) return;
        if (faults.failedDeletes > 0) {
          faults.failedDeletes--;
          return send(res, 500, { error: 'internal_error' });
        }
        // OpenEMR does not check that the appointment belongs to the pid in the path: a hard delete by eid.
        const index = appointments.findIndex((a) => a.pc_eid === eid);
        if (index >= 0) appointments.splice(index, 1);
        return send(res, 200, { validationErrors: [], internalErrors: [], data: { message: 'record deleted' } });
      }
      if (method === 'GET') {
        if (!authenticate(req, res, 'user/appointment.read') || !respondAfterFaults()) return;
        const found = appointments.filter((a) => a.pc_eid === eid);
        return found.length ? send(res, 200, found.map(appointmentJson)) : send(res, 404, null);
      }
      // PUT/PATCH: OpenEMR has no appointment update endpoint.
    }
    if (method === 'GET' && path === '/api/appointment') {
      if (!authenticate(req, res, 'user/appointment.read') || !respondAfterFaults()) return;
      return send(res, 200, appointments.map(appointmentJson));
    }
    if (method === 'POST' && (m = /^\/api\/patient\/([^/]+)\/message$/.exec(path))) {
      if (!authenticate(req, res, 'user/message.write') || !respondAfterFaults()) return;
      const pid = decodeURIComponent(m[1]!);
      if (!isObject(body)) return send(res, 400, { validationErrors: { body: 'JSON object required' } });
      const missing = MESSAGE_REQUIRED.filter((f) => typeof body[f] !== 'string' || body[f] === '');
      if (missing.length) return send(res, 400, Object.fromEntries(missing.map((f) => [f, `${f} is required`])));
      if (!users.some((u) => u.username === body.to)) return send(res, 400, { to: 'unknown user' });
      if (!patients.some((p) => p.pid === pid)) return send(res, 400, { pid: 'unknown patient' });
      const message: DoubleMessage = {
        mid: String(nextMid++), pid, body: String(body.body), groupname: String(body.groupname), from: String(body.from),
        to: String(body.to), title: String(body.title), message_status: String(body.message_status),
      };
      messages.push(message);
      return send(res, 201, { mid: Number(message.mid) });
    }
    res.writeHead(404).end();
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (faults.down && !req.url?.startsWith('/__double/')) {
      req.socket.destroy();
      return;
    }
    const url = new URL(req.url ?? '/', 'http://double');
    const query = Object.fromEntries(url.searchParams);
    const raw = await readBody(req);
    if (url.pathname === '/__double/faults') {
      // Demo control (not OpenEMR): POST a JSON subset of DoubleFaults, e.g. {"down":true} or {"latencyMs":5000}.
      if (req.method === 'POST') {
        try {
          const patch = JSON.parse(raw || '{}') as Record<string, unknown>;
          for (const [key, value] of Object.entries(patch)) {
            if (key in faults && typeof value === typeof faults[key as keyof DoubleFaults]) (faults as unknown as Record<string, unknown>)[key] = value;
          }
          if (patch.expireAccessTokens === true) accessTokens.clear();
          if (patch.revokeRefreshTokens === true) for (const grant of refreshTokens.values()) grant.revoked = true;
        } catch {
          return send(res, 400, { error: 'JSON object expected' });
        }
      }
      return send(res, 200, faults);
    }
    const contentType = req.headers['content-type']?.split(';')[0]?.trim();
    let body: unknown;
    let badJson = false;
    if (raw.length) {
      if (contentType === 'application/x-www-form-urlencoded') body = Object.fromEntries(new URLSearchParams(raw));
      else {
        try {
          body = JSON.parse(raw);
        } catch {
          badJson = true;
        }
      }
    }
    requests.push({ method: req.method ?? 'GET', path: url.pathname, query, contentType, body, authorized: Boolean(req.headers.authorization) });
    if (faults.latencyMs > 0) await wait(faults.latencyMs);
    if (res.destroyed || faults.down) {
      req.socket.destroy();
      return;
    }
    const oauth = /^\/oauth2\/([^/]+)(\/.*)$/.exec(url.pathname);
    if (oauth) {
      if (oauth[1] !== site) return void res.writeHead(400).end();
      if (oauth[2] === '/token' && req.method === 'POST') return token(req, (body ?? {}) as Record<string, string>, res);
      if (oauth[2] === '/authorize' && req.method === 'GET') return authorize(query, res);
      return void res.writeHead(404).end();
    }
    const apis = /^\/apis\/([^/]+)(\/.*)$/.exec(url.pathname);
    if (apis) {
      if (apis[1] !== site) return void res.writeHead(400).end(); // wrong site: 400 with an empty body
      if (badJson) return send(res, 400, { validationErrors: { body: 'malformed JSON' } });
      return api(req, res, apis[2]!, query, body);
    }
    res.writeHead(404).end();
  }

  const server: Server = createServer((req, res) => {
    handle(req, res).catch(() => {
      if (!res.headersSent) res.writeHead(500).end();
    });
  });
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(options.port ?? 0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;

  return {
    url: `http://127.0.0.1:${port}`,
    site, client, faults, requests,
    apiUser: { ...SEED_API_USER },
    patients: () => patients.map((p) => ({ ...p })),
    appointments: () => appointments.map((a) => ({ ...a })),
    messages: () => messages.map((msg) => ({ ...msg })),
    users: () => users.map((u) => ({ ...u })),
    addAppointment(appointment) {
      const created = { ...appointment, pc_eid: String(nextEid++) };
      appointments.push(created);
      return { ...created };
    },
    expireAccessTokens: () => accessTokens.clear(),
    revokeRefreshTokens: () => { for (const grant of refreshTokens.values()) grant.revoked = true; },
    grants: (type) => grantCounts.get(type) ?? 0,
    async close() {
      for (const timer of timers) clearTimeout(timer);
      timers.clear();
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

function patientJson(p: DoublePatient): Record<string, unknown> {
  return { id: p.pid, pid: p.pid, uuid: p.uuid, title: '', fname: p.fname, mname: '', lname: p.lname, DOB: p.DOB, sex: p.sex,
    phone_home: p.phone_home, phone_cell: p.phone_cell, phone_biz: p.phone_biz, phone_contact: '', email: '' };
}

function appointmentJson(a: DoubleAppointment): Record<string, unknown> {
  return { ...a, pc_uuid: `appt-${a.pc_eid}` };
}

function send(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function pad2(n: number): string {
  return String(n).padStart(2, '0');
}
