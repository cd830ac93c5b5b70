/**
 * A `wx` for tests: `request`, `uploadFile` and `downloadFile` do real HTTP (Node's http module)
 * with WeChat's semantics — GET data becomes the query string, JSON bodies are parsed when
 * dataType is json, uploadFile's data is the raw text, failures call `fail` with an errMsg.
 * Storage is in memory; `login` makes codes the WeChat stub accepts for the current openid;
 * UI calls (toast, modal, navigation, chooseMedia, setClipboardData, requestSubscribeMessage with
 * the answer in `__state.subscribeAnswer`, openDocument of a downloaded file) are recorded in `wx.__calls`.
 */
'use strict';
const fs = require('fs');
const os = require('os');
const path = require('path');
const http = require('http');
const crypto = require('crypto');

function isArrayBuffer(value) {
  return Object.prototype.toString.call(value) === '[object ArrayBuffer]';
}

function lowerKeys(header) {
  const out = {};
  for (const key of Object.keys(header || {})) {
    out[key.toLowerCase()] = header[key];
  }
  return out;
}

function encodeQuery(data) {
  return Object.keys(data)
    .filter((k) => data[k] !== undefined)
    .map((k) => `${encodeURIComponent(k)}=${encodeURIComponent(String(data[k]))}`)
    .join('&');
}

function send(url, method, headers, body) {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method, headers }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({ statusCode: res.statusCode, header: res.headers, body: Buffer.concat(chunks) }));
    });
    req.on('error', reject);
    req.setTimeout(30000, () => req.destroy(new Error('timeout')));
    if (body) {
      req.write(body);
    }
    req.end();
  });
}

/** A canvas node whose 2D context paints filled rectangles (black or white) into a bitmap. */
function createCanvas() {
  const canvas = { width: 300, height: 300, pixels: null };
  canvas.getContext = () => {
    canvas.pixels = new Uint8Array(canvas.width * canvas.height).fill(255);
    let sx = 1;
    let sy = 1;
    return {
      fillStyle: '#000000',
      scale(x, y) {
        sx *= x;
        sy *= y;
      },
      fillRect(x, y, w, h) {
        const value = /^#f/i.test(String(this.fillStyle)) ? 255 : 0;
        for (let row = Math.round(y * sy); row < Math.min(canvas.height, Math.round((y + h) * sy)); row += 1) {
          canvas.pixels.fill(value, row * canvas.width + Math.round(x * sx), row * canvas.width + Math.min(canvas.width, Math.round((x + w) * sx)));
        }
      },
    };
  };
  return canvas;
}

