/**
 * Base45 (RFC 9285) and base64, without TextEncoder/atob (not on every WeChat runtime).
 * The pass token is `PS1:` + base45 of its 89 bytes (server/services/passes/tokens.py).
 */

const B45 = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:';
const B45_VALUE: Record<string, number> = {};
for (let i = 0; i < B45.length; i += 1) {
  B45_VALUE[B45[i]] = i;
}

/** Base45 text → bytes; throws on a character or a group out of range (as the server does). */
export function b45decode(text: string): Uint8Array {
  if (text.length % 3 === 1) {
    throw new Error('bad base45 length');
  }
  const out = new Uint8Array(Math.floor(text.length / 3) * 2 + (text.length % 3 === 2 ? 1 : 0));
  let o = 0;
  for (let i = 0; i < text.length; i += 3) {
    let n = 0;
    let weight = 1;
    const group = text.slice(i, i + 3);
    for (let k = 0; k < group.length; k += 1) {
      const v = B45_VALUE[group[k]];
      if (v === undefined) {
        throw new Error('not base45');
      }
      n += v * weight;
      weight *= 45;
    }
    if (group.length === 3) {
      if (n > 0xffff) throw new Error('base45 group out of range');
      out[o++] = n >> 8;
      out[o++] = n & 0xff;
    } else {
      if (n > 0xff) throw new Error('base45 group out of range');
      out[o++] = n;
    }
  }
  return out;
}

/** Bytes → base45 (used by the tests to build tampered tokens). */
export function b45encode(data: Uint8Array): string {
  let out = '';
  for (let i = 0; i + 1 < data.length; i += 2) {
    let n = data[i] * 256 + data[i + 1];
    const c = n % 45;
    n = (n - c) / 45;
    const d = n % 45;
    const e = (n - d) / 45;
    out += B45[c] + B45[d] + B45[e];
  }
  if (data.length % 2) {
    const last = data[data.length - 1];
    out += B45[last % 45] + B45[Math.floor(last / 45)];
  }
  return out;
}

const B64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
const B64_VALUE: Record<string, number> = {};
for (let i = 0; i < B64.length; i += 1) {
  B64_VALUE[B64[i]] = i;
  B64_VALUE['-_'[i - 62]] = i; // base64url too
}

/** Base64 (standard or url-safe, padding optional) → bytes; throws on a foreign character. */
export function b64decode(text: string): Uint8Array {
  const clean = text.replace(/=+$/, '');
  const out = new Uint8Array(Math.floor((clean.length * 3) / 4));
  let bits = 0;
  let acc = 0;
  let o = 0;
  for (let i = 0; i < clean.length; i += 1) {
    const v = B64_VALUE[clean[i]];
    if (v === undefined) {
      throw new Error('not base64');
    }
    acc = (acc << 6) | v;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out[o++] = (acc >> bits) & 0xff;
    }
  }
  return out.subarray(0, o);
}

/** Bytes → lower-case hex. */
export function toHex(bytes: Uint8Array): string {
  let out = '';
  for (let i = 0; i < bytes.length; i += 1) {
    out += (bytes[i] < 16 ? '0' : '') + bytes[i].toString(16);
  }
  return out;
}
