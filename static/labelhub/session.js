// JSON posts from the reviewer's pages (review, guidelines, taxonomy, conventions, campaigns) with the
// session cookie and CSRF header. Signing out and in again in another tab gives the session a new CSRF
// token: a page opened before then was refused "CSRF Failed" on every post, and the reload that fetched
// the new token lost what had been typed. As on the labeling page (labeling/label.js), a refused token
// makes the page read itself again to learn who is signed in now and with which token, and the post is
// sent again, once, only when the same user is signed in; what the user entered stays on the page.

// Who opened this page (base.html's <body data-user>).
const pageUser = document.body.dataset.user ?? "";
let token = null;
const csrfToken = () => token ?? document.querySelector("input[name=csrfmiddlewaretoken]")?.value ?? "";

/** Who is signed in now ("" for no one) and their CSRF token, read from this page as the server renders it
 * now; null when the server could not say. */
async function sessionNow() {
  try {
    const response = await fetch(location.href, { credentials: "same-origin", headers: { Accept: "text/html" } });
    // (someone else signed in may not see this page: its 403 and 404 pages still say who they are)
    if (!response.ok && response.status !== 403 && response.status !== 404) return null;
    const page = new DOMParser().parseFromString(await response.text(), "text/html");
    const csrf = page.querySelector("input[name=csrfmiddlewaretoken]")?.value;
    return csrf ? { user: page.body.dataset.user ?? "", token: csrf } : null;
  } catch {
    return null;
  }
}

async function post(url, body, method) {
  let response;
  try {
    response = await fetch(url, {
      method,
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", Accept: "application/json", "X-CSRFToken": csrfToken() },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch {
    return { ok: false, status: 0, data: { detail: "The server cannot be reached; check your connection and try again." } };
  }
  const data = await response.json().catch(() => ({}));
  if (!response.ok && !data.detail) {
    data.detail = response.status >= 500 ? `The server failed (${response.status}).` : `The server answered ${response.status}.`;
  }
  return { ok: response.ok, status: response.status, data };
}

const staleToken = ({ status, data }) => status === 403 && /^CSRF Failed/.test(data?.detail ?? "");
const signedOut = (what) => `You are signed out (your session ended, or you signed out in another tab). ${what} `
  + "not saved and stays here: sign in again in another tab, then come back and send it again.";

/** Send ``body`` as JSON; answers ``{ ok, status, data }`` with ``data.detail`` in the user's words when
 * the session is gone or is someone else's. ``what`` names what is kept ("Your decision is"). */
export async function sendJSON(url, body, { method = "POST", what = "What you entered is" } = {}) {
  let answer = await post(url, body, method);
  if (staleToken(answer)) {
    const now = await sessionNow();
    if (!now) {
      answer = { ok: false, status: 0, data: { detail: `The server cannot say who is signed in now. ${what} not `
        + "saved and stays here: try again in a moment." } };
    } else if (!now.user) {
      answer = { ok: false, status: 401, data: { detail: signedOut(what) } };
    } else if (now.user !== pageUser) {
      const detail = `This browser is now signed in as ${now.user} (in another tab), not as ${pageUser}, who opened `
        + `this page. ${what} not saved and stays here: sign in as ${pageUser} again to send it, or reload the page `
        + `to work as ${now.user}.`;
      answer = { ok: false, status: 403, data: { detail } };
    } else {
      token = now.token;
      answer = await post(url, body, method);
    }
  } else if (answer.status === 401) {
    answer.data.detail = signedOut(what);
  }
  return answer;
}
