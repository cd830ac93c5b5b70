/**
 * 听课证: the pass's QR full screen for the door, with the serial, course, session dates and venue.
 *
 * - The QR is drawn on a `<canvas type="2d">` from the token (pass/qr.ts); the screen brightness
 *   is raised to the full while the page shows (wx.setScreenBrightness, the earlier level restored
 *   on hide) and the screen kept on (wx.setKeepScreenOn).
 * - Offline: the last downloaded pass is kept on the phone (pass/helpers.ts); when the request
 *   fails for want of network the kept pass is shown with a 离线 hint.
 * - 下载 PDF: the A6 pass (wx.downloadFile + wx.openDocument).
 */
import { getPass, openPassPdf } from '../../../api/passes';
import { ApiError } from '../../../api/request';
import { getSession } from '../../../api/sessions';
import { type PassView, dropPass, passSession, passView, storePass, storedPass } from '../../helpers';
import { drawQr, qrMatrix } from '../../qr';

/** The QR's largest side on screen, in CSS pixels (the canvas is scaled by the pixel ratio). */
const QR_MAX_PX = 300;

/** The window's pixel ratio and width (a fallback where neither is known). */
function windowInfo(): { pixelRatio: number; windowWidth: number } {
  try {
    const info = wx.getWindowInfo ? wx.getWindowInfo() : wx.getSystemInfoSync();
    return { pixelRatio: info.pixelRatio || 2, windowWidth: info.windowWidth || 375 };
  } catch (error) {
    return { pixelRatio: 2, windowWidth: 375 };
  }
}

/** The QR's side: 300 px, or the window's width less the margins on a narrow phone. */
function qrSide(): number {
  return Math.min(QR_MAX_PX, windowInfo().windowWidth - 48);
}

Component({
  data: {
    id: '',
    view: null as PassView | null,
    loading: true,
    error: '',
    opening: false,
    qrModules: 0,
    qrPx: QR_MAX_PX,
  },
  methods: {
    onLoad(query: Record<string, string>) {
      this.setData({ id: query.id || '', qrPx: qrSide() });
      wx.setKeepScreenOn({ keepScreenOn: true });
      return this.load();
    },

    onShow() {
      this.raiseBrightness();
    },

    onHide() {
      this.restoreBrightness();
    },

    onUnload() {
      this.restoreBrightness();
      wx.setKeepScreenOn({ keepScreenOn: false });
    },

    onPullDownRefresh() {
      this.load().then(() => wx.stopPullDownRefresh());
    },

    /** Full brightness for the scanner; the level before is kept to restore. */
    raiseBrightness() {
      const self = this as unknown as { savedBrightness?: number };
      wx.getScreenBrightness({
        success: (res) => {
          if (self.savedBrightness === undefined) {
            self.savedBrightness = res.value;
          }
          wx.setScreenBrightness({ value: 1 });
        },
        fail: () => wx.setScreenBrightness({ value: 1 }),
      });
    },

    restoreBrightness() {
      const self = this as unknown as { savedBrightness?: number };
      if (self.savedBrightness !== undefined) {
        wx.setScreenBrightness({ value: self.savedBrightness });
        self.savedBrightness = undefined;
      }
    },

    /** The pass from the server (kept for offline use), or the kept one when there is no network. */
    async load() {
      const id = this.data.id;
      if (!id) {
        this.setData({ loading: false, error: '缺少报名编号' });
        return;
      }
      this.setData({ loading: true, error: '' });
      const kept = storedPass(id);
      try {
        const pass = await getPass(id);
        let session = kept && kept.pass.session_id === pass.session_id ? kept.session : null;
        try {
          session = passSession(await getSession(pass.session_id, 'none'));
        } catch (error) {
          // the facts kept earlier (or none) will do
        }
        const stored = { pass, session, savedAt: new Date().toISOString() };
        storePass(stored);
        this.show(passView(stored, false));
      } catch (error) {
        const apiError = error instanceof ApiError ? error : new ApiError(0, 'client_error', '无法获取听课证');
        if (apiError.status === 0 && kept) {
          this.show(passView(kept, true));
        } else if (apiError.status === 0) {
          this.setData({ view: null, error: '网络连接失败，且本机还没有保存过这张听课证。请连网后再打开一次，之后无网络也能出示。' });
        } else {
          dropPass(id);  // cancelled, not approved, or not mine: the kept copy is no longer good
          this.setData({ view: null, error: apiError.message });
        }
      } finally {
        this.setData({ loading: false });
      }
    },

    show(view: PassView) {
      const matrix = qrMatrix(view.token);
      this.setData({ view, qrModules: matrix.length }, () => this.draw(matrix));
    },

    /** Draw the QR on the 2D canvas (skipped where there is no canvas node). */
    draw(matrix: boolean[][]) {
      wx.createSelectorQuery().in(this).select('#qr').fields({ node: true, size: true }).exec((res) => {
        const found = res && res[0];
        const canvas = found && (found.node as WechatMiniprogram.Canvas | undefined);
        if (!canvas) {
          return;
        }
        const ratio = windowInfo().pixelRatio;
        const side = this.data.qrPx;
        canvas.width = side * ratio;
        canvas.height = side * ratio;
        const ctx = canvas.getContext('2d') as unknown as {
          scale(x: number, y: number): void; fillStyle: unknown; fillRect(x: number, y: number, w: number, h: number): void;
        };
        ctx.scale(ratio, ratio);
        drawQr(ctx, matrix, side);
      });
    },

    /** 下载 PDF 听课证. */
    async onPdf() {
      this.setData({ opening: true });
      try {
        await openPassPdf(this.data.id);
      } catch (error) {
        wx.showToast({ title: error instanceof ApiError ? error.message : '无法打开听课证', icon: 'none' });
      } finally {
        this.setData({ opening: false });
      }
    },
  },
});
