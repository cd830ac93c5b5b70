/** The login token, kept in the mini-program's storage (never logged). */

const TOKEN_KEY = 'auth_token';

/** The bearer token, or '' when logged out. */
export function getToken(): string {
  const token = wx.getStorageSync(TOKEN_KEY);
  return typeof token === 'string' ? token : '';
}

/** Keep a new token. */
export function setToken(token: string): void {
  wx.setStorageSync(TOKEN_KEY, token);
}

/** Forget the token (logout, or a login that could not be refreshed). */
export function clearToken(): void {
  wx.removeStorageSync(TOKEN_KEY);
}
