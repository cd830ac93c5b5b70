/** Helpers for flows against the test server: SMS codes from its outbox, valid ID numbers, phones. */
'use strict';
const fs = require('fs');
const path = require('path');
const crypto = require('crypto');

const WEIGHTS = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
const CHECK = '10X98765432';

/** A resident ID number with a valid check digit (born 1990-01-01 … 1999-12-28). */
function idNumber() {
  const year = 1990 + crypto.randomInt(10);
  const month = String(1 + crypto.randomInt(12)).padStart(2, '0');
  const day = String(1 + crypto.randomInt(28)).padStart(2, '0');
  const seq = String(crypto.randomInt(1000)).padStart(3, '0');
  const body = `110101${year}${month}${day}${seq}`;
  const sum = [...body].reduce((acc, ch, i) => acc + Number(ch) * WEIGHTS[i], 0);
  return body + CHECK[sum % 11];
}

/** A mainland mobile number nobody else in this run has. */
function phone() {
  return `139${String(crypto.randomInt(1e8)).padStart(8, '0')}`;
}

/** The last SMS code sent to `phone` (the server's file backend writes one JSON line each). */
async function smsCode(phone, purpose) {
  const outbox = path.join(process.env.MINI_DATA_DIR, 'sms-outbox.jsonl');
  for (let i = 0; i < 50; i += 1) {
    if (fs.existsSync(outbox)) {
      const lines = fs.readFileSync(outbox, 'utf8').trim().split('\n').filter(Boolean).map((l) => JSON.parse(l));
      const mine = lines.filter((m) => m.phone === phone && (!purpose || m.purpose === purpose));
      if (mine.length) {
        return mine[mine.length - 1].code;
      }
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`no SMS code for ${phone}`);
}

const FIXTURES = path.resolve(__dirname, '..', '..', '..', 'tests', 'fixtures', 'photos');

module.exports = { idNumber, phone, smsCode, FIXTURES };
