// The dashboard's only way to the gateway: the public operator and self-service APIs, key as a bearer.

const STORE = "gateway.dashboard";

export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

/** The signed-in key and its kind ("admin" or "self"), kept for this tab only. */
export const session = {
  load() {
    try {
      const saved = JSON.parse(sessionStorage.getItem(STORE) || "null");
      return saved && typeof saved.key === "string" && ["admin", "self"].includes(saved.kind) ? saved : null;
    } catch {
      return null;
    }
  },
  save(key, kind) {
    sessionStorage.setItem(STORE, JSON.stringify({ key, kind }));
  },
  clear() {
    sessionStorage.removeItem(STORE);
  },
};

function query(params) {
  const search = new URLSearchParams();
  for (const [name, value] of Object.entries(params || {})) {
    if (value !== null && value !== undefined && value !== "") search.set(name, String(value));
  }
  const text = search.toString();
  return text ? `?${text}` : "";
}

function messageOf(body, status) {
  const error = body && body.error;
  if (error && typeof error.message === "string") return error.message;
  if (typeof error === "string") return error;
  return `HTTP ${status}`;
}

/** A client bound to one key. Paths are relative to the page, so a path prefix in front works too. */
export function client(key) {
  const headers = { Authorization: `Bearer ${key}` };

  async function request(path, params, accept = "application/json") {
    let response;
    try {
      response = await fetch(`${path}${query(params)}`, { headers: { ...headers, Accept: accept }, cache: "no-store" });
    } catch {
      throw new ApiError(0, "The gateway could not be reached.");
    }
    if (!response.ok) {
      let body = null;
      try {
        body = await response.json();
      } catch {
        // not JSON: keep the status alone
      }
      throw new ApiError(response.status, messageOf(body, response.status));
    }
    return response;
  }

  return {
    json: async (path, params) => (await request(path, params)).json(),
    blob: async (path, params) => (await request(path, params, "text/csv")).blob(),
  };
}
