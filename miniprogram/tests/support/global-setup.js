/**
 * Jest globalSetup: a real `python -m server --demo` with its embedded database on a free
 * port and a temporary DATA_DIR, its WeChat API pointed at a local stub, its subscribe-message
 * templates the ones of config/index.ts. Tests find it through MINI_API_BASE and MINI_DATA_DIR
 * (the SMS outbox lives there). Before it starts, `python -m server create-staff` adds a reviewer
 * (MINI_REVIEWER: username and password) to its database. Meanwhile the server's own renderer draws two transfer
 * screenshots (real JPEGs of the association's demo account) and an e-invoice PDF into
 * MINI_DATA_DIR/proofs/.
 */
'use strict';
const fs = require('fs');
const os = require('os');
const net = require('net');
const path = require('path');
const crypto = require('crypto');
const { spawn } = require('child_process');
const { repoRoot, serverPython, pythonEnv } = require('../../scripts/python');
const { startWeChatStub } = require('./wechat-stub');

const START_TIMEOUT_MS = 90000;

function freePort() {
  return new Promise((resolve, reject) => {
    const probe = net.createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address();
      probe.close(() => resolve(port));
    });
  });
}

async function waitHealthy(base, child, log) {
  const deadline = Date.now() + START_TIMEOUT_MS;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) {
      throw new Error(`server exited with ${child.exitCode}:\n${fs.readFileSync(log, 'utf8').slice(-3000)}`);
    }
    try {
      const res = await fetch(`${base}/healthz`);
      if (res.status === 200) {
        return;
      }
    } catch (error) {
      // not listening yet
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  throw new Error(`server not healthy after ${START_TIMEOUT_MS} ms:\n${fs.readFileSync(log, 'utf8').slice(-3000)}`);
}

/** WECHAT_TEMPLATE_<KIND> for the server: the ids the mini-program asks for (config/index.ts). */
function templateEnv() {
  const { SUBSCRIBE_TEMPLATES } = require('../../config/index');
  const env = {};
  for (const [kind, id] of Object.entries(SUBSCRIBE_TEMPLATES)) {
    env[`WECHAT_TEMPLATE_${kind.toUpperCase()}`] = id;
  }
  return env;
}

const SCREENSHOTS = `
import sys
from datetime import UTC, datetime
from server.demo.payments import DEMO_ACCOUNT
from server.demo.screenshots import render_transfer_screenshot
for layout in ("wechat", "alipay"):
    data = render_transfer_screenshot(layout=layout, amount_fen=80000, payee_name=DEMO_ACCOUNT.account_name,
                                      payee_account=DEMO_ACCOUNT.account_number, remark="MINITEST",
                                      paid_at=datetime.now(UTC))
    with open(f"{sys.argv[1]}/transfer-{layout}.jpg", "wb") as f:
        f.write(data)
from datetime import date
from server.documents.invoice_pdf import render_demo_invoice
pdf = render_demo_invoice(number="26312000000087654321", issued_on=date(2026, 3, 1), buyer="测试学员",
                          item="岩土工程勘察专项培训", amount_fen=80000)[2]
with open(f"{sys.argv[1]}/invoice.pdf", "wb") as f:
    f.write(pdf)
`;

/** Two transfer screenshots (server/demo/screenshots.py) and an invoice PDF, beside the server's start. */
function drawScreenshots(dir) {
  fs.mkdirSync(dir, { recursive: true });
  return new Promise((resolve, reject) => {
    const child = spawn(serverPython(), ['-c', SCREENSHOTS, dir], { cwd: repoRoot, env: pythonEnv(), stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    child.stderr.on('data', (c) => { err += c; });
    child.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`screenshots: exit ${code}\n${err}`))));
  });
}

/** `python -m server create-staff`: a reviewer in the test database before the server opens it. */
function createReviewer(env, username, password) {
  return new Promise((resolve, reject) => {
    const child = spawn(serverPython(), ['-m', 'server', 'create-staff', '--username', username, '--role', 'reviewer',
      '--name', '缴费审核员', '--password-stdin'], { cwd: repoRoot, env, stdio: ['pipe', 'ignore', 'pipe'] });
    let err = '';
    child.stderr.on('data', (c) => { err += c; });
    child.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`create-staff: exit ${code}\n${err}`))));
    child.stdin.end(`${password}\n`);
  });
}

module.exports = async function globalSetup() {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'mini-test-'));
  const secret = crypto.randomBytes(16).toString('hex');
  const stub = await startWeChatStub(secret);
  const port = await freePort();
  const log = path.join(dataDir, 'server.log');
  const out = fs.openSync(log, 'a');
  const env = pythonEnv({
    APP_ENV: 'dev',
    DATA_DIR: dataDir,
    MONGODB_URL: '',
    WECHAT_APPID: stub.appid,
    WECHAT_SECRET: secret,
    WECHAT_API_BASE: stub.baseUrl,
    LOGIN_SLOWDOWN_SECONDS: '0',
    ARGON2_TIME_COST: '1',
    ARGON2_MEMORY_KIB: '1024',
    LOG_LEVEL: 'WARNING',
    ...templateEnv(),
  });
  const reviewer = { username: 'mini-reviewer', password: `Rv-${crypto.randomBytes(9).toString('hex')}!` };
  const drawing = drawScreenshots(path.join(dataDir, 'proofs'));
  await createReviewer(env, reviewer.username, reviewer.password);
  const child = spawn(serverPython(), ['-m', 'server', '--demo', '--port', String(port), '--host', '127.0.0.1'], {
    cwd: repoRoot,
    env,
    stdio: ['ignore', out, out],
  });
  const base = `http://127.0.0.1:${port}`;
  globalThis.__MINI_SERVER__ = { child, stub, dataDir };
  await Promise.all([waitHealthy(base, child, log), drawing]);
  process.env.MINI_API_BASE = base;
  process.env.MINI_DATA_DIR = dataDir;
  process.env.MINI_REVIEWER = JSON.stringify(reviewer);
};
