/**
 * The offline bundle of one session on the phone: stored, merged with deltas, measured, and
 * deleted when it expires (it holds names and photos: personal data on a device).
 *
 * WeChat storage takes at most 1 MB per key, and a 500-trainee bundle is about 1.05 MB (README, Figures), so the
 * roster is kept in chunks of ROSTER_CHUNK entries under their own keys beside a small header.
 */
import {
  type KeyValue, bundleChunkKey as chunkKey, bundleHeaderKey as headerKey, deleteBundle, keptBundleIds as index,
  purgeExpiredBundles as purgeExpired, BUNDLE_INDEX_KEY as INDEX_KEY,
} from '../../utils/scan-storage';
import { type OfflineContext, keyMap } from './token';

export { deleteBundle, purgeExpired };
export const ROSTER_CHUNK = 100;

export interface BundleKey {
  kid: number;
  public_key: string;
  retired_at?: string | null;
  valid_until?: string | null;
}

export interface RosterEntry {
  serial: string;
  name: string;
  photo?: string | null;
}

/** The server's BundleOut (GET /api/v1/scanner/sessions/{id}/bundle). */
export interface BundleIn {
  session_id: string;
  session_number: number | null;
  version: number;
  delta: boolean;
  valid_until: string;
  keys: BundleKey[];
  revoked: string[];
  roster: RosterEntry[];
}

/** A bundle as kept on the phone, with what the scanner shows about it. */
export interface StoredBundle extends BundleIn {
  /** The session's title shown on the scanner (course and code). */
  title: string;
  downloaded_at: string;
  /** UTF-8 bytes of the bundle as stored (what it costs the phone). */
  bytes: number;
  /** Trainees in the roster (the expected count offline). */
  people: number;
}

interface Header extends Omit<StoredBundle, 'roster'> {
  chunks: number;
}


/** UTF-8 length of a string, without TextEncoder. */
export function utf8Bytes(text: string): number {
  let n = 0;
  for (let i = 0; i < text.length; i += 1) {
    const c = text.charCodeAt(i);
    if (c < 0x80) n += 1;
    else if (c < 0x800) n += 2;
    else if (c >= 0xd800 && c < 0xdc00) {
      n += 4;
      i += 1;
    } else n += 3;
  }
  return n;
}

/** Size in bytes of a bundle's JSON (what is downloaded and stored). */
export function bundleBytes(bundle: BundleIn): number {
  return utf8Bytes(JSON.stringify(bundle));
}

/** Store a full bundle, or merge a delta into the one kept (new passes in, revoked ones out). */
export function saveBundle(kv: KeyValue, incoming: BundleIn, title: string, now: Date = new Date()): StoredBundle {
  const old = incoming.delta ? loadBundle(kv, incoming.session_id, now) : null;
  if (incoming.delta && !old) {
    throw new Error('a delta needs the full bundle first');
  }
  const revoked = new Set<string>(old ? old.revoked : []);
  incoming.revoked.forEach((s) => revoked.add(s));
  const roster = new Map<string, RosterEntry>();
  (old ? old.roster : []).forEach((e) => roster.set(e.serial, e));
  incoming.roster.forEach((e) => roster.set(e.serial, e));
  revoked.forEach((s) => roster.delete(s));
  const merged: BundleIn = {
    ...incoming, delta: false, revoked: Array.from(revoked), roster: Array.from(roster.values()),
  };
  const stored: StoredBundle = {
    ...merged, title: title || (old ? old.title : ''), downloaded_at: now.toISOString(), bytes: bundleBytes(merged),
    people: merged.roster.length,
  };
  deleteBundle(kv, incoming.session_id);
  const chunks = Math.ceil(stored.roster.length / ROSTER_CHUNK);
  for (let n = 0; n < chunks; n += 1) {
    kv.set(chunkKey(stored.session_id, n), stored.roster.slice(n * ROSTER_CHUNK, (n + 1) * ROSTER_CHUNK));
  }
  const { roster: _roster, ...rest } = stored;
  kv.set(headerKey(stored.session_id), { ...rest, chunks } as Header);
  kv.set(INDEX_KEY, index(kv).filter((id) => id !== stored.session_id).concat(stored.session_id));
  return stored;
}

/** Whether a bundle may still be used at `now` (before its valid_until). */
export function isValid(bundle: { valid_until: string }, now: Date = new Date()): boolean {
  return now.getTime() < Date.parse(bundle.valid_until);
}

/** The kept bundle of a session; an expired one is deleted and null is returned. */
export function loadBundle(kv: KeyValue, sessionId: string, now: Date = new Date()): StoredBundle | null {
  const header = kv.get(headerKey(sessionId)) as Header | undefined;
  if (!header || typeof header !== 'object') {
    return null;
  }
  if (!isValid(header, now)) {
    deleteBundle(kv, sessionId);
    return null;
  }
  const roster: RosterEntry[] = [];
  for (let n = 0; n < header.chunks; n += 1) {
    const chunk = kv.get(chunkKey(sessionId, n));
    if (Array.isArray(chunk)) roster.push(...(chunk as RosterEntry[]));
  }
  const { chunks: _chunks, ...rest } = header;
  return { ...rest, roster };
}

/** The kept bundles' headers (no roster), expired ones deleted first. */
export function listBundles(kv: KeyValue, now: Date = new Date()): Omit<StoredBundle, 'roster'>[] {
  purgeExpired(kv, now);
  return index(kv)
    .map((id) => kv.get(headerKey(id)) as Header | undefined)
    .filter((h): h is Header => !!h)
    .map(({ chunks: _c, ...rest }) => rest);
}

/** What judgeOffline needs, from a stored bundle. */
export function offlineContext(bundle: BundleIn): OfflineContext {
  const roster = new Map<string, { name: string; photo: string | null }>();
  bundle.roster.forEach((e) => roster.set(e.serial, { name: e.name, photo: e.photo || null }));
  return {
    keys: keyMap(bundle.keys), sessionNumber: bundle.session_number, revoked: new Set(bundle.revoked), roster,
  };
}
