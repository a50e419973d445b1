/**
 * Principals the tests act as, as a verified token would give them: a US data-security steward,
 * an SG data-protection officer and a US application service.
 */
import type { Principal } from '../../src/services/access/principal.js';

export const steward: Principal = {
  id: 'steward-1',
  type: 'employee',
  department: 'us-data-security',
  roles: [],
  country: 'US',
  mfa: false,
};

export const sgOfficer: Principal = {
  ...steward,
  id: 'sg-officer',
  department: 'sg-data-protection',
  country: 'SG',
};

export const usApp: Principal = {
  id: 'us-video-app',
  type: 'service',
  department: undefined,
  roles: ['app'],
  country: 'US',
  mfa: false,
  jurisdiction: 'US',
};
