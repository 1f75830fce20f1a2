// Thin fetch wrapper: the session cookie rides along; the token also goes as a bearer header
// so the console keeps working if a proxy strips cookies.
const BASE = "/api/v1";

// `detail` is kept as sent: a string, a validation list, or an object such as the handover
// acceptance's {"message", "missing_incident_ids"}.
export class ApiError extends Error {
  constructor(status, detail) {
    super(typeof detail === "string" ? detail
      : (detail && typeof detail === "object" && typeof detail.message === "string")
        ? detail.message : JSON.stringify(detail));
    this.status = status;
    this.detail = detail;
  }
}

export async function api(path, { method = "GET", body } = {}) {
  const headers = { Accept: "application/json" };
  const token = sessionStorage.getItem("fireroom.token");
  if (token) headers.Authorization = `Bearer ${token}`;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const response = await fetch(BASE + path, {
    method, headers, credentials: "same-origin",
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  const data = text ? JSON.parse(text) : null;
  if (!response.ok) throw new ApiError(response.status, data?.detail ?? response.statusText);
  return data;
}

// Lists come as {"data": [...]} or as a bare array, depending on the route.
export function rows(data) {
  return Array.isArray(data) ? data : (data?.data ?? []);
}
