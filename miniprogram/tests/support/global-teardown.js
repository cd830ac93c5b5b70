/** Jest globalTeardown: stop the server (SIGTERM, then SIGKILL), the stub, remove DATA_DIR. */
'use strict';
const fs = require('fs');

module.exports = async function globalTeardown() {
  const state = globalThis.__MINI_SERVER__;
  if (!state) {
    return;
  }
  const { child, stub, dataDir } = state;
  if (child.exitCode === null) {
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 10000);
    await exited;
    clearTimeout(timer);
  }
  await new Promise((resolve) => stub.server.close(resolve));
  fs.rmSync(dataDir, { recursive: true, force: true });
};
