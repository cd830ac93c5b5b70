/** Key-value storage for the scanner's libraries: wx storage on the phone, a Map in tests. */

export interface KeyValue {
  get(key: string): unknown;
  set(key: string, value: unknown): void;
  remove(key: string): void;
}

/** The phone's storage (wx.*StorageSync; 10 MB per mini-program, 1 MB per key). */
export const wxStorage: KeyValue = {
  get: (key) => {
    const value = wx.getStorageSync(key);
    return value === '' ? undefined : value;
  },
  set: (key, value) => wx.setStorageSync(key, value),
  remove: (key) => wx.removeStorageSync(key),
};

/** A storage in memory (tests, the figures script). */
export function memoryStorage(): KeyValue & { map: Map<string, unknown> } {
  const map = new Map<string, unknown>();
  return {
    map,
    get: (key) => map.get(key),
    set: (key, value) => {
      map.set(key, JSON.parse(JSON.stringify(value)));
    },
    remove: (key) => {
      map.delete(key);
    },
  };
}
