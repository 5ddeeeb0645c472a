// Shared by every page: the token, and API calls that turn platform errors into readable text.
const TOKEN_KEY = "sandbox-token";

function token() { return localStorage.getItem(TOKEN_KEY); }

function requireLogin() {
  if (!token()) {
    location.replace("/login?next=" + encodeURIComponent(location.pathname));
    return false;
  }
  return true;
}

class ApiFailure extends Error {
  constructor(status, body) {
    const err = (body && body.error) || {};
    const who = err.upstream ? `${err.service} (upstream ${err.upstream})` : (err.service || "unknown service");
    super(`${status} from ${who}: ${err.message || "no message"}`);
    this.status = status;
    this.body = body;
  }
}

async function api(method, path, body) {
  const headers = { "accept": "application/json" };
  if (token()) headers["authorization"] = "Bearer " + token();
  if (body !== undefined) headers["content-type"] = "application/json";
  const response = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await response.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch (e) { data = { error: { message: text.slice(0, 200) } }; }
  if (response.status === 401 && path !== "/api/auth/login") {
    localStorage.removeItem(TOKEN_KEY);
    location.replace("/login?next=" + encodeURIComponent(location.pathname));
  }
  if (!response.ok) throw new ApiFailure(response.status, data);
  return data;
}

function byTestId(id) { return document.querySelector(`[data-testid="${id}"]`); }

function logout() { localStorage.removeItem(TOKEN_KEY); location.assign("/login"); }
