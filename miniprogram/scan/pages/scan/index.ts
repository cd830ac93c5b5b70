/**
 * 扫码签到：连续扫码（wx.scanCode 循环），手机上先验签与核对（无网也可），大号绿 / 红结果、
 * 提示音与振动、姓名与照片供核对；在线时提交 /checkins，离线时存入待上传队列，联网后自动
 * 上传（/checkins/batch），显示待上传、冲突与已签到 / 应到人数。
 */
import { ApiError } from '../../../api/request';
import { attendance } from '../../../api/scanner';
import { formatDateTime } from '../../../utils/format';
import { LOGIN_URL, currentStaff, logoutStaff, scan, syncQueue } from '../../helpers';
import { type StoredBundle, loadBundle, offlineContext } from '../../lib/bundle';
import { ScanQueue, beijingDay } from '../../lib/queue';
import { MESSAGES, type ScanOutcome } from '../../lib/scanner';
import { wxStorage } from '../../lib/store';
import type { OfflineContext } from '../../lib/token';

/** How long an answer stays before the camera opens again. */
export const ANSWER_MS = 1200;
/** The always-on camera sees a QR many times a second: the same text within this time is one scan. */
export const SAME_CODE_MS = 3000;

let lastCode = { text: '', at: 0 };
let judging = false;

interface AnswerView {
  ok: boolean;
  message: string;
  name: string;
  photo: string;
  first: string;
  offline: boolean;
  queued: boolean;
}

/** What the page shows of an outcome (pure: tested without rendering). */
export function answerView(outcome: ScanOutcome): AnswerView {
  return {
    ok: outcome.result === 'ok',
    message: MESSAGES[outcome.result],
    name: outcome.name || '',
    photo: outcome.photo ? `data:image/jpeg;base64,${outcome.photo}` : '',
    first: outcome.firstAt ? `${formatDateTime(outcome.firstAt)}${outcome.firstDevice ? `（${outcome.firstDevice}）` : ''}` : '',
    offline: outcome.offline,
    queued: outcome.queued,
  };
}

let state: { bundle: StoredBundle; context: OfflineContext; queue: ScanQueue } | null = null;
let sounds: { ok?: WechatMiniprogram.InnerAudioContext; refused?: WechatMiniprogram.InnerAudioContext } = {};
let onNetwork: ((res: { isConnected: boolean }) => void) | null = null;

function sound(src: string): WechatMiniprogram.InnerAudioContext | undefined {
  if (typeof wx.createInnerAudioContext !== 'function') return undefined;
  const audio = wx.createInnerAudioContext();
  audio.src = src;
  return audio;
}

function scanCode(): Promise<string | null> {
  return new Promise((resolve) => {
    wx.scanCode({
      onlyFromCamera: true,
      scanType: ['qrCode'],
      success: (res) => resolve(res.result),
      fail: () => resolve(null), // cancelled: the loop stops
    });
  });
}

