// The logged-in account of this browser (the session itself is the HttpOnly cookie).
import { reactive } from 'vue'
import { api, call, type Schemas } from './api/client'

export const session = reactive<{ me: Schemas['AccountOut'] | null; loaded: boolean }>({ me: null, loaded: false })

/** Who is logged in (null: nobody); asked once per page load, again after a login. */
export async function loadMe(force = false): Promise<Schemas['AccountOut'] | null> {
  if (session.loaded && !force) return session.me
  try {
    session.me = await call(api.GET('/api/v1/me'))
  } catch {
    session.me = null
  }
  session.loaded = true
  return session.me
}

export function forget(): void {
  session.me = null
  session.loaded = true
}

export async function logout(): Promise<void> {
  try {
    await call(api.POST('/api/v1/auth/logout'))
  } finally {
    forget()
  }
}
