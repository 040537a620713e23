
export * from "./client.ts";
export * from "./pull.ts";
export * from "./lock.ts";
export { httpRequest } from "./http.ts";
export type { HttpResponse, HttpRequest } from "./http.ts";
export { fetchVerified, httpGet, withRetries } from "./fetch.ts";
export * from "./base.ts";
