/**
 * The Python that runs the server for the mini-program's scripts and tests:
 * $SERVER_PYTHON, else the repository's own .venv/bin/python (what `make` builds).
 */
'use strict';
const fs = require('fs');
const path = require('path');

const repoRoot = path.resolve(__dirname, '..', '..');

function serverPython() {
  const candidates = [process.env.SERVER_PYTHON, path.join(repoRoot, '.venv', 'bin', 'python')].filter(Boolean);
  for (const candidate of candidates) {
    if (fs.existsSync(candidate)) {
      return candidate;
    }
  }
  throw new Error(
    `no Python for the server: set SERVER_PYTHON or run \`make setup\` (looked at ${candidates.join(', ')})`,
  );
}

/** Environment for a Python child: the repository first on the import path. */
function pythonEnv(extra = {}) {
  const env = { ...process.env, ...extra };
  env.PYTHONPATH = env.PYTHONPATH ? `${repoRoot}${path.delimiter}${env.PYTHONPATH}` : repoRoot;
  return env;
}

module.exports = { repoRoot, serverPython, pythonEnv };
