/**
 * OpenEMR's standard REST API (`/apis/SITE/api/...`), shaped as OpenEMR speaks it. One retry after a 401 with a
 * fresh token; 404-with-null means "none"; every other failure is a typed EmrError. Responses are validated, so
 * garbage never reaches the dialog. A small concurrency cap throttles us, since OpenEMR has no rate limits.
 */
import { z } from 'zod';
import type { Logger } from '../log.js';
import { checkBaseUrl, httpRequest, parseJson } from './http.js';
import type { OAuthTokenManager } from './oauth.js';
import { EmrError } from './types.js';

const str = z.union([z.string(), z.number()]).transform(String);
const optStr = z.union([z.string(), z.number(), z.null()]).optional().transform((v) => (v === null || v === undefined ? '' : String(v)));

export const OpenEmrPatientSchema = z.object({
  pid: str, uuid: optStr, fname: optStr, lname: optStr, DOB: optStr, phone_home: optStr, phone_cell: optStr, phone_biz: optStr,
});
export type OpenEmrPatient = z.infer<typeof OpenEmrPatientSchema>;

export const OpenEmrAppointmentSchema = z.object({
  pc_eid: str, pc_pid: optStr, pc_aid: optStr, pc_catid: optStr, pc_title: optStr, pc_hometext: optStr,
  pc_eventDate: z.string().regex(/^\d{4}-\d{2}-\d{2}$/),
  pc_startTime: z.string().regex(/^\d{2}:\d{2}(:\d{2})?$/),
  pc_endTime: optStr, pc_duration: optStr, pc_apptstatus: optStr, pc_facility: optStr,
});
export type OpenEmrAppointment = z.infer<typeof OpenEmrAppointmentSchema>;

const PatientListSchema = z.object({ data: z.array(OpenEmrPatientSchema).nullable().optional() });
const AppointmentListSchema = z.array(OpenEmrAppointmentSchema).nullable();
const CreatedSchema = z.object({ id: str });
const MessageCreatedSchema = z.object({ mid: str });

/** Body of `POST /api/patient/{pid}/appointment`; every value a string, as the spec types them. */
export interface NewOpenEmrAppointment {
  pc_catid: string;
  pc_title: string;
  /** Seconds. */
  pc_duration: string;
  pc_hometext: string;
  pc_apptstatus: string;
  pc_eventDate: string;
  /** Exactly HH:MM: OpenEMR rejects HH:MM:SS here. */
  pc_startTime: string;
  pc_facility: string;
  pc_billing_location: string;
  pc_aid: string;
}

export interface NewOpenEmrMessage {
  body: string;
  groupname: string;
  from: string;
  to: string;
  title: string;
  message_status: string;
}

/** Filters `GET /api/patient` documents. Anything else would be silently dropped and match every patient. */
export type PatientFilter = Partial<Record<'fname' | 'lname' | 'DOB' | 'phone_home' | 'phone_cell' | 'phone_biz', string>>;

export interface OpenEmrClientOptions {
  baseUrl: string;
  site: string;
  auth: OAuthTokenManager;
  timeoutMs: number;
  allowInsecureHttp?: boolean;
  /** Requests in flight at once. */
  maxConcurrent?: number;
  logger?: Logger;
  fetch?: typeof fetch;
}

export class OpenEmrClient {
  private readonly apiBase: string;
  private active = 0;
  private readonly waiting: Array<() => void> = [];

  constructor(private readonly options: OpenEmrClientOptions) {
    const base = checkBaseUrl(options.baseUrl, options.allowInsecureHttp ?? false);
    this.apiBase = new URL(`/apis/${options.site}`, base).toString();
  }

  async searchPatients(filter: PatientFilter, signal?: AbortSignal): Promise<OpenEmrPatient[]> {
    const query = new URLSearchParams(Object.entries(filter).filter(([, v]) => v !== undefined) as Array<[string, string]>);
    const res = await this.call('GET', `/api/patient?${query}`, undefined, signal);
    if (res.status === 404) return [];
    this.expect(res.status, [200], 'patient search');
    const parsed = PatientListSchema.safeParse(parseJson(res.text, 'patient search'));
    if (!parsed.success) throw new EmrError('invalid-response', 'OpenEMR patient search answer has an unexpected shape');
    return parsed.data.data ?? [];
  }

  async patientAppointments(pid: string, signal?: AbortSignal): Promise<OpenEmrAppointment[]> {
    const res = await this.call('GET', `/api/patient/${encodeURIComponent(pid)}/appointment`, undefined, signal);
    return this.appointmentList(res, 'patient appointments');
  }

