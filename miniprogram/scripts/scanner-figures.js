#!/usr/bin/env node
/**
 * The scanner's figures (issue 16): the offline bundle of a 500-trainee session, and offline
 * verification of one token on Node (a stand-in for the phone).
 *
 * The bundle is made by the server's own code: `server.models.passes.BundleOut` (what
 * GET /scanner/sessions/{id}/bundle serializes) with 500 roster entries whose photos go through
 * `server.documents.pass_pdf.roster_thumbnail` (what the bundle builder calls for each trainee),
 * from the fixture portrait cropped and lit 500 different ways (so no two thumbnails are equal),
 * with 3-character Chinese names, random serials and 20 revocations. The same per-trainee size is
 * checked on the real builder by tests/services/passes/test_bundle.py.
 *
 *   npm run build && node scripts/scanner-figures.js     (SERVER_PYTHON as for the tests)
 */
'use strict';
const crypto = require('crypto');
const zlib = require('zlib');
const { execFileSync } = require('child_process');
const { repoRoot, serverPython, pythonEnv } = require('./python');

const BUILD_500 = `
import base64, io, json, random, secrets, sys
from datetime import UTC, datetime, timedelta
from PIL import Image, ImageEnhance
from server.documents.pass_pdf import roster_thumbnail
from server.models.passes import BundleOut, RosterEntry, ScannerKey
random.seed(16)
portrait = Image.open("tests/fixtures/photos/portrait.jpg").convert("RGB")
w, h = portrait.size
family = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤"
given = "伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超秀兰霞平刚桂英华玉兰萍红娥玲芬燕彬鹏辉建国建华志强海燕晓东"
roster = []
for i in range(500):
    dx, dy = random.randint(0, w // 10), random.randint(0, h // 10)
    crop = portrait.crop((dx, dy, w - random.randint(0, w // 10), h - random.randint(0, h // 10)))
    crop = ImageEnhance.Brightness(crop).enhance(random.uniform(0.8, 1.2))
    buf = io.BytesIO(); crop.save(buf, "JPEG", quality=90)
    photo = base64.b64encode(roster_thumbnail(buf.getvalue())).decode()
    name = random.choice(family) + "".join(random.choice(given) for _ in range(random.randint(1, 2)))
    roster.append(RosterEntry(serial=secrets.token_hex(10), name=name, photo=photo))
now = datetime.now(UTC)
key = base64.b64encode(secrets.token_bytes(32)).decode()
bundle = BundleOut(session_id="6650f0c2a1b2c3d4e5f60718", session_number=42, version=int(now.timestamp() * 1000), delta=False,
                   valid_until=now + timedelta(hours=24), keys=[ScannerKey(kid=1, public_key=key, retired_at=None, valid_until=None)],
                   revoked=[secrets.token_hex(10) for _ in range(20)], roster=roster)
sys.stdout.write(bundle.model_dump_json())
`;

function median(values) {
  const s = values.slice().sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

function main() {
  const { b45encode } = require('../scan/lib/base45');
  const { judgeOffline, parseToken } = require('../scan/lib/token');
  const bundles = require('../scan/lib/bundle');
  const { memoryStorage } = require('../scan/lib/store');

  const started = Date.now();
  const json = execFileSync(serverPython(), ['-c', BUILD_500], { cwd: repoRoot, env: pythonEnv(), maxBuffer: 64 * 1024 * 1024 }).toString();
  const built = Date.now() - started;
  const bundle = JSON.parse(json);
  const bytes = Buffer.byteLength(json);
  const gz = zlib.gzipSync(json).length;
  const photos = bundle.roster.reduce((sum, e) => sum + e.photo.length, 0);

  // a real Ed25519 key in the bundle and a token signed with it, laid out as tokens.py does
  const { publicKey, privateKey } = crypto.generateKeyPairSync('ed25519');
  const raw = publicKey.export({ format: 'der', type: 'spki' }).subarray(-32);
  bundle.keys = [{ kid: 1, public_key: raw.toString('base64'), retired_at: null, valid_until: null }];
  const now = Math.floor(Date.now() / 1000);
  const payload = Buffer.alloc(25);
  payload[0] = 1;
  payload[1] = 1;
  Buffer.from(bundle.roster[250].serial, 'hex').copy(payload, 2);
  payload.writeUInt32BE(42, 12);
  payload.writeUInt32BE(now - 3600, 16);
  payload.writeUInt32BE(now + 86400, 20);
  const token = `PS1:${b45encode(new Uint8Array(Buffer.concat([payload, crypto.sign(null, payload, privateKey)])))}`;

  const kv = memoryStorage();
  let t0 = process.hrtime.bigint();
  const stored = bundles.saveBundle(kv, bundle, '500 人班次');
  const saveMs = Number(process.hrtime.bigint() - t0) / 1e6;
  const chunkSizes = [...kv.map.entries()].filter(([k]) => k.includes(':roster:')).map(([, v]) => Buffer.byteLength(JSON.stringify(v)));
  t0 = process.hrtime.bigint();
  const context = bundles.offlineContext(bundles.loadBundle(kv, bundle.session_id));
  const loadMs = Number(process.hrtime.bigint() - t0) / 1e6;

  for (let i = 0; i < 50; i += 1) judgeOffline(token, context, now); // warm up
  const verify = [];
  const parse = [];
  for (let i = 0; i < 300; i += 1) {
    t0 = process.hrtime.bigint();
    const verdict = judgeOffline(token, context, now);
    verify.push(Number(process.hrtime.bigint() - t0) / 1e3);
    if (verdict.result !== 'ok') throw new Error(`the token was refused: ${JSON.stringify(verdict)}`);
    t0 = process.hrtime.bigint();
    parseToken(token);
    parse.push(Number(process.hrtime.bigint() - t0) / 1e3);
  }
  const kb = (n) => `${(n / 1024).toFixed(0)} KB`;
  console.log(`scanner bundle, 500 trainees (server's BundleOut + roster_thumbnail, built in ${(built / 1000).toFixed(1)} s):`);
  console.log(`  JSON ${kb(bytes)} (${(bytes / 500).toFixed(0)} B per trainee; photos ${kb(photos)}), gzip on the wire ${kb(gz)}`);
  console.log(`  on the phone: ${stored.people} people, ${chunkSizes.length} roster keys of at most ${kb(Math.max(...chunkSizes))} (WeChat: 1 MB per key, 10 MB in all)`);
  console.log(`  store ${saveMs.toFixed(1)} ms, load and index ${loadMs.toFixed(1)} ms (Node ${process.version})`);
  console.log(`offline verification of one token (base45, Ed25519 with @noble/ed25519 1.7.3 + our SHA-512, window, session, revocations, roster of 500):`);
  console.log(`  median ${median(verify).toFixed(0)} µs, p90 ${verify.sort((a, b) => a - b)[Math.floor(verify.length * 0.9)].toFixed(0)} µs; parse alone ${median(parse).toFixed(1)} µs`);
}

main();
