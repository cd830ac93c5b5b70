/** Pure helpers of pages/photo (tested without rendering). */
import { ApiError } from '../../api/request';


/** What to do about each refusal of the server (its message says what is wrong). */
export const REFUSAL_HINTS: Record<string, string[]> = {
  photo_no_face: ['正对镜头，露出完整面部', '在光线充足处拍摄，避免逆光', '摘下帽子、墨镜和口罩'],
  photo_many_faces: ['只拍本人一人', '背景中不要有其他人或人像'],
  photo_face_too_small: ['靠近镜头，让脸部填满人脸框', '头顶到下巴约占照片高度的三分之二'],
  photo_too_small: ['用手机相机直接拍摄，选择“原图”', '不要使用截图或压缩过的图片'],
  photo_bad_framing: ['让头顶上方和肩膀都留在画面内', '人脸放在画面中间'],
  photo_corrupt: ['照片文件已损坏，请重新拍摄'],
  photo_bad_format: ['请上传 JPG 或 PNG 格式的照片'],
  photo_too_many_pixels: ['照片像素过大，请在相机中选择较低分辨率后重拍'],
  consent_required: ['请先勾选同意照片用途说明'],
  payload_too_large: ['照片文件太大，请重新拍摄或选择较小的照片'],
  unsupported_media_type: ['请上传 JPG 或 PNG 格式的照片'],
};

export interface Refusal {
  message: string;
  hints: string[];
}

/** The plain-Chinese explanation of a failed upload. */
export function refusalOf(error: unknown): Refusal {
  if (error instanceof ApiError) {
    return { message: error.message, hints: REFUSAL_HINTS[error.code] || [] };
  }
  return { message: '上传失败，请重试', hints: [] };
}