Component({
  data: {
    sessionId: '',
    title: '',
    online: true,
    looping: false,
    cameraMode: false,
    syncing: false,
    answer: null as AnswerView | null,
    checkedIn: 0,
    expected: 0,
    countsNote: '',
    pending: 0,
    conflicts: 0,
    refused: 0,
    conflictRows: [] as { client_id: string; serial: string; at: string }[],
    bundleNote: '',
  },
  methods: {
    onLoad(query: Record<string, string | undefined>) {
      if (!currentStaff(wxStorage)) {
        wx.redirectTo({ url: LOGIN_URL });
        return Promise.resolve();
      }
      const sessionId = query.session || '';
      const bundle = loadBundle(wxStorage, sessionId);
      if (!bundle) {
        wx.showToast({ title: '离线包不存在或已过期（已删除），请重新下载', icon: 'none' });
        wx.navigateBack({});
        return Promise.resolve();
      }
      const queue = new ScanQueue(wxStorage);
      queue.prune();
      state = { bundle, context: offlineContext(bundle), queue };
      sounds = { ok: sound('/scan/sounds/ok.wav'), refused: sound('/scan/sounds/refused.wav') };
      this.setData({ sessionId, title: bundle.title, expected: bundle.people,
        bundleNote: `离线包 ${bundle.people} 人，有效至 ${formatDateTime(bundle.valid_until)}` });
      onNetwork = (res) => {
        this.setData({ online: res.isConnected });
        if (res.isConnected) this.onSync();
      };
      wx.onNetworkStatusChange(onNetwork);
      return new Promise<void>((resolve) => {
        wx.getNetworkType({
          success: (res) => this.setData({ online: res.networkType !== 'none' }),
          complete: () => resolve(this.refresh()),
        });
      });
    },

    onUnload() {
      if (onNetwork) wx.offNetworkStatusChange(onNetwork as unknown as WechatMiniprogram.OffNetworkStatusChangeCallback);
      onNetwork = null;
      Object.values(sounds).forEach((a) => a && a.destroy());
      sounds = {};
      state = null;
      lastCode = { text: '', at: 0 };
      this.setData({ looping: false, cameraMode: false });
    },

    /** Counts: the server's when online, else this phone's scans today against the roster. */
    async refresh() {
      if (!state) return;
      const { queue, bundle } = state;
      const sessionId = this.data.sessionId;
      const today = beijingDay(new Date());
      const mine = queue.all().filter((s) => s.session_id === sessionId && beijingDay(new Date(s.scanned_at)) === today
        && (s.state === 'pending' || s.result === 'ok'));
      const conflictRows = queue.conflicts(sessionId).map((s) => ({ client_id: s.client_id, serial: s.serial, at: formatDateTime(s.scanned_at) }));
      this.setData({ pending: queue.pending(sessionId).length, conflicts: conflictRows.length, conflictRows,
        refused: queue.refused(sessionId).length });
      if (this.data.online) {
        try {
          const counts = await attendance(sessionId);
          this.setData({ checkedIn: counts.checked_in, expected: counts.approved,
            countsNote: `全部设备合计（已上传）；迟到 ${counts.late}，冲突 ${counts.conflicts}` });
          return;
        } catch (error) {
          // no answer: the phone's own count below
        }
      }
      this.setData({ checkedIn: mine.length, expected: bundle.people, countsNote: '本机今日签到 / 离线名单人数' });
    },

    /** Judge one scanned text and give the big answer with sound and vibration. */
    async handle(text: string) {
      if (!state) return;
      const outcome = await scan(text, this.data.sessionId, state.context, state.queue, !this.data.online);
      const view = answerView(outcome);
      this.setData({ answer: view });
      wx.vibrateShort({ type: view.ok ? 'light' : 'heavy' });
      const audio = view.ok ? sounds.ok : sounds.refused;
      if (audio) {
        audio.stop();
        audio.play();
      }
      await this.refresh();
    },

    /** Scan, answer, pause, scan again, until the staff member cancels the camera. */
    async onStart() {
      if (this.data.looping) return;
      this.setData({ looping: true });
      try {
        while (this.data.looping && state) {
          const text = await scanCode();
          if (text === null) break;
          await this.handle(text);
          await new Promise((resolve) => setTimeout(resolve, ANSWER_MS));
        }
      } finally {
        this.setData({ looping: false });
      }
    },

    /** The always-on viewfinder (`<camera mode="scanCode">`): no camera to reopen between trainees. */
    onToggleCamera() {
      this.setData({ cameraMode: !this.data.cameraMode, looping: false });
    },

    /** A code seen by the viewfinder: one scan per pass while it stays in view, one at a time. */
    async onCameraScan(e: WechatMiniprogram.CustomEvent<{ result: string }>) {
      const text = e.detail.result;
      const now = Date.now();
      if (judging || !text || (text === lastCode.text && now - lastCode.at < SAME_CODE_MS)) return;
      lastCode = { text, at: now };
      judging = true;
      try {
        await this.handle(text);
      } finally {
        judging = false;
      }
    },

    onCameraError() {
      this.setData({ cameraMode: false });
      wx.showToast({ title: '无法使用相机，请在设置中允许使用摄像头', icon: 'none' });
    },

    async onSync() {
      if (!state || this.data.syncing || !state.queue.pending().length) return;
      this.setData({ syncing: true });
      try {
        const report = await syncQueue(state.queue);
        wx.showToast({ title: `已上传 ${report.sent} 条，新记录 ${report.recorded}，冲突 ${report.conflicts}`, icon: 'none' });
      } catch (error) {
        // still offline: the scans stay in the queue
        if (error instanceof ApiError && (error.status === 401 || error.status === 403)) {
          // the staff login expired: log in again; the queue is kept and goes up afterwards
          logoutStaff(wxStorage);
          wx.showToast({ title: '登录已过期，请重新登录（待上传的签到已保留）', icon: 'none' });
          wx.redirectTo({ url: LOGIN_URL });
        }
      } finally {
        this.setData({ syncing: false });
        await this.refresh();
      }
    },
  },
});
