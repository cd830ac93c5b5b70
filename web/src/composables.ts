// Small helpers shared by the pages: field errors from ApiError, the phone layout, SMS countdown.
import { onBeforeUnmount, onMounted, reactive, ref } from 'vue'
import { ApiError } from './api/client'

/** A form's error state: a message for the whole form and one per field, from an ApiError. */
export function useErrors() {
  const state = reactive<{ form: string; fields: Record<string, string> }>({ form: '', fields: {} })
  function clear(): void {
    state.form = ''
    state.fields = {}
  }
  function take(error: unknown): void {
    clear()
    if (error instanceof ApiError) {
      state.fields = { ...error.fields }
      state.form = error.message
    } else {
      state.form = '操作失败，请稍后重试'
    }
  }
  /** Props for a t-form-item: the API's message next to the field. */
  function field(name: string): { status?: 'error'; tips?: string } {
    const message = state.fields[name]
    return message ? { status: 'error', tips: message } : {}
  }
  return { state, clear, take, field }
}

/** True on a phone-sized screen (the layout switches to cards and a drawer menu). */
export function useMobile() {
  const mobile = ref(false)
  let query: MediaQueryList | null = null
  const update = () => { mobile.value = query?.matches ?? false }
  onMounted(() => {
    query = window.matchMedia('(max-width: 768px)')
    update()
    query.addEventListener('change', update)
  })
  onBeforeUnmount(() => query?.removeEventListener('change', update))
  return mobile
}

/** The "重新发送 (59s)" countdown of an SMS code button. */
export function useCountdown() {
  const left = ref(0)
  let timer: number | undefined
  function start(seconds: number): void {
    left.value = seconds
    window.clearInterval(timer)
    timer = window.setInterval(() => {
      left.value -= 1
      if (left.value <= 0) window.clearInterval(timer)
    }, 1000)
  }
  onBeforeUnmount(() => window.clearInterval(timer))
  return { left, start }
}

/** ``v-numeric`` on a t-input: the inner <input> asks phones for the digit keyboard (a one-time code). */
export const vNumeric = {
  mounted(el: HTMLElement): void {
    const input = el.tagName === 'INPUT' ? el : el.querySelector('input')
    input?.setAttribute('inputmode', 'numeric')
    input?.setAttribute('pattern', '[0-9]*')
  },
}
