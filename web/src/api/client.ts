// The one client of the API: typed by schema.ts (generated), cookie session + XSRF header,
// and every error envelope turned into an ApiError with messages per field.
import createClient, { type Middleware } from 'openapi-fetch'
import type { components, paths } from './schema'

export type Schemas = components['schemas']

const UNSAFE = new Set(['POST', 'PUT', 'PATCH', 'DELETE'])

/** A refusal of the API: its Chinese message, and per-field messages to show next to the fields. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly fields: Record<string, string> = {},
    readonly details: Record<string, unknown> = {},
  ) {
    super(message)
  }
}

export function readCookie(name: string): string {
  const prefix = `${name}=`
  for (const part of document.cookie.split(';')) {
    const item = part.trim()
    if (item.startsWith(prefix)) return decodeURIComponent(item.slice(prefix.length))
  }
  return ''
}

// Admin actions answer 403 reauth_required when password and 动态验证码 were proven more than 15 minutes
// ago: a dialog (registered by the app) asks for both, then the very same request is sent again.
let reauthenticate: (() => Promise<boolean>) | null = null
let reauthRunning: Promise<boolean> | null = null
/** Register the re-authentication dialog: resolves true once /auth/reauth succeeded, false when cancelled. */
export function onReauthRequired(handler: () => Promise<boolean>): void {
  reauthenticate = handler
}

/** Ask once for every request that hit the rule at the same moment. */
function askReauth(): Promise<boolean> {
  if (!reauthenticate) return Promise.resolve(false)
  reauthRunning ??= reauthenticate().finally(() => { reauthRunning = null })
  return reauthRunning
}

async function needsReauth(response: Response): Promise<boolean> {
  if (response.status !== 403) return false
  const body = (await response.clone().json().catch(() => null)) as { error?: { code?: string } } | null
  return body?.error?.code === 'reauth_required'
}

const copies = new WeakMap<Request, Request>()

const session: Middleware = {
  onRequest({ request }) {
    // Logins answer with the HttpOnly session cookie instead of a token in the body.
    request.headers.set('X-Session', 'cookie')
    if (UNSAFE.has(request.method)) {
      request.headers.set('X-XSRF-Token', readCookie('XSRF-TOKEN'))
      copies.set(request, request.clone()) // the body is spent by the first try; kept for a retry
    }
    return request
  },
  async onResponse({ request, response }) {
    const copy = copies.get(request)
    if (!copy || !(await needsReauth(response)) || !(await askReauth())) return response
    return fetch(copy)
  },
}

export const api = createClient<paths>({ baseUrl: '', credentials: 'same-origin' })
api.use(session)

let unauthorized: (() => void) | null = null
/** Called when a request finds the session gone (401): the app sends the user to the login page. */
export function onUnauthorized(handler: () => void): void {
  unauthorized = handler
}

/** The error envelope as an ApiError (also for answers that are not the envelope: network, proxies). */
export function toApiError(status: number, body: unknown): ApiError {
  const error = (body as { error?: { code?: string; message?: string; details?: Record<string, unknown> } })?.error
  if (!error) return new ApiError(status, 'http_error', status ? `请求失败（${status}）` : '网络连接失败，请检查网络后重试')
  const details = error.details ?? {}
  const fields: Record<string, string> = {}
  const given = details.fields as Record<string, string> | undefined
  if (given) for (const [path, text] of Object.entries(given)) fields[path.replace(/^body\./, '')] = text
  if (typeof details.field === 'string') fields[details.field] = error.message ?? ''
  return new ApiError(status, error.code ?? 'error', error.message ?? '请求失败', fields, details)
}

type Result<T> = { data?: T; error?: unknown; response: Response }

/** The data of a successful call; an ApiError otherwise (a 401 also ends the session in the app). */
export async function call<T>(request: Promise<Result<T>>): Promise<T> {
  let result: Result<T>
  try {
    result = await request
  } catch {
    throw new ApiError(0, 'network', '网络连接失败，请检查网络后重试')
  }
  if (result.response.ok) return result.data as T
  const error = toApiError(result.response.status, result.error)
  if (error.status === 401 && unauthorized) unauthorized()
  throw error
}

/** Upload a file as multipart field ``field`` (openapi-fetch sends JSON): the same headers and errors as ``call``. */
export async function upload<T>(
  path: string, field: string, file: File, options: { method?: 'POST' | 'PUT'; fields?: Record<string, string> } = {},
): Promise<T> {
  const body = new FormData()
  body.append(field, file, file.name)
  for (const [name, value] of Object.entries(options.fields ?? {})) body.append(name, value)
  let response: Response
  const send = () => fetch(path, {
    method: options.method ?? 'POST', body, credentials: 'same-origin', headers: { 'X-XSRF-Token': readCookie('XSRF-TOKEN') },
  })
  try {
    response = await send()
    if (await needsReauth(response) && await askReauth()) response = await send()
  } catch {
    throw new ApiError(0, 'network', '网络连接失败，请检查网络后重试')
  }
  const parsed: unknown = await response.json().catch(() => null)
  if (response.ok) return parsed as T
  const error = toApiError(response.status, parsed)
  if (error.status === 401 && unauthorized) unauthorized()
  throw error
}
