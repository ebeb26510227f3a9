export { startOpenEmrDouble, type OpenEmrDouble, type OpenEmrDoubleOptions, type DoubleFaults, type RecordedRequest } from './server.js';
export {
  SEED_API_USER, SEED_CLIENT, seedPatients, seedUsers, DOUBLE_MAPPING, DOUBLE_FACILITY_ID,
  type DoublePatient, type DoubleUser, type DoubleAppointment, type DoubleMessage, type DoubleClient,
} from './seed.js';
