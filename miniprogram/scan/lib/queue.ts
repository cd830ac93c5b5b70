/**
 * The scanner's local log of accepted scans, and the queue of those made offline.
 *
 * Every accepted scan gets a client id (device id, time, counter: `^[A-Za-z0-9._:-]{1,64}$`)
 * before anything is sent. A scan the server has answered is `done`; one made offline (or whose
 * answer was lost) is `pending` and goes up with POST /checkins/batch when the network returns.
 * The server merges by (scanner, client id), so a batch sent twice, or a scan sent online and
 * again in a batch, is recorded once. Conflicts (the same pass checked in on another device that
 * day) come back from the merge and are kept here to show staff. Nothing personal is stored: the
 * token holds no personal data, and the name shown comes from the bundle.
 */
import type { KeyValue } from './store';

const QUEUE_KEY = 'scan_queue';
const DEVICE_KEY = 'scan_device_id';
const COUNTER_KEY = 'scan_counter';
/** The server takes at most 2000 scans per batch; smaller batches finish sooner on poor Wi-Fi. */
export const BATCH_SIZE = 200;
/** Done scans are kept this long (to answer "already checked in" on this device), then dropped. */
export const KEEP_DONE_MS = 36 * 3600 * 1000;

export type ServerResult = 'ok' | 'already_checked_in' | 'revoked' | 'wrong_session' | 'not_today' | 'invalid';

export interface QueuedScan {
  client_id: string;
  token: string;
  session_id: string;
  device_id: string;
  /** ISO time of the scan (the phone's clock). */
  scanned_at: string;
  serial: string;
  state: 'pending' | 'done';
  result?: ServerResult;
  conflict?: boolean;
}

export interface OfflineScanOut {
  token: string;
  session_id: string;
  client_id: string;
  device_id: string;
  scanned_at: string;
}

export interface BatchAnswer {
  results: { client_id: string; result: ServerResult; conflict: boolean }[];
  recorded: number;
  conflicts: number;
}

export interface SyncReport {
  sent: number;
  recorded: number;
  conflicts: number;
  refused: number;
  pending: number;
}

/** This phone's scanner id (made once, kept in storage). */
export function deviceId(kv: KeyValue, random: () => number = Math.random): string {
  const known = kv.get(DEVICE_KEY);
  if (typeof known === 'string' && known) {
    return known;
  }
  const id = `ph-${Math.floor(random() * 0x100000000).toString(16).padStart(8, '0')}`;
  kv.set(DEVICE_KEY, id);
  return id;
}

/** The Beijing calendar day of a moment (a check-in counts once per pass per training day). */
export function beijingDay(at: Date): string {
  return new Date(at.getTime() + 8 * 3600 * 1000).toISOString().slice(0, 10);
}

export class ScanQueue {
  private readonly kv: KeyValue;
  readonly device: string;

  constructor(kv: KeyValue, device?: string) {
    this.kv = kv;
    this.device = device || deviceId(kv);
  }

  /** Every kept scan, oldest first. */
  all(): QueuedScan[] {
    const list = this.kv.get(QUEUE_KEY);
    return Array.isArray(list) ? (list as QueuedScan[]) : [];
  }

  private save(list: QueuedScan[]): void {
    this.kv.set(QUEUE_KEY, list);
  }

  /** A new client id, unique on this device. */
  nextClientId(now: Date = new Date()): string {
    const n = (Number(this.kv.get(COUNTER_KEY)) || 0) + 1;
    this.kv.set(COUNTER_KEY, n);
    return `${this.device}-${now.getTime().toString(36)}-${n}`;
  }

  /** Keep an accepted scan (pending until the server has it). */
  add(scan: Omit<QueuedScan, 'device_id'>): QueuedScan {
    const entry: QueuedScan = { ...scan, device_id: this.device };
    this.save(this.all().concat(entry));
    return entry;
  }

  /** Mark a scan answered by the server. */
  settle(clientId: string, result: ServerResult, conflict = false): void {
    this.save(this.all().map((s) => (s.client_id === clientId ? { ...s, state: 'done', result, conflict } : s)));
  }

  /** The first accepted scan of this pass on this device that Beijing day, if any. */
  seen(serial: string, sessionId: string, at: Date): QueuedScan | undefined {
    const day = beijingDay(at);
    return this.all().find((s) => s.serial === serial && s.session_id === sessionId
      && beijingDay(new Date(s.scanned_at)) === day && (s.state === 'pending' || s.result === 'ok'));
  }

  pending(sessionId?: string): QueuedScan[] {
    return this.all().filter((s) => s.state === 'pending' && (!sessionId || s.session_id === sessionId));
  }

  /** Scans the merge reported as conflicts (checked in on another device too): for staff. */
  conflicts(sessionId?: string): QueuedScan[] {
    return this.all().filter((s) => s.conflict && (!sessionId || s.session_id === sessionId));
  }

  /** Scans the server refused at the merge (revoked meanwhile, …). */
  refused(sessionId?: string): QueuedScan[] {
    return this.all().filter((s) => s.state === 'done' && s.result !== 'ok'
      && s.result !== 'already_checked_in' && (!sessionId || s.session_id === sessionId));
  }

  /**
   * Send the pending scans with `send` (POST /checkins/batch), BATCH_SIZE at a time, and mark each
   * answered one. A failure (no network) leaves the rest pending and is thrown to the caller.
   */
  async sync(send: (scans: OfflineScanOut[]) => Promise<BatchAnswer>): Promise<SyncReport> {
    const report: SyncReport = { sent: 0, recorded: 0, conflicts: 0, refused: 0, pending: 0 };
    for (;;) {
      const batch = this.pending().slice(0, BATCH_SIZE);
      if (!batch.length) break;
      const answer = await send(batch.map((s) => ({
        token: s.token, session_id: s.session_id, client_id: s.client_id, device_id: s.device_id, scanned_at: s.scanned_at,
      })));
      const byId = new Map(answer.results.map((r) => [r.client_id, r]));
      this.save(this.all().map((s) => {
        const r = byId.get(s.client_id);
        return r && s.state === 'pending' ? { ...s, state: 'done', result: r.result, conflict: r.conflict } : s;
      }));
      report.sent += batch.length;
      report.recorded += answer.recorded;
      report.conflicts += answer.conflicts;
      report.refused += answer.results.filter((r) => r.result !== 'ok' && r.result !== 'already_checked_in').length;
      if (batch.some((s) => !byId.has(s.client_id))) break; // the server skipped some: do not loop on them
    }
    report.pending = this.pending().length;
    return report;
  }

  /** Drop answered scans older than KEEP_DONE_MS (pending ones are never dropped). */
  prune(now: Date = new Date()): void {
    this.save(this.all().filter((s) => s.state === 'pending' || now.getTime() - Date.parse(s.scanned_at) < KEEP_DONE_MS));
  }
}
