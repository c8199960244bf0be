import { Admission, type AdmissionMode, type AdmissionRefusal } from './admission.port';

/**
 * The memory engine's admission: one process is the whole cluster, so the
 * handshake's own checks (ConnectionRegistry counts, the connect-rate
 * window) and SessionRules' per-user check of `auth` already are the
 * limits. Nothing to reserve, nothing to wait for.
 */
export class LocalAdmission extends Admission {
  readonly mode: AdmissionMode = 'local';

  reserve(): AdmissionRefusal | undefined {
    return undefined;
  }

  reserveUser(): AdmissionRefusal | undefined {
    return undefined;
  }

  releaseUser(): void {}
}
