/**
 * The scanner's storage, in the main package so that the app can delete expired offline bundles
 * at every launch (they hold trainees' names and photos) even when the scanner is never opened
 * again. The scanner sub-package (scan/lib/) builds on it.
 */

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

export const BUNDLE_INDEX_KEY = 'scan_bundles';
export const bundleHeaderKey = (sessionId: string): string => `scan_bundle:${sessionId}`;
export const bundleChunkKey = (sessionId: string, n: number): string => `scan_bundle:${sessionId}:roster:${n}`;

/** The sessions whose bundles are kept. */
export function keptBundleIds(kv: KeyValue): string[] {
  const ids = kv.get(BUNDLE_INDEX_KEY);
  return Array.isArray(ids) ? (ids as string[]) : [];
}

/** Delete a session's bundle (header and roster chunks). */
export function deleteBundle(kv: KeyValue, sessionId: string): void {
  const header = kv.get(bundleHeaderKey(sessionId)) as { chunks?: unknown } | undefined;
  const chunks = header && typeof header.chunks === 'number' ? header.chunks : 0;
  for (let n = 0; n < chunks; n += 1) {
    kv.remove(bundleChunkKey(sessionId, n));
  }
  kv.remove(bundleHeaderKey(sessionId));
  kv.set(BUNDLE_INDEX_KEY, keptBundleIds(kv).filter((id) => id !== sessionId));
}

/** Delete every bundle past its validity (the session is over or the bundle too old); their ids. */
export function purgeExpiredBundles(kv: KeyValue, now: Date = new Date()): string[] {
  const gone: string[] = [];
  for (const id of keptBundleIds(kv)) {
    const header = kv.get(bundleHeaderKey(id)) as { valid_until?: unknown } | undefined;
    if (!header || typeof header.valid_until !== 'string' || !(now.getTime() < Date.parse(header.valid_until))) {
      deleteBundle(kv, id);
      gone.push(id);
    }
  }
  return gone;
}
