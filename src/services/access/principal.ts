/**
 * Principals: authenticated callers, services or employees. Built only from verified token
 * claims; nothing a request says about itself (a location header, say) is ever taken.
 */

/** An authenticated caller. */
export interface Principal {
  readonly id: string;
  readonly type: 'employee' | 'service';
  readonly department: string | undefined;
  readonly roles: readonly string[];
  /** ISO country the caller is located in, from the token's `loc` claim. */
  readonly country: string | undefined;
  readonly mfa: boolean;
  /** A service's home jurisdiction id, from the token's `jur` claim (or the issuer's mapped claim). */
  readonly jurisdiction?: string | undefined;
}

/** What the audit log keeps of a principal: no name, no e-mail, only attributes. */
export interface PrincipalSummary {
  readonly id: string;
  readonly type: 'employee' | 'service';
  readonly department: string | null;
  readonly country: string | null;
}

/** The audit view of a principal. */
export function summarizePrincipal(principal: Principal): PrincipalSummary {
  return {
    id: principal.id,
    type: principal.type,
    department: principal.department ?? null,
    country: principal.country ?? null,
  };
}
