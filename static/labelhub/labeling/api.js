// The labeling page's calls to the LabelHub API (session cookie + CSRF header).

// The page's CSRF token; signing in again (in any tab) replaces it, see setCsrfToken.
let token = null;
const csrfToken = () => token ?? document.querySelector('meta[name="csrf-token"]')?.content ?? "";
export const setCsrfToken = (value) => { token = value; };

export class ApiError extends Error {
  constructor(status, data) {
    super((data && data.detail) || (status >= 500 ? `The server failed (${status}).` : `The server answered ${status}.`));
    this.status = status;
    this.data = data;
  }

  /** No one is signed in any more: the session ended, or its user signed out in another tab. */
  get signedOut() { return this.status === 401; }

  /** The page's CSRF token is not the session's: someone signed in again in another tab. */
  get staleToken() { return this.status === 403 && /^CSRF Failed/.test(this.data?.detail ?? ""); }
}

async function request(method, url, body) {
  const options = { method, headers: { Accept: "application/json" }, credentials: "same-origin" };
  if (body !== undefined) {
    options.headers["Content-Type"] = "application/json";
    options.headers["X-CSRFToken"] = csrfToken();
    options.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(url, options);
  } catch {
    throw new ApiError(0, { detail: "The server cannot be reached; check your connection and try again." });
  }
  if (response.status === 204) return { status: 204, data: null };
  const data = await response.json().catch(() => null);
  if (!response.ok) throw new ApiError(response.status, data);
  return { status: response.status, data };
}

export const getJSON = (url) => request("GET", url);
export const postJSON = (url, body) => request("POST", url, body ?? {});

// URLs are rendered for item 0 by the server; this puts the real id in.
export const forItem = (template, id) => template.replace("/0/", `/${id}/`);