function createWx(options = {}) {
  const storage = new Map();
  const calls = [];
  let loginCount = 0;
  const state = {
    openid: `user-${crypto.randomBytes(6).toString('hex')}`,
    modalConfirm: true,
    chooseMediaPath: null,
    /** several pictures at once (wins over chooseMediaPath) */
    chooseMediaPaths: null,
    /** wx.requestSubscribeMessage's answer per template id ('accept' for all by default), or 'fail' */
    subscribeAnswer: 'accept',
    /** the picture the <camera> "takes" */
    cameraPhotoPath: null,
    /** (url, method) → true to fail the next request like a dropped connection */
    failNext: 0,
    requests: [],
  };
  const record = (name, arg) => calls.push({ name, arg });
  const wx = {
    __calls: calls,
    __state: state,
    __callsOf: (name) => calls.filter((c) => c.name === name).map((c) => c.arg),

    request(opts) {
      const method = (opts.method || 'GET').toUpperCase();
      const header = lowerKeys(opts.header);
      let url = opts.url;
      let body = null;
      const data = opts.data;
      if (data !== undefined && data !== null) {
        if (isArrayBuffer(data)) {
          body = Buffer.from(data);
        } else if (method === 'GET') {
          const q = typeof data === 'string' ? data : encodeQuery(data);
          url += (url.includes('?') ? '&' : '?') + q;
        } else if (typeof data === 'string') {
          body = Buffer.from(data);
        } else {
          header['content-type'] = header['content-type'] || 'application/json';
          body = Buffer.from(JSON.stringify(data));
        }
      }
      state.requests.push({ method, url });
      if (state.failNext > 0) {
        state.failNext -= 1;
        setTimeout(() => opts.fail && opts.fail({ errMsg: 'request:fail net::ERR_CONNECTION_RESET' }), 0);
        return { abort() {} };
      }
      send(url, method, header, body).then(
        (res) => {
          let resData = res.body.toString('utf8');
          if ((opts.dataType || 'json') === 'json') {
            try {
              resData = JSON.parse(resData);
            } catch (error) {
              // WeChat hands over the text when it is not JSON
            }
          }
          opts.success && opts.success({ statusCode: res.statusCode, header: res.header, data: resData, errMsg: 'request:ok' });
        },
        (error) => opts.fail && opts.fail({ errMsg: `request:fail ${error.message}` }),
      );
      return { abort() {} };
    },

    uploadFile(opts) {
      const boundary = `----wxshim${crypto.randomBytes(8).toString('hex')}`;
      const parts = [];
      for (const [key, value] of Object.entries(opts.formData || {})) {
        parts.push(Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="${key}"\r\n\r\n${value}\r\n`));
      }
      const file = fs.readFileSync(opts.filePath);
      const type = /\.png$/i.test(opts.filePath) ? 'image/png' : 'image/jpeg';
      parts.push(Buffer.from(
        `--${boundary}\r\nContent-Disposition: form-data; name="${opts.name}"; filename="${path.basename(opts.filePath)}"\r\nContent-Type: ${type}\r\n\r\n`,
      ));
      parts.push(file, Buffer.from(`\r\n--${boundary}--\r\n`));
      const header = { ...lowerKeys(opts.header), 'content-type': `multipart/form-data; boundary=${boundary}` };
      state.requests.push({ method: 'POST', url: opts.url });
      send(opts.url, 'POST', header, Buffer.concat(parts)).then(
        (res) => opts.success && opts.success({ statusCode: res.statusCode, data: res.body.toString('utf8'), errMsg: 'uploadFile:ok' }),
        (error) => opts.fail && opts.fail({ errMsg: `uploadFile:fail ${error.message}` }),
      );
      return { abort() {}, onProgressUpdate() {} };
    },

    downloadFile(opts) {
      state.requests.push({ method: 'GET', url: opts.url });
      send(opts.url, 'GET', lowerKeys(opts.header), null).then(
        (res) => {
          const tempFilePath = path.join(os.tmpdir(), `wxshim-${crypto.randomBytes(6).toString('hex')}`);
          fs.writeFileSync(tempFilePath, res.body);
          opts.success && opts.success({ statusCode: res.statusCode, tempFilePath, errMsg: 'downloadFile:ok' });
        },
        (error) => opts.fail && opts.fail({ errMsg: `downloadFile:fail ${error.message}` }),
      );
      return { abort() {} };
    },

    getFileSystemManager() {
      return {
        readFile({ filePath, success, fail }) {
          fs.readFile(filePath, (error, buf) => {
            if (error) {
              fail && fail({ errMsg: `readFile:fail ${error.message}` });
            } else {
              success && success({ data: buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength) });
            }
          });
        },
      };
    },

    login(opts) {
      loginCount += 1;
      const code = `wx.${state.openid}.${loginCount}`;
      record('login', code);
      setTimeout(() => opts.success && opts.success({ code, errMsg: 'login:ok' }), 0);
    },

    getAccountInfoSync: () => ({ miniProgram: { appId: 'wx0123456789abcdef', envVersion: 'develop', version: '' } }),
    getStorageSync: (key) => (storage.has(key) ? storage.get(key) : ''),
    setStorageSync: (key, value) => storage.set(key, value),
    removeStorageSync: (key) => storage.delete(key),
    clearStorageSync: () => storage.clear(),

    showToast: (arg) => record('showToast', arg),
    showLoading: (arg) => record('showLoading', arg),
    hideLoading: () => record('hideLoading'),
    showModal(arg) {
      record('showModal', arg);
      const answer = { confirm: state.modalConfirm, cancel: !state.modalConfirm };
      setTimeout(() => arg.success && arg.success(answer), 0);
    },
    chooseMedia(arg) {
      record('chooseMedia', arg);
      setTimeout(() => {
        if (state.chooseMediaPaths) {
          const tempFiles = state.chooseMediaPaths.slice(0, arg.count || 9)
            .map((p) => ({ tempFilePath: p, size: fs.statSync(p).size, fileType: 'image' }));
          arg.success && arg.success({ tempFiles, type: 'image' });
        } else if (state.chooseMediaPath) {
          arg.success && arg.success({ tempFiles: [{ tempFilePath: state.chooseMediaPath, size: 1, fileType: 'image' }], type: 'image' });
        } else {
          arg.fail && arg.fail({ errMsg: 'chooseMedia:fail cancel' });
        }
      }, 0);
    },
    createCameraContext() {
      return {
        takePhoto(arg) {
          record('takePhoto', arg);
          setTimeout(() => {
            if (state.cameraPhotoPath) {
              arg.success && arg.success({ tempImagePath: state.cameraPhotoPath, errMsg: 'takePhoto:ok' });
            } else {
              arg.fail && arg.fail({ errMsg: 'takePhoto:fail' });
            }
          }, 0);
        },
      };
    },
    setClipboardData(arg) {
      record('setClipboardData', arg);
      setTimeout(() => arg.success && arg.success({ errMsg: 'setClipboardData:ok' }), 0);
    },
    requestSubscribeMessage(arg) {
      record('requestSubscribeMessage', arg);
      setTimeout(() => {
        if (state.subscribeAnswer === 'fail') {
          arg.fail && arg.fail({ errMsg: 'requestSubscribeMessage:fail can only be invoked by user TAP gesture.', errCode: 10004 });
          return;
        }
        const res = { errMsg: 'requestSubscribeMessage:ok' };
        arg.tmplIds.forEach((id) => {
          res[id] = typeof state.subscribeAnswer === 'function' ? state.subscribeAnswer(id) : state.subscribeAnswer;
        });
        arg.success && arg.success(res);
      }, 0);
    },
    /** Opens only what a phone could: a file that exists (recorded with its first bytes). */
    openDocument(arg) {
      const head = fs.existsSync(arg.filePath) ? fs.readFileSync(arg.filePath).subarray(0, 5).toString('latin1') : '';
      record('openDocument', { ...arg, head });
      setTimeout(() => (head ? arg.success && arg.success({ errMsg: 'openDocument:ok' })
        : arg.fail && arg.fail({ errMsg: 'openDocument:fail file not found' })), 0);
    },
    previewImage: (arg) => record('previewImage', arg),
    navigateTo: (arg) => record('navigateTo', arg),
    redirectTo: (arg) => record('redirectTo', arg),
    reLaunch: (arg) => record('reLaunch', arg),
    switchTab: (arg) => record('switchTab', arg),
    navigateBack: (arg) => record('navigateBack', arg),
    stopPullDownRefresh: () => record('stopPullDownRefresh'),
    setNavigationBarTitle: (arg) => record('setNavigationBarTitle', arg),

    // The pass page: screen brightness and keep-on (recorded, brightness kept in state), and a
    // <canvas type="2d"> whose 2D context paints fillRect calls into a bitmap (state.canvases).
    getScreenBrightness(arg) {
      record('getScreenBrightness');
      setTimeout(() => arg.success && arg.success({ value: state.brightness, errMsg: 'getScreenBrightness:ok' }), 0);
    },
    setScreenBrightness(arg) {
      record('setScreenBrightness', arg);
      state.brightness = arg.value;
      setTimeout(() => arg.success && arg.success({ errMsg: 'setScreenBrightness:ok' }), 0);
    },
    setKeepScreenOn(arg) {
      record('setKeepScreenOn', arg);
      state.keepScreenOn = arg.keepScreenOn;
    },
    getWindowInfo: () => ({ pixelRatio: 2, windowWidth: 375, windowHeight: 667 }),
    createSelectorQuery() {
      const query = {
        in: () => query,
        select: (selector) => {
          query.selector = selector;
          return query;
        },
        fields: () => query,
        exec(cb) {
          const canvas = createCanvas();
          state.canvases.push({ selector: query.selector, canvas });
          setTimeout(() => cb([{ node: canvas, width: 300, height: 300 }]), 0);
        },
      };
      return query;
    },
  };
  state.brightness = 0.4;
  state.keepScreenOn = false;
  state.canvases = [];
  if (options.apiBase) {
    storage.set('dev_api_base', options.apiBase);
  }
  return wx;
}

module.exports = { createWx };
