/**
 * Clinic information: hours, address, directions, from the clinic config alone (no identification, no EMR).
 * By keypad (one menu entry) the caller hears all three.
 */
import { describeHours } from '../clinic.js';
import type { Dialog, Said } from '../engine/node.js';

export function clinicInfo(topic: 'hours' | 'address' | 'directions', d: Dialog, fromKeypad: boolean): void {
  const parts: Said[] = [];
  if (topic === 'hours' || fromKeypad) parts.push(d.p('hoursIntro', { hours: describeHours(d.clinic) }));
  if (topic !== 'hours' || fromKeypad) parts.push(d.p('addressIntro', { address: d.clinic.address }));
  if ((topic === 'directions' || fromKeypad) && d.clinic.directions) parts.push({ text: d.clinic.directions, cacheable: true });
  for (const said of parts) d.say(said);
  d.goto('anything-else');
}
