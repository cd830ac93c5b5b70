/**
 * A local stand-in for WeChat's GET /sns/jscode2session, over real HTTP (like
 * tests/wechat_stub.py on the Python side): JSON labelled text/plain, errors as
 * {errcode, errmsg} with HTTP 200, each code usable once.
 *
 * Codes need no registration: the wx shim's wx.login() makes codes "wx.<openid>.<n>", and this
 * stub answers such a code, the first time, with that openid.
 */
'use strict';
const http = require('http');
const crypto = require('crypto');

const APPID = 'wx0123456789abcdef';

function startWeChatStub(secret) {
  const used = new Set();
  const server = http.createServer((req, res) => {
    const url = new URL(req.url, 'http://stub');
    let body;
    if (url.pathname !== '/sns/jscode2session') {
      res.writeHead(404, { 'Content-Type': 'text/plain' });
      res.end('not found');
      return;
    }
    const q = url.searchParams;
    const code = q.get('js_code') || '';
    const match = /^wx\.([\w-]+)\.\d+$/.exec(code);
    if (q.get('appid') !== APPID) {
      body = { errcode: 40013, errmsg: 'invalid appid' };
    } else if (q.get('secret') !== secret) {
      body = { errcode: 40125, errmsg: 'invalid appsecret' };
    } else if (q.get('grant_type') !== 'authorization_code') {
      body = { errcode: 40002, errmsg: 'invalid grant_type' };
    } else if (!match) {
      body = { errcode: 40029, errmsg: 'invalid code' };
    } else if (used.has(code)) {
      body = { errcode: 40163, errmsg: 'code been used' };
    } else {
      used.add(code);
      body = { openid: match[1], session_key: crypto.randomBytes(16).toString('base64') };
    }
    res.writeHead(200, { 'Content-Type': 'text/plain' });
    res.end(JSON.stringify(body));
  });
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      resolve({ server, baseUrl: `http://127.0.0.1:${port}`, appid: APPID });
    });
  });
}

module.exports = { startWeChatStub };
