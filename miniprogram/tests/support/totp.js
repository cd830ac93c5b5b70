/**
 * The staff second factor in the mini-program tests: the code an authenticator shows (RFC 6238: an
 * HMAC-SHA1 over the 30-second time step, node's crypto), for the demo staff's public secret
 * (server/demo/staff_totp.py: every staff account of the demo server has it, mini-reviewer too).
 *
 * The server accepts each step once per account and one step ahead. Jest runs the test files in
 * several processes, so a step is claimed by creating a file (exclusive) in MINI_DATA_DIR: every
 * login of an account gets a later step than the one before, waiting for the clock when needed.
 */
'use strict';
const crypto = require('crypto');
const fs = require('fs');
const path = require('path');

const DEMO_TOTP_SECRET = 'DEMOSTAFFTOTPKEYDEMOSTAFFTOTPKEY';
const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';

function base32(text) {
  const out = [];
  let bits = 0;
  let value = 0;
  for (const char of text.replace(/[\s=]/g, '').toUpperCase()) {
    value = ((value << 5) | ALPHABET.indexOf(char)) & 0xffff;
    bits += 5;
    if (bits >= 8) {
      out.push((value >>> (bits - 8)) & 255);
      bits -= 8;
    }
  }
  return Buffer.from(out);
}

/** The 6 digits of `secret` at time step `step`. */
function codeAt(secret, step) {
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(step));
  const hash = crypto.createHmac('sha1', base32(secret)).update(counter).digest();
  const offset = hash[hash.length - 1] & 15;
  const number = ((hash[offset] & 127) << 24) | (hash[offset + 1] << 16) | (hash[offset + 2] << 8) | hash[offset + 3];
  return String(number % 1000000).padStart(6, '0');
}

/** A code for `account` that the server has not seen yet. */
async function nextCode(account, secret = DEMO_TOTP_SECRET) {
  const dir = path.join(process.env.MINI_DATA_DIR, 'totp-steps');
  fs.mkdirSync(dir, { recursive: true });
  for (;;) {
    const now = Date.now() / 1000;
    const current = Math.floor(now / 30);
    const used = fs.readdirSync(dir).filter((name) => name.startsWith(`${account}@`)).map((name) => Number(name.split('@')[1]));
    const step = Math.max(current, ...used.map((n) => n + 1));
    if (step <= current + 1) {
      try {
        fs.closeSync(fs.openSync(path.join(dir, `${account}@${step}`), 'wx'));
        return codeAt(secret, step);
      } catch (error) {
        if (error.code !== 'EEXIST') throw error;
        continue; // another test process took it: look again
      }
    }
    await new Promise((resolve) => setTimeout(resolve, ((current + 1) * 30 - now) * 1000 + 50));
  }
}

/** POST /auth/login of a demo staff member, with a fresh code: the answer (token…). */
async function staffLogin(account, password) {
  const { request } = require('../../api/request');
  const data = { account, password, totp_code: await nextCode(account) };
  return request('/api/v1/auth/login', { method: 'POST', data, auth: false });
}

module.exports = { DEMO_TOTP_SECRET, codeAt, nextCode, staffLogin };
