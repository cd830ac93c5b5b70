/** Every test file starts with a fresh `wx` shim pointed at the test server (see wx.js). */
'use strict';
const { createWx } = require('./wx');

global.wx = createWx({ apiBase: process.env.MINI_API_BASE });
global.getCurrentPages = () => [];
global.getApp = () => ({ globalData: {} });
