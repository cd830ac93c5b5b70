/**
 * One scan at the door: judged on the phone first (instant, no network needed), then recorded
 * online with POST /checkins when there is a network, else queued for POST /checkins/batch.
 *
 * The local judgement refuses forged, tampered, unknown-key, out-of-window, other-session and
 * revoked passes at once. An accepted pass seen earlier that day on this phone is answered
 * `already_checked_in` without asking anyone. Online, the server's answer wins (another device
 * may have checked the pass in); a lost or refused call (timeout, no network, login expired) queues the scan under the
 * same client id, so the later batch can never record it twice.
 */
import { type OfflineContext, type OfflineResult, judgeOffline } from './token';
import { type QueuedScan, type ScanQueue, type ServerResult } from './queue';

export type Answer = OfflineResult | 'already_checked_in';

export interface ScanOutcome {
  result: Answer;
  /** True when the answer was given by the phone alone (no network, or the scan was refused locally). */
  offline: boolean;
  /** The scan was kept for upload. */
  queued: boolean;
  serial?: string;
  name?: string;
  photo?: string | null;
  /** already_checked_in: the first scan's time (ISO) and device when known. */
  firstAt?: string;
  firstDevice?: string;
}

export interface OnlineAnswer {
  result: ServerResult;
  name?: string | null;
  first_at?: string | null;
  first_device?: string | null;
}

/** Post one scan online; rejects (ApiError) when the network failed or the call was refused. */
export type SendOnline = (scan: { token: string; session_id: string; client_id: string; device_id: string }) =>
  Promise<OnlineAnswer>;

export const MESSAGES: Record<Answer, string> = {
  ok: '签到成功，请核对照片',
  already_checked_in: '今日已签到',
  revoked: '听课证已作废',
  wrong_session: '不是本班次的听课证',
  not_today: '不在有效期内（非本班次培训日）',
  invalid: '无效的听课证（签名不符或已被篡改）',
  not_in_roster: '离线名单中没有此证，请联网刷新离线包',
};

export interface ScanInput {
  text: string;
  sessionId: string;
  context: OfflineContext;
  queue: ScanQueue;
  /** Undefined when the phone knows it is offline. */
  sendOnline?: SendOnline;
  now?: Date;
}

/** Judge and record one scan (see the module's comment). */
export async function scanOnce(input: ScanInput): Promise<ScanOutcome> {
  const now = input.now || new Date();
  const verdict = judgeOffline(input.text, input.context, Math.floor(now.getTime() / 1000));
  if (verdict.result !== 'ok' && !(verdict.result === 'not_in_roster' && input.sendOnline)) {
    return { result: verdict.result, offline: true, queued: false, serial: verdict.serial };
  }
  const serial = verdict.serial as string;
  const first = input.queue.seen(serial, input.sessionId, now);
  if (first) {
    return { result: 'already_checked_in', offline: true, queued: false, serial, name: verdict.name,
      photo: verdict.photo, firstAt: first.scanned_at, firstDevice: first.device_id };
  }
  const clientId = input.queue.nextClientId(now);
  const pending: Omit<QueuedScan, 'device_id'> = {
    client_id: clientId, token: input.text, session_id: input.sessionId, scanned_at: now.toISOString(), serial,
    state: 'pending',
  };
  if (input.sendOnline) {
    try {
      const answer = await input.sendOnline({ token: input.text, session_id: input.sessionId, client_id: clientId,
        device_id: input.queue.device });
      if (answer.result === 'ok') {
        input.queue.add({ ...pending, state: 'done', result: 'ok' });
      }
      return {
        result: answer.result, offline: false, queued: false, serial,
        name: verdict.name || answer.name || undefined, photo: verdict.photo,
        firstAt: answer.first_at || undefined, firstDevice: answer.first_device || undefined,
      };
    } catch (error) {
      // No answer (no network, a timeout), or a refusal of the call itself (the staff login
      // expired, a server error): the phone's verdict stands and the scan is kept under the same
      // client id; the batch will not record it twice. A door never loses a scan.
      if (verdict.result !== 'ok') {
        return { result: verdict.result, offline: true, queued: false, serial };
      }
    }
  }
  input.queue.add(pending);
  return { result: 'ok', offline: true, queued: true, serial, name: verdict.name, photo: verdict.photo };
}
