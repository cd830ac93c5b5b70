/**
 * The pass's QR, drawn by the phone from the token text.
 *
 * Encoder: qrcode-generator (Kazuhiko Arase, MIT, no dependencies, ~57 KB unminified, packed into
 * miniprogram_npm by packNpmManually like tdesign). Chosen over writing our own: a QR encoder
 * (Reed–Solomon, masks, version tables) is easy to get subtly wrong, and this one is small, old
 * and widely used. The pass token is base45 (the QR alphanumeric alphabet), so it is encoded in
 * alphanumeric mode at error-correction level M, as the server draws it into the PDF (segno).
 */
import qrcode = require('qrcode-generator');

/** The QR alphanumeric alphabet (base45's). */
const ALPHANUMERIC = /^[0-9A-Z $%*+\-./:]*$/;

/** The QR of `text` as rows of dark (true) / light modules, without the quiet zone. */
export function qrMatrix(text: string): boolean[][] {
  const qr = qrcode(0, 'M');
  qr.addData(text, ALPHANUMERIC.test(text) ? 'Alphanumeric' : 'Byte');
  qr.make();
  const n = qr.getModuleCount();
  const rows: boolean[][] = [];
  for (let r = 0; r < n; r += 1) {
    const row: boolean[] = [];
    for (let c = 0; c < n; c += 1) {
      row.push(qr.isDark(r, c));
    }
    rows.push(row);
  }
  return rows;
}

/** The QR version (1–40) of a matrix: 21 modules for version 1, 4 more each version. */
export function qrVersion(matrix: boolean[][]): number {
  return (matrix.length - 17) / 4;
}

/** What a 2D canvas context needs to draw the QR (the part of CanvasRenderingContext2D we use). */
export interface QrContext {
  fillStyle: unknown;
  fillRect(x: number, y: number, w: number, h: number): void;
}

/**
 * Draw the matrix on a square canvas of `sizePx` CSS pixels with a 4-module quiet zone (black on
 * white); whole-pixel modules so the code stays sharp. Returns the module size used.
 */
export function drawQr(ctx: QrContext, matrix: boolean[][], sizePx: number): number {
  const n = matrix.length + 8;
  const cell = Math.max(1, Math.floor(sizePx / n));
  const offset = Math.floor((sizePx - cell * n) / 2) + 4 * cell;
  ctx.fillStyle = '#ffffff';
  ctx.fillRect(0, 0, sizePx, sizePx);
  ctx.fillStyle = '#000000';
  matrix.forEach((row, r) => row.forEach((dark, c) => {
    if (dark) {
      ctx.fillRect(offset + c * cell, offset + r * cell, cell, cell);
    }
  }));
  return cell;
}
