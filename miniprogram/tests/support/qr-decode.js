/**
 * Decode QR codes from grey bitmaps with zxing-cpp (the decoder the server's own PDF tests use),
 * run by the server's Python: one child process for many bitmaps. The pure-JS qrcode-reader was
 * tried first and misread about one code in five, so a test built on it would fail by chance.
 */
'use strict';
const fs = require('fs');
const os = require('os');
const path = require('path');
const { execFileSync } = require('child_process');
const { serverPython, pythonEnv } = require('../../scripts/python');

const SCRIPT = `
import sys, zxingcpp
from PIL import Image
for name in sys.argv[1:]:
    found = zxingcpp.read_barcodes(Image.open(name), formats=zxingcpp.BarcodeFormat.QRCode)
    print(found[0].text if found else "")
`;

/** The texts of the QR codes in `bitmaps` ({width, height, pixels: grey bytes}); '' where none is found. */
function decodeQr(bitmaps) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'qr-'));
  try {
    const files = bitmaps.map((b, i) => {
      const file = path.join(dir, `${i}.pgm`);
      fs.writeFileSync(file, Buffer.concat([Buffer.from(`P5\n${b.width} ${b.height}\n255\n`), Buffer.from(b.pixels)]));
      return file;
    });
    const out = execFileSync(serverPython(), ['-c', SCRIPT, ...files], { env: pythonEnv(), timeout: 60000 }).toString('utf8');
    return out.split('\n').slice(0, bitmaps.length);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

module.exports = { decodeQr };
