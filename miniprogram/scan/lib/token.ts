/**
 * The pass token, parsed and verified on the phone with no network (issue 12's offline check).
 *
 * Layout (server/services/passes/tokens.py, version 1, big-endian): version (1 B), kid (1 B),
 * serial (10 B), session number (4 B), valid from and valid to (Unix seconds UTC, 4 B each; the
 * end is exclusive), flags (1 B); then the Ed25519 signature (64 B) over those 25 bytes. The text
 * is `PS1:` + base45 of the 89 bytes. The version fixes the algorithm: a token never chooses it.
 *
 * The checks run in the server's order (server/services/passes/checkins.py): form and version,
 * known kid, signature (`invalid`), time window ± the clock drift (`not_today`), the scanner's
 * session (`wrong_session`), the revocation list (`revoked`), then the roster: a valid pass of
 * the session is in it (`not_in_roster` otherwise: issued after the download, refresh the bundle).
 */
import * as ed from '@noble/ed25519';
import { b45decode, b64decode, toHex } from './base45';
import { sha512 } from './sha512';

ed.utils.sha512Sync = (...messages: Uint8Array[]) => sha512(ed.utils.concatBytes(...messages));

export const PREFIX = 'PS1:';
export const VERSION = 1;
export const PAYLOAD_BYTES = 25;
export const TOKEN_BYTES = 89;
/** The server's PASS_CLOCK_DRIFT_SECONDS default: a phone's clock may be this far off. */
export const CLOCK_DRIFT_SECONDS = 600;

export interface Payload {
  version: number;
  kid: number;
  /** 20 lower-case hex digits, as the server stores and prints it. */
  serial: string;
  sessionNumber: number;
  /** Unix seconds, UTC. */
  validFrom: number;
  /** Unix seconds, UTC, exclusive. */
  validTo: number;
  flags: number;
}

export interface Parsed {
  payload: Payload;
  signed: Uint8Array;
  signature: Uint8Array;
}

/** Why a token was refused as `invalid` (for the log and the tests; staff see one message). */
export type InvalidReason = 'prefix' | 'encoding' | 'length' | 'version' | 'unknown kid' | 'signature';

export class TokenInvalid extends Error {
  readonly reason: InvalidReason;

  constructor(reason: InvalidReason) {
    super(reason);
    this.name = 'TokenInvalid';
    this.reason = reason;
  }
}

function u32(bytes: Uint8Array, at: number): number {
  return ((bytes[at] << 24) >>> 0) + (bytes[at + 1] << 16) + (bytes[at + 2] << 8) + bytes[at + 3];
}

/** The unverified payload of a token text; TokenInvalid when it is not a version 1 pass token. */
export function parseToken(text: string): Parsed {
  if (typeof text !== 'string' || text.slice(0, PREFIX.length) !== PREFIX) {
    throw new TokenInvalid('prefix');
  }
  let raw: Uint8Array;
  try {
    raw = b45decode(text.slice(PREFIX.length));
  } catch (error) {
    throw new TokenInvalid('encoding');
  }
  if (raw.length !== TOKEN_BYTES) {
    throw new TokenInvalid('length');
  }
  if (raw[0] !== VERSION) {
    throw new TokenInvalid('version');
  }
  const signed = raw.subarray(0, PAYLOAD_BYTES);
  return {
    payload: {
      version: raw[0],
      kid: raw[1],
      serial: toHex(raw.subarray(2, 12)),
      sessionNumber: u32(raw, 12),
      validFrom: u32(raw, 16),
      validTo: u32(raw, 20),
      flags: raw[24],
    },
    signed,
    signature: raw.subarray(PAYLOAD_BYTES),
  };
}

/** The public keys of a bundle or of GET /scanner/keys: kid → 32 raw bytes. */
export function keyMap(keys: ReadonlyArray<{ kid: number; public_key: string }>): Map<number, Uint8Array> {
  const out = new Map<number, Uint8Array>();
  for (const key of keys) {
    out.set(key.kid, b64decode(key.public_key));
  }
  return out;
}

/** The payload of a token signed by one of `keys`; TokenInvalid otherwise (form, kid, signature). */
export function verifyToken(text: string, keys: Map<number, Uint8Array>): Payload {
  const { payload, signed, signature } = parseToken(text);
  const key = keys.get(payload.kid);
  if (!key) {
    throw new TokenInvalid('unknown kid');
  }
  let good = false;
  try {
    good = ed.sync.verify(signature, signed, key);
  } catch (error) {
    good = false; // a signature that is not even a curve point
  }
  if (!good) {
    throw new TokenInvalid('signature');
  }
  return payload;
}

/** What the scanner needs of a bundle to judge a token offline. */
export interface OfflineContext {
  keys: Map<number, Uint8Array>;
  sessionNumber: number | null;
  revoked: ReadonlySet<string>;
  roster: ReadonlyMap<string, { name: string; photo: string | null }>;
}

export type OfflineResult = 'ok' | 'revoked' | 'wrong_session' | 'not_today' | 'invalid' | 'not_in_roster';

export interface OfflineVerdict {
  result: OfflineResult;
  reason?: InvalidReason;
  serial?: string;
  name?: string;
  photo?: string | null;
}

/** Judge one token at `nowSeconds` (Unix seconds) against the session's bundle, with no network. */
export function judgeOffline(text: string, context: OfflineContext, nowSeconds: number,
  driftSeconds: number = CLOCK_DRIFT_SECONDS): OfflineVerdict {
  let payload: Payload;
  try {
    payload = verifyToken(text, context.keys);
  } catch (error) {
    if (error instanceof TokenInvalid) {
      return { result: 'invalid', reason: error.reason };
    }
    throw error;
  }
  const serial = payload.serial;
  if (!(payload.validFrom - driftSeconds <= nowSeconds && nowSeconds < payload.validTo + driftSeconds)) {
    return { result: 'not_today', serial };
  }
  if (context.sessionNumber === null || payload.sessionNumber !== context.sessionNumber) {
    return { result: 'wrong_session', serial };
  }
  if (context.revoked.has(serial)) {
    return { result: 'revoked', serial };
  }
  const entry = context.roster.get(serial);
  if (!entry) {
    return { result: 'not_in_roster', serial };
  }
  return { result: 'ok', serial, name: entry.name, photo: entry.photo };
}
