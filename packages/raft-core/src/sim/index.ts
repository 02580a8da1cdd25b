export { type CliIo, EXIT_OK, EXIT_USAGE, EXIT_VIOLATION, main } from "./cli.js";
export { drainMicrotasks } from "./drain-microtasks.js";
export { describeBitFlip, FaultInjector, type FaultInjectorOptions } from "./fault-injector.js";
export {
  describeFault,
  FAULT_KINDS,
  FAULT_PROFILES,
  type Fault,
  type FaultKind,
  type FaultProfile,
  type FaultSchedule,
  FaultScheduleError,
  type GenerateScheduleOptions,
  generateSchedule,
  MEMBERSHIP_FAULT_KINDS,
  parseSchedule,
  scheduleToData,
  scheduleToJson,
  sortSchedule,
  validateSchedule,
} from "./fault-schedule.js";
export {
  MAX_SIM_VOTERS,
  MEMBERSHIP_CALL_TIMEOUT_MS,
  MEMBERSHIP_MAX_TRIES,
  MEMBERSHIP_RETRY_MS,
  MembershipAdmin,
  type MembershipCounts,
  type MembershipRequest,
  MIN_SIM_VOTERS,
} from "./membership-admin.js";
export { NodeClock } from "./node-clock.js";
export { Prng } from "./prng.js";
export { ProgressBar, type ProgressBarOptions } from "./progress-bar.js";
export { parseScenario, type Scenario, scenarioToJson } from "./scenario-file.js";
export {
  clusterNodeIds,
  DEFAULT_SIM_ELECTION_TICKS,
  DEFAULT_SIM_HEARTBEAT_TICKS,
  DEFAULT_SIM_TICK_MS,
  MAX_NODES,
  type MemberView,
  type NodeFailure,
  type NodeHalt,
  SIM_CLUSTER_ID,
  SIM_KV_SNAPSHOT_CHUNK_BYTES,
  SIM_SNAPSHOT_BLOCK_BYTES,
  SimCluster,
  type SimClusterOptions,
} from "./sim-cluster.js";
export type { BitFlip, FlippedRecord, TailRecovery } from "./sim-disk.js";
export {
  DEFAULT_MAX_LATENCY_MS,
  DEFAULT_MIN_LATENCY_MS,
  type NetworkCounters,
  type NetworkDropReason,
  PER_MILLION,
  SimNetwork,
  type SimNetworkOptions,
} from "./sim-network.js";
export { DEFAULT_SIM_SNAPSHOT_BLOCK_BYTES } from "./sim-snapshot-file.js";
export {
  type CrashOptions,
  type CrashOutcome,
  DEFAULT_MAX_SYNC_MS,
  DEFAULT_MIN_SYNC_MS,
  DEFAULT_SIM_STORE_PATH,
  SimStorage,
  type SimStorageOptions,
} from "./sim-storage.js";
export {
  CONVERGENCE_WORKLOAD_MS,
  DEFAULT_FAULT_PROFILE,
  DEFAULT_SIM_NODES,
  DEFAULT_SIM_SNAPSHOT_TRAILING_ENTRIES,
  DEFAULT_SIM_TICKS,
  LEADER_BOUND_ELECTION_TIMEOUTS,
  type LinearizabilitySummary,
  MAX_INSTANTS_AT_ONE_MS,
  type ResolvedSimulationOptions,
  resolveSimulationOptions,
  runSimulation,
  runSimulationDetailed,
  SETTLE_MARGIN_MS,
  type SimulationOptions,
  type SimulationResult,
  type SimulationRun,
  type SimulationViolation,
} from "./simulation.js";
export { Trace } from "./trace.js";
export {
  DEFAULT_MAX_EVENTS_PER_INSTANT,
  type RunOptions,
  VirtualClock,
  type VirtualClockOptions,
} from "./virtual-clock.js";
export {
  classifyError,
  DEFAULT_CLIENT_COUNT,
  DEFAULT_KEY_COUNT,
  DEFAULT_MAX_CLIENTS_PER_KEY,
  DEFAULT_OP_TIMEOUT_MS,
  DEFAULT_RATE_OPS_PER_SECOND,
  type ErrorOutcome,
  SESSION_MAX_ATTEMPTS,
  SESSION_RETRY_DELAY_MS,
  Workload,
  type WorkloadCounts,
  type WorkloadOptions,
} from "./workload.js";
