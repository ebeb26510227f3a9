/** Seed data for the OpenEMR double: a few patients (phones stored in OpenEMR's usual mixed formats) and providers. */

export interface DoublePatient {
  pid: string;
  uuid: string;
  fname: string;
  lname: string;
  DOB: string;
  phone_home: string;
  phone_cell: string;
  phone_biz: string;
  sex: string;
}

export interface DoubleUser {
  id: string;
  username: string;
  password: string;
  fname: string;
  lname: string;
}

export interface DoubleAppointment {
  pc_eid: string;
  pc_pid: string;
  pc_aid: string;
  pc_catid: string;
  pc_title: string;
  pc_hometext: string;
  pc_eventDate: string;
  pc_startTime: string;   // HH:MM:SS as OpenEMR returns it
  pc_endTime: string;
  pc_duration: string;    // seconds
  pc_apptstatus: string;
  pc_facility: string;
  pc_billing_location: string;
  facility_name: string;
}

export interface DoubleMessage {
  mid: string;
  pid: string;
  body: string;
  groupname: string;
  from: string;
  to: string;
  title: string;
  message_status: string;
}

export interface DoubleClient {
  clientId: string;
  clientSecret?: string;
  redirectUris: string[];
}

export const SEED_CLIENT: DoubleClient = { clientId: 'carevox-double-client', clientSecret: 'double-client-secret', redirectUris: [] };
/** The dedicated low-privilege API user the assistant logs in as. */
export const SEED_API_USER = { username: 'carevox', password: 'carevox-double-pass' };

export function seedUsers(): DoubleUser[] {
  return [
    { id: '1', username: 'admin', password: 'admin-double-pass', fname: 'Admin', lname: 'Istrator' },
    { id: '2', username: 'ppatel', password: 'x', fname: 'Priya', lname: 'Patel' },
    { id: '3', username: 'snguyen', password: 'x', fname: 'Sam', lname: 'Nguyen' },
    { id: '4', username: 'dlee', password: 'x', fname: 'Dana', lname: 'Lee' },
    { id: '5', username: 'frontdesk', password: 'x', fname: 'Front', lname: 'Desk' },
    { id: '6', username: 'nurse', password: 'x', fname: 'Triage', lname: 'Nurse' },
    { id: '7', username: SEED_API_USER.username, password: SEED_API_USER.password, fname: 'Carevox', lname: 'Assistant' },
  ];
}

export function seedPatients(): DoublePatient[] {
  const p = (pid: string, fname: string, lname: string, DOB: string, phone_cell: string, phone_home = '', sex = 'Female'): DoublePatient =>
    ({ pid, uuid: `9a1b2c3d-0000-4000-8000-${pid.padStart(12, '0')}`, fname, lname, DOB, phone_cell, phone_home, phone_biz: '', sex });
  return [
    p('1', 'Jane', 'Doe', '1980-02-03', '555-555-0101'),
    p('2', 'John', 'Doe', '1978-11-30', '', '(555) 555-0101', 'Male'),           // same household line, stored differently
    p('3', 'Maria', 'Garcia', '1992-07-14', '5555550102'),
    p('4', 'Anne', 'Smith', '1965-05-09', '+1 555 555 0103'),
    p('5', 'Ann', 'Smithers', '1965-05-09', '555.555.0104'),                      // a substring-name trap for "Ann Smith"
    p('6', 'Robert', 'Brown', '2001-01-20', '555-555-0105', '555-555-0106', 'Male'),
  ];
}

/** How the demo clinic (dialog's defaultClinicConfig) maps onto the double's OpenEMR ids. */
export const DOUBLE_MAPPING = {
  providers: { patel: '2', nguyen: '3', lee: '4' } as Record<string, string>,
  appointmentTypes: { checkup: '9', sick: '5', followup: '13' } as Record<string, string>,
};
export const DOUBLE_FACILITY_ID = '3';
