export { type HealthCheck, renderHealth } from "./health.js";
