/**
 * Jest globalSetup: a real `python -m server --demo` with its embedded database on a free
 * port and a temporary DATA_DIR, its WeChat API pointed at a local stub. Tests find it through
 * MINI_API_BASE and MINI_DATA_DIR (the SMS outbox lives there).
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

module.exports = async function globalSetup() {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'mini-test-'));
  const secret = crypto.randomBytes(16).toString('hex');
  const stub = await startWeChatStub(secret);
  const port = await freePort();
  const log = path.join(dataDir, 'server.log');
  const out = fs.openSync(log, 'a');
  const child = spawn(serverPython(), ['-m', 'server', '--demo', '--port', String(port), '--host', '127.0.0.1'], {
    cwd: repoRoot,
    env: pythonEnv({
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
    }),
    stdio: ['ignore', out, out],
  });
  const base = `http://127.0.0.1:${port}`;
  globalThis.__MINI_SERVER__ = { child, stub, dataDir };
  await waitHealthy(base, child, log);
  process.env.MINI_API_BASE = base;
  process.env.MINI_DATA_DIR = dataDir;
};
