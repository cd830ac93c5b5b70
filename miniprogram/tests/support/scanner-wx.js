/**
 * The device parts of `wx` the scanner uses, added to the test shim: `scanCode` answers from a
 * list of texts (then "cancel"), the network type and its change events, vibration and sounds
 * recorded in `wx.__calls`. Everything else (HTTP, storage) is the real shim's.
 */
'use strict';

function installScannerWx(wx) {
  const device = { scans: [], network: 'wifi', listeners: [], onScan: null };
  const record = (name, arg) => wx.__calls.push({ name, arg });
  Object.assign(wx, {
    __device: device,
    scanCode(arg) {
      record('scanCode', arg);
      const next = device.scans.shift();
      if (device.onScan) device.onScan(next);
      setTimeout(() => (next === undefined ? arg.fail && arg.fail({ errMsg: 'scanCode:fail cancel' })
        : arg.success && arg.success({ result: next, scanType: 'QR_CODE', errMsg: 'scanCode:ok' })), 0);
    },
    getNetworkType(arg) {
      setTimeout(() => {
        arg.success && arg.success({ networkType: device.network });
        arg.complete && arg.complete();
      }, 0);
    },
    onNetworkStatusChange(fn) { device.listeners.push(fn); },
    offNetworkStatusChange(fn) { device.listeners = device.listeners.filter((f) => f !== fn); },
    vibrateShort(arg) { record('vibrateShort', arg); },
    createInnerAudioContext() {
      const audio = { src: '', play() { record('playSound', audio.src); }, stop() {}, destroy() { record('destroySound', audio.src); } };
      return audio;
    },
  });
  /** Network back (or lost): what WeChat tells the listeners. */
  device.setNetwork = (type) => {
    device.network = type;
    device.listeners.forEach((fn) => fn({ isConnected: type !== 'none', networkType: type }));
  };
  return device;
}

module.exports = { installScannerWx };
