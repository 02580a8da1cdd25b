export { buildApp, type WebAppOptions } from "./app.js";
export { type HealthCheck, renderHealth } from "./health.js";
export { escapeHtml, html, path, raw, SafeHtml } from "./html.js";
export * from "./lms-api.js";
export { FakeLmsApi, type FakeLmsApiOptions, type FakeTutorSettings } from "./testing/fake-lms-api.js";
