// The labeling page's calls to the LabelHub API (session cookie + CSRF header).

const csrfToken = () => document.querySelector('meta[name="csrf-token"]')?.content ?? "";

export class ApiError extends Error {
  constructor(status, data) {
    super((data && data.detail) || `The server answered ${status}.`);
    this.status = status;
    this.data = data;
  }
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
