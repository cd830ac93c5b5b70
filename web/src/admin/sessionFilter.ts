// The session chosen on the results & certificates pages: kept in the URL (?session=…, shareable,
// back/forward) and in localStorage (the next visit opens on it), and the staff's session list to pick from.
import { onMounted, ref, watch } from 'vue'
import { useRoute, useRouter } from 'vue-router'
import { api, call, ApiError, type Schemas } from '../api/client'

const STORAGE_KEY = 'admin.results.session'

export type SessionRow = Schemas['SessionOut']

/** The sticky session filter and the sessions to choose from (newest first). */
export function useSessionFilter(options: { allowAll?: boolean } = {}) {
  const route = useRoute()
  const router = useRouter()
  const sessions = ref<SessionRow[]>([])
  const sessionId = ref('')
  const error = ref('')

  function remembered(): string {
    const fromUrl = route.query.session
    if (typeof fromUrl === 'string' && (fromUrl || options.allowAll)) return fromUrl // ?session= is 全部班次
    try {
      return window.localStorage.getItem(STORAGE_KEY) ?? ''
    } catch {
      return ''
    }
  }

  function keep(id: string): void {
    try {
      if (id) window.localStorage.setItem(STORAGE_KEY, id)
    } catch {
      // private mode: the URL still keeps it
    }
    if (route.query.session !== id) {
      void router.replace({ query: { ...route.query, session: id || (options.allowAll ? '' : undefined) } })
    }
  }

  async function load(): Promise<void> {
    try {
      const page = await call(api.GET('/api/v1/admin/sessions', { params: { query: { page: 1, page_size: 100 } } }))
      sessions.value = page.items
    } catch (e) {
      error.value = e instanceof ApiError ? e.message : '班次加载失败'
      return
    }
    const wanted = remembered()
    const known = sessions.value.some((s) => s.id === wanted)
    sessionId.value = known ? wanted : options.allowAll ? '' : (sessions.value[0]?.id ?? '')
    keep(sessionId.value)
  }

  watch(sessionId, (id) => keep(id))
  watch(() => route.query.session, (id) => {
    if (typeof id === 'string' && id !== sessionId.value && sessions.value.some((s) => s.id === id)) sessionId.value = id
  })
  onMounted(load)

  function label(s: SessionRow): string {
    return `${s.code} ${s.course_name}（${s.start_date} 至 ${s.end_date}，${s.status_label}）`
  }

  const current = () => sessions.value.find((s) => s.id === sessionId.value) ?? null
  return { sessions, sessionId, error, label, current }
}

/** Save a file answered to a fetch (a POST that returns a spreadsheet, …) under its server-given name. */
export async function saveResponse(response: Response, fallback: string): Promise<void> {
  const blob = await response.blob()
  const disposition = response.headers.get('Content-Disposition') ?? ''
  const match = /filename\*=UTF-8''([^;]+)/i.exec(disposition) ?? /filename="?([^";]+)"?/i.exec(disposition)
  const name = match ? decodeURIComponent(match[1]) : fallback
  const url = URL.createObjectURL(blob)
  const link = document.createElement('a')
  link.href = url
  link.download = name
  document.body.appendChild(link)
  link.click()
  link.remove()
  window.setTimeout(() => URL.revokeObjectURL(url), 1000)
}