  async allAppointments(signal?: AbortSignal): Promise<OpenEmrAppointment[]> {
    const res = await this.call('GET', '/api/appointment', undefined, signal);
    return this.appointmentList(res, 'appointments');
  }

  /** Returns the new appointment's eid. */
  async createAppointment(pid: string, appointment: NewOpenEmrAppointment, signal?: AbortSignal): Promise<string> {
    if (!/^\d{2}:\d{2}$/.test(appointment.pc_startTime)) throw new EmrError('invalid-response', 'pc_startTime must be HH:MM');
    const res = await this.call('POST', `/api/patient/${encodeURIComponent(pid)}/appointment`, appointment, signal);
    this.expect(res.status, [200, 201], 'appointment creation');
    const parsed = CreatedSchema.safeParse(parseJson(res.text, 'appointment creation'));
    if (!parsed.success) throw new EmrError('invalid-response', 'OpenEMR appointment creation answer lacks an id');
    return parsed.data.id;
  }

  async deleteAppointment(pid: string, eid: string, signal?: AbortSignal): Promise<void> {
    const res = await this.call('DELETE', `/api/patient/${encodeURIComponent(pid)}/appointment/${encodeURIComponent(eid)}`, undefined, signal);
    this.expect(res.status, [200, 204], 'appointment deletion');
  }

  /** Returns the message id. */
  async sendMessage(pid: string, message: NewOpenEmrMessage, signal?: AbortSignal): Promise<string> {
    const res = await this.call('POST', `/api/patient/${encodeURIComponent(pid)}/message`, message, signal);
    this.expect(res.status, [200, 201], 'message');
    const parsed = MessageCreatedSchema.safeParse(parseJson(res.text, 'message'));
    if (!parsed.success) throw new EmrError('invalid-response', 'OpenEMR message answer lacks a mid');
    return parsed.data.mid;
  }

  private appointmentList(res: { status: number; text: string }, what: string): OpenEmrAppointment[] {
    if (res.status === 404) return []; // OpenEMR's way of saying "none": 404 with a null body
    this.expect(res.status, [200], what);
    const parsed = AppointmentListSchema.safeParse(parseJson(res.text, what));
    if (!parsed.success) throw new EmrError('invalid-response', `OpenEMR ${what} answer has an unexpected shape`);
    return parsed.data ?? [];
  }

  private expect(status: number, ok: number[], what: string): void {
    if (ok.includes(status)) return;
    if (status >= 500) throw new EmrError('unavailable', `OpenEMR answered ${status} to ${what}`);
    if (status === 401 || status === 403) throw new EmrError('forbidden', `OpenEMR refused ${what} (${status})`);
    if (status === 404) throw new EmrError('not-found', `OpenEMR found nothing for ${what}`);
    throw new EmrError('invalid-response', `OpenEMR answered ${status} to ${what}`);
  }

  private async call(method: string, path: string, body: unknown, signal?: AbortSignal): Promise<{ status: number; text: string }> {
    await this.acquire();
    try {
      let token = await this.options.auth.accessToken();
      let res = await this.send(method, path, body, token, signal);
      if (res.status === 401) {
        // Expired or revoked mid-call: one retry with a fresh token. A second 401 is a permission problem.
        this.options.auth.invalidate(token);
        token = await this.options.auth.accessToken();
        res = await this.send(method, path, body, token, signal);
      }
      this.options.logger?.debug({ method, route: path.replace(/\/\d+/g, '/:id').replace(/\?.*$/, ''), status: res.status }, 'openemr request');
      return res;
    } finally {
      this.release();
    }
  }

  private send(method: string, path: string, body: unknown, token: string, signal?: AbortSignal) {
    const headers: Record<string, string> = { authorization: `Bearer ${token}`, accept: 'application/json' };
    if (body !== undefined) headers['content-type'] = 'application/json';
    return httpRequest(`${this.apiBase}${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) },
      { timeoutMs: this.options.timeoutMs, signal, fetch: this.options.fetch });
  }

  private async acquire(): Promise<void> {
    if (this.active < (this.options.maxConcurrent ?? 4)) {
      this.active++;
      return;
    }
    await new Promise<void>((resolve) => this.waiting.push(resolve));
  }

  private release(): void {
    const next = this.waiting.shift();
    if (next) next();
    else this.active--;
  }
}
