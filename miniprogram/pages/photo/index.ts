/**
 * 证件照：用前置摄像头在人脸框内拍摄（或从相册选择），同意用途说明后上传。服务器裁成
 * 295×413 的一寸照，这里显示它裁好的结果；拒绝时（没有人脸、多张人脸、人脸太小）用平实的中文说明原因和做法。
 */
import { downloadPhoto, uploadPhoto } from '../../api/profile';
import { formatDateTime } from '../../utils/format';
import { type Refusal, refusalOf } from './helpers';

Component({
  data: {
    consent: false,
    camera: false,
    photoPath: '',
    updatedAt: '',
    size: '',
    refusal: null as Refusal | null,
    busy: false,
  },
  methods: {
    onShow() {
      return this.loadCurrent();
    },

    async loadCurrent() {
      const path = await downloadPhoto();
      this.setData({ photoPath: path });
    },

    onConsent(e: WechatMiniprogram.CustomEvent) {
      this.setData({ consent: !!e.detail.checked });
    },

    onOpenCamera() {
      if (!this.requireConsent()) return;
      this.setData({ camera: true, refusal: null });
    },

    onCloseCamera() {
      this.setData({ camera: false });
    },

    onCameraError() {
      this.setData({ camera: false });
      wx.showToast({ title: '无法使用摄像头，请在设置中允许，或从相册选择', icon: 'none' });
    },

    /** The shutter of the <camera> view. */
    onShoot(): Promise<void> {
      return new Promise((resolve) => {
        wx.createCameraContext().takePhoto({
          quality: 'high',
          success: async (res) => {
            this.setData({ camera: false });
            await this.upload(res.tempImagePath);
            resolve();
          },
          fail: () => {
            wx.showToast({ title: '拍照失败，请重试', icon: 'none' });
            resolve();
          },
        });
      });
    },

    /** 从相册选择 (or the system camera). */
    onChoose() {
      if (!this.requireConsent()) return Promise.resolve();
      return new Promise<void>((resolve) => {
        wx.chooseMedia({
          count: 1,
          mediaType: ['image'],
          sourceType: ['album', 'camera'],
          camera: 'front',
          sizeType: ['original'],
          success: async (res) => {
            await this.upload(res.tempFiles[0].tempFilePath);
            resolve();
          },
          fail: () => resolve(),
        });
      });
    },

    requireConsent(): boolean {
      if (!this.data.consent) {
        wx.showToast({ title: '请先阅读并同意照片用途说明', icon: 'none' });
        return false;
      }
      return true;
    },

    async upload(filePath: string) {
      this.setData({ busy: true, refusal: null });
      try {
        const photo = await uploadPhoto(filePath, this.data.consent);
        await this.loadCurrent();
        this.setData({ updatedAt: formatDateTime(photo.updated_at), size: `${photo.width}×${photo.height}` });
        wx.showToast({ title: '证件照已更新', icon: 'success' });
      } catch (error) {
        this.setData({ refusal: refusalOf(error) });
      } finally {
        this.setData({ busy: false });
      }
    },
  },
});
