/** Pure helpers of pages/photo (tested without rendering). */
import { ApiError } from '../../api/request';


/** What to do about each refusal of the server (its message says what is wrong). */
export const REFUSAL_HINTS: Record<string, string[]> = {
  photo_no_face: ['正对镜头，露出完整面部', '在光线充足处拍摄，避免逆光', '摘下帽子、墨镜和口罩'],
  photo_many_faces: ['只拍本人一人', '背景中不要有其他人或人像'],
  photo_face_too_small: ['靠近镜头，让脸部填满人脸框', '头顶到下巴约占照片高度的三分之二'],
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
